import { describe, expect, it } from 'vitest';
import {
  authorization,
  digestResponse,
  pickChallenge,
} from '../../../../src/carriers/sip/uac/digest-client.js';
import { sipTrunkConfigFrom } from '../../../../src/carriers/sip/uac/trunk-config.js';

describe('digest client (RFC 2617, RFC 7616)', () => {
  it('computes RFC 2617 §3.5’s example response (Mufasa, qop=auth)', () => {
    expect(
      digestResponse({
        algorithm: 'MD5',
        username: 'Mufasa',
        password: 'Circle Of Life',
        realm: 'testrealm@host.com',
        nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
        method: 'GET',
        uri: '/dir/index.html',
        qop: 'auth',
        nc: '00000001',
        cnonce: '0a4f113b',
      }),
    ).toBe('6629fae49393a05397450978507c4ef1');
  });

  it('computes RFC 7616 §3.9.1’s SHA-256 example response', () => {
    expect(
      digestResponse({
        algorithm: 'SHA-256',
        username: 'Mufasa',
        password: 'Circle of Life',
        realm: 'http-auth@example.org',
        nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
        method: 'GET',
        uri: '/dir/index.html',
        qop: 'auth',
        nc: '00000001',
        cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
      }),
    ).toBe('753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  });

  it('reads the challenge it can answer and writes the Authorization value for it', () => {
    const challenge = pickChallenge([
      'Digest realm="a", nonce="n1", algorithm=SHA-512-256, qop="auth"',
      'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    ]);
    expect(challenge).toMatchObject({ realm: 'testrealm@host.com', algorithm: 'MD5', qop: 'auth' });
    if (typeof challenge === 'string') throw new Error(challenge);
    expect(
      authorization(
        challenge,
        { username: 'Mufasa', password: 'Circle Of Life' },
        'GET',
        '/dir/index.html',
        1,
        '0a4f113b',
      ),
    ).toBe(
      'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f113b", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    );
  });

  it('says why when no challenge can be answered', () => {
    expect(pickChallenge(['Basic realm="x"'])).toBe('no Digest challenge');
    expect(pickChallenge(['Digest realm="x", nonce="y", qop="auth-int"'])).toBe(
      'the trunk asks for qop=auth-int only',
    );
    expect(pickChallenge(['Digest realm="x"'])).toBe('a Digest challenge without realm or nonce');
    expect(pickChallenge(['Digest realm="x", nonce="y"'])).toMatchObject({
      qop: undefined,
      algorithm: 'MD5',
    });
  });
});

describe('SIP trunk config', () => {
  const base = { SIP_PORT: 5060, SIP_TRUNK_MAX_DIALS: 50 };

  it('reads the trunk, the proxy and the From domain', () => {
    const part = sipTrunkConfigFrom({
      ...base,
      SIP_TRUNK_URI: 'sip:trunk.example.com:5070',
      SIP_TRUNK_OUTBOUND_PROXY: '10.0.0.2:5062',
      SIP_TRUNK_USER: 'acct',
      SIP_TRUNK_PASSWORD: 'pw',
    });
    expect(part.problems).toEqual([]);
    expect(part.value).toEqual({
      trunk: { host: 'trunk.example.com', port: 5070, transport: 'UDP' },
      uriHostPort: 'trunk.example.com:5070',
      credentials: { username: 'acct', password: 'pw' },
      outboundProxy: { host: '10.0.0.2', port: 5062, transport: 'UDP' },
      fromDomain: 'trunk.example.com',
      maxDials: 50,
      transport: 'UDP',
    });
    // TCP from the next hop's URI: the proxy's when there is one.
    expect(
      sipTrunkConfigFrom({ ...base, SIP_TRUNK_URI: 'sip:t.example;transport=TCP' }).value?.transport,
    ).toBe('TCP');
    expect(
      sipTrunkConfigFrom({
        ...base,
        SIP_TRUNK_URI: 'sip:t.example;transport=tcp',
        SIP_TRUNK_OUTBOUND_PROXY: '10.0.0.2',
      }).value?.transport,
    ).toBe('UDP');
  });

  it('refuses what it cannot do, naming the setting', () => {
    const problems = (env: Record<string, string>) =>
      sipTrunkConfigFrom({ ...base, SIP_TRUNK_URI: 'sip:t.example', ...env }).problems;
    expect(problems({ SIP_TRUNK_URI: 'sip:t.example;transport=sctp' })).toEqual([
      'SIP_TRUNK_URI: outbound SIP goes over UDP or TCP (got transport=sctp)',
    ]);
    expect(problems({ SIP_TRUNK_URI: 'sips:t.example' })[0]).toMatch(/TLS/);
    expect(problems({ SIP_TRUNK_URI: 'http://t.example' })[0]).toMatch(/^SIP_TRUNK_URI: a sip: URI/);
    expect(problems({ SIP_TRUNK_USER: 'u' })).toEqual([
      'SIP_TRUNK_USER and SIP_TRUNK_PASSWORD: set both, or neither',
    ]);
    expect(sipTrunkConfigFrom({ SIP_TRUNK_MAX_DIALS: 1, SIP_TRUNK_URI: 'sip:t.example' }).problems).toEqual([
      'SIP_TRUNK_URI: outbound SIP calls leave from SIP_PORT, which is not set',
    ]);
  });
});
