import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { telnyxCallSid } from '../../../src/carriers/telnyx/call-id.js';
import { l16BigEndianToPcm, parseTelnyxMessage } from '../../../src/carriers/telnyx/codec.js';
import { readFormat } from '../../../src/carriers/telnyx/media-session.js';
import { SequenceReorder } from '../../../src/carriers/telnyx/sequence-reorder.js';
import { checkTelnyxSignature, telnyxPublicKey } from '../../../src/carriers/telnyx/signature.js';
import { checkStreamToken, mintStreamToken } from '../../../src/carriers/telnyx/stream-token.js';
import { telnyxConfigFrom } from '../../../src/carriers/telnyx/telnyx-config.js';
import { buildTexml } from '../../../src/carriers/telnyx/texml.js';
import { signTelnyx, telnyxKeys } from '../../doubles/telnyx-client.js';

describe('SequenceReorder', () => {
  function run(window: number, arrivals: number[]) {
    const out: number[] = [];
    const reorder = new SequenceReorder<number>(window, (n) => out.push(n));
    for (const n of arrivals) reorder.push(n, n);
    return { out, reorder };
  }

  it('puts overtaken messages back; repeats and late arrivals are dropped and told apart', () => {
    const { out, reorder } = run(3, [1, 3, 2, 4, 4, 2, 5]);
    expect(out).toEqual([1, 2, 3, 4, 5]);
    expect(reorder.stats).toEqual({ reordered: 1, late: 0, duplicates: 2, missing: 0 });
  });

  it('gives a missing number up once more than `window` messages wait behind it; what comes after is late', () => {
    const { out, reorder } = run(2, [1, 3, 4, 5, 2, 6]);
    expect(out).toEqual([1, 3, 4, 5, 6]);
    expect(reorder.stats).toEqual({ reordered: 0, late: 1, duplicates: 0, missing: 1 });
  });

  it('window 0 waits for nothing; flush releases what is held in order', () => {
    expect(run(0, [1, 3, 2]).out).toEqual([1, 3]);
    const { out, reorder } = run(5, [1, 4, 3]);
    expect(out).toEqual([1]);
    reorder.flush();
    expect(out).toEqual([1, 3, 4]);
    expect(reorder.stats.missing).toBe(1);
  });

  it('for any arrivals: delivers in increasing order, each at most once, and holds at most window between pushes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 8 }),
        fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 200 }),
        (window, arrivals) => {
          const out: number[] = [];
          const reorder = new SequenceReorder<number>(window, (n) => out.push(n));
          for (const n of arrivals) {
            reorder.push(n, n);
            expect(reorder.held).toBeLessThanOrEqual(window);
          }
          reorder.flush();
          for (let i = 1; i < out.length; i++) expect(out[i]).toBeGreaterThan(out[i - 1] as number);
          expect(new Set(out).size).toBe(out.length);
          const { late, duplicates } = reorder.stats;
          expect(out.length + late + duplicates).toBe(arrivals.length);
        },
      ),
    );
  });
});

describe('Telnyx webhook signature (Ed25519 over timestamp|body)', () => {
  const keys = telnyxKeys();
  const key = telnyxPublicKey(keys.publicKeyBase64);
  const body = Buffer.from('CallSid=v3%3Aabc&From=%2B1312');
  const now = 1_760_000_000_000;
  const ts = String(now / 1000);

  it('accepts Telnyx’s signature within the tolerance, either side of now', () => {
    const signature = signTelnyx(keys.privateKey, ts, body.toString());
    expect(checkTelnyxSignature(key, { signature, timestamp: ts, body }, now, 300)).toBeUndefined();
    expect(checkTelnyxSignature(key, { signature, timestamp: ts, body }, now + 299_000, 300)).toBeUndefined();
    expect(checkTelnyxSignature(key, { signature, timestamp: ts, body }, now - 299_000, 300)).toBeUndefined();
    expect(checkTelnyxSignature(key, { signature, timestamp: ts, body }, now + 301_000, 300)).toBe(
      'stale_timestamp',
    );
  });

  it('refuses another key, another body, another timestamp, and malformed headers', () => {
    const signature = signTelnyx(keys.privateKey, ts, body.toString());
    const other = telnyxPublicKey(telnyxKeys().publicKeyBase64);
    expect(checkTelnyxSignature(other, { signature, timestamp: ts, body }, now, 300)).toBe('bad_signature');
    expect(checkTelnyxSignature(key, { signature, timestamp: ts, body: Buffer.from('x') }, now, 300)).toBe(
      'bad_signature',
    );
    const ts2 = String(now / 1000 + 1);
    expect(checkTelnyxSignature(key, { signature, timestamp: ts2, body }, now, 300)).toBe('bad_signature');
    expect(checkTelnyxSignature(key, { signature: undefined, timestamp: ts, body }, now, 300)).toBe(
      'missing_headers',
    );
    expect(checkTelnyxSignature(key, { signature, timestamp: '1e9', body }, now, 300)).toBe('bad_timestamp');
    expect(checkTelnyxSignature(key, { signature: 'AAAA', timestamp: ts, body }, now, 300)).toBe(
      'bad_signature',
    );
  });

  it('takes only a 32-byte key', () => {
    expect(() => telnyxPublicKey(Buffer.alloc(31).toString('base64'))).toThrow(/32 bytes/);
  });
});

describe('stream tokens', () => {
  const secret = 'a-stream-secret-0123456789abcdefghij';

  it('name the call they were minted for until they expire', () => {
    const token = mintStreamToken(secret, 'v3:T02llQxIyaRk', 1000);
    expect(checkStreamToken(secret, token, 999)).toEqual({ callSid: 'v3:T02llQxIyaRk' });
    expect(checkStreamToken(secret, token, 1001)).toEqual({ failure: 'expired' });
  });

  it('refuse another secret, a changed call or expiry, and junk', () => {
    const token = mintStreamToken(secret, 'v3:abc', 1000);
    const [expiry, call, mac] = token.split('.') as [string, string, string];
    expect(checkStreamToken('another-secret-0123456789abcdefghijk', token, 0)).toEqual({
      failure: 'bad_mac',
    });
    const otherCall = Buffer.from('v3:abd').toString('base64url');
    expect(checkStreamToken(secret, `${expiry}.${otherCall}.${mac}`, 0)).toEqual({ failure: 'bad_mac' });
    expect(checkStreamToken(secret, `9999.${call}.${mac}`, 0)).toEqual({ failure: 'bad_mac' });
    expect(checkStreamToken(secret, undefined, 0)).toEqual({ failure: 'missing' });
    expect(checkStreamToken(secret, 'x'.repeat(600), 0)).toEqual({ failure: 'malformed' });
    expect(checkStreamToken(secret, '1.2', 0)).toEqual({ failure: 'malformed' });
  });
});

describe('frames and formats', () => {
  it('reads L16 in network byte order', () => {
    expect(Array.from(l16BigEndianToPcm(Uint8Array.from([0x12, 0x34, 0xff, 0xfe])) ?? [])).toEqual([
      0x1234, -2,
    ]);
    expect(l16BigEndianToPcm(Uint8Array.from([1, 2, 3]))).toBeUndefined();
  });

  it('takes both spellings of the track, and numbers as strings or integers', () => {
    const media = (track: string, sequence: unknown) =>
      parseTelnyxMessage(
        JSON.stringify({
          event: 'media',
          sequence_number: sequence,
          stream_id: 's',
          media: { track, payload: '//8=' },
        }),
      );
    expect(media('inbound_track', '4')).toMatchObject({ event: 'media', track: 'inbound', sequence: 4 });
    expect(media('outbound', 5)).toMatchObject({ event: 'media', track: 'outbound', sequence: 5 });
    expect(media('both', '4')).toMatchObject({ event: 'malformed', reason: 'invalid_message' });
    expect(
      parseTelnyxMessage('{"event":"error","payload":{"code":100003,"title":"malformed frame"}}'),
    ).toEqual({
      event: 'error',
      sequence: undefined,
      detail: { 'payload.code': '100003', 'payload.title': 'malformed frame' },
    });
  });

  it('refuses what it cannot decode exactly, with the format named', () => {
    expect(readFormat({ encoding: 'PCMU', sample_rate: 8000, channels: 1 })).toEqual({
      codec: 'pcmu',
      sampleRate: 8000,
    });
    expect(readFormat({ encoding: 'l16', sample_rate: 24000, channels: 1 })).toEqual({
      codec: 'l16',
      sampleRate: 24000,
    });
    expect(readFormat({ encoding: 'G722', sample_rate: 16000, channels: 1 })).toEqual({
      codec: 'g722',
      sampleRate: 16000,
    });
    expect(readFormat({ encoding: 'G722', sample_rate: 48000, channels: 1 })).toMatch(
      /^unsupported media format G722\/48000\/1/,
    );
    expect(readFormat({ encoding: 'PCMU', sample_rate: 8000, channels: 2 })).toMatch(/unsupported/);
  });

  it('maps call_control_id to a plain call id', () => {
    expect(telnyxCallSid('v3:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ')).toBe(
      'v3_T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ',
    );
    expect(telnyxCallSid('v3:'.padEnd(100, 'x'))).toMatch(/^tx_[A-Za-z0-9_-]{43}$/);
  });
});

describe('TeXML and config', () => {
  it('escapes what the caller controls', () => {
    const texml = buildTexml({
      mode: 'transcribe',
      streamUrl: 'wss://voxline.example/telnyx/media?token=1.a.b',
      statusCallbackUrl: 'https://voxline.example/telnyx/status',
      codec: 'PCMU',
      parameters: { from: '"/><Hangup/>\u0001&' },
    });
    expect(texml).toContain('<Parameter name="from" value="&#34;/&#62;&#60;Hangup/&#62;&#38;"/>');
    expect(texml).not.toContain('<Hangup');
  });

  it('is off without a public key; warns when the stream secret is per process', () => {
    expect(telnyxConfigFrom({}).value).toBeUndefined();
    const part = telnyxConfigFrom({
      TELNYX_PUBLIC_KEY: Buffer.alloc(32).toString('base64'),
      CALL_MODE: 'agent',
    });
    expect(part.value).toMatchObject({ mode: 'agent', codec: 'PCMU', streamTokenTtlS: 120 });
    expect(part.value?.streamSecret.length).toBeGreaterThanOrEqual(32);
    expect(part.warnings.join()).toMatch(/TELNYX_STREAM_SECRET is not set/);
    const both = telnyxConfigFrom({
      TELNYX_PUBLIC_KEY: Buffer.alloc(32).toString('base64'),
      TELNYX_DIAL: '+13125550100',
      TELNYX_CONTINUE_URL: 'https://example.com/next',
    });
    expect(both.problems).toEqual(['TELNYX_DIAL and TELNYX_CONTINUE_URL: set one or the other, not both']);
  });
});
