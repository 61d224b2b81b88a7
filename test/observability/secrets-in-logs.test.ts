import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { LOG_REDACTION } from '../../src/observability/log-redaction.js';
import { AsteriskAudioSocket } from '../doubles/asterisk-audiosocket.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { playDemo } from '../helpers/media.js';
import { SECRET, TestReceiver } from '../helpers/webhooks.js';

/** A PIN-like sequence that appears nowhere else in a call's log. */
const PIN = ['9', '7', '3', '1'];

let gateway: Gateway | undefined;
let receiver: TestReceiver | undefined;
afterEach(async () => {
  await gateway?.close();
  await receiver?.close();
  gateway = receiver = undefined;
});

/** Digits must not reach the log in any form: not as a `digit` field, not echoed in a detail. */
function expectNoDigitsLogged(logs: readonly Record<string, unknown>[]): void {
  const text = JSON.stringify(logs);
  expect(text).not.toContain(PIN.join(''));
  expect(text).not.toContain('"digit"');
  // What is logged instead: how many so far, never which.
  const dtmfLines = logs.filter((line) => line.msg === 'dtmf');
  expect(dtmfLines.map((line) => line.dtmf)).toEqual([1, 2, 3, 4]);
  expect(dtmfLines.every((line) => line.level === 20)).toBe(true);
}

describe('DTMF digits stay out of the logs', () => {
  it('Twilio media stream: recorded on the call and sent to webhooks, never logged', async () => {
    receiver = new TestReceiver();
    gateway = await startGateway({ WEBHOOK_URL: await receiver.listen(), WEBHOOK_SECRET: SECRET });
    const { callSid } = await playDemo(gateway, 'greeting', {
      dtmf: PIN.map((digit, i) => ({ digit, atMs: 1000 + i * 500 })),
    });

    const details = await gateway.call(callSid);
    expect(details.dtmf.map((d) => d.digit)).toEqual(PIN);
    const events = await eventually(() => {
      const dtmf = receiver?.events.filter((e) => e.type === 'dtmf') ?? [];
      expect(dtmf).toHaveLength(PIN.length);
      return dtmf;
    }, 10_000);
    expect(events.map((e) => (e.data as { digit: string }).digit)).toEqual(PIN);
    expectNoDigitsLogged(gateway.logs);
  });

  it('AudioSocket: recorded on the call, never logged, and a bad DTMF payload is not echoed', async () => {
    gateway = await startGateway({ AUDIOSOCKET_PORT: '0', AUDIOSOCKET_BIND: '127.0.0.1' });
    const asterisk = await AsteriskAudioSocket.connect(gateway.edgePorts.audioSocket as number);
    asterisk.sendUuid();
    for (const digit of PIN) {
      await asterisk.sendAudio(new Int16Array(1600));
      asterisk.sendDtmf(digit);
    }
    asterisk.sendDtmf(PIN.join('')); // not one key: a malformed frame
    await asterisk.sendAudio(new Int16Array(1600));
    await asterisk.hangUp();

    const gw = gateway;
    const details = await eventually(async () => {
      const snapshot = await gw.call(asterisk.uuid);
      expect(snapshot.state).toBe('ended');
      return snapshot;
    });
    expect(details.dtmf).toEqual(PIN.map((digit, i) => ({ digit, atMs: (i + 1) * 200 })));
    expect(details.malformedMessages.byReason).toEqual({ bad_dtmf: 1 });
    expectNoDigitsLogged(gateway.logs);
  });
});

describe('log redaction (LOG_REDACTION)', () => {
  function capture() {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    return { log: pino({ redact: LOG_REDACTION }, sink), lines };
  }

  it('blanks credentials in request headers, secret-named fields and client errors', () => {
    const { log, lines } = capture();
    log.info(
      {
        req: {
          method: 'POST',
          headers: {
            authorization: 'Bearer admin-secret',
            'x-twilio-signature': 'c2lnbmF0dXJl',
            cookie: 'session=abc',
            host: 'voxline.example.com',
          },
        },
        token: 'top-level-token',
        options: { apiKey: 'sk-nested', password: 'hunter2', model: 'voxtral' },
      },
      'request',
    );
    const err = Object.assign(new Error('request failed'), {
      config: {
        headers: { Authorization: 'Basic QUM6dG9rZW4=' },
        auth: { username: 'AC1', password: 'tok' },
      },
    });
    log.error({ err }, 'Twilio REST failed');

    const [request, failure] = lines;
    expect(request).toMatchObject({
      req: {
        method: 'POST',
        headers: {
          authorization: '[Redacted]',
          'x-twilio-signature': '[Redacted]',
          cookie: '[Redacted]',
          host: 'voxline.example.com',
        },
      },
      token: '[Redacted]',
      options: { apiKey: '[Redacted]', password: '[Redacted]', model: 'voxtral' },
    });
    expect(failure).toMatchObject({
      err: {
        message: 'request failed',
        config: { headers: { Authorization: '[Redacted]' }, auth: '[Redacted]' },
      },
    });
    const text = JSON.stringify(lines);
    for (const secret of [
      'admin-secret',
      'c2lnbmF0dXJl',
      'session=abc',
      'sk-nested',
      'hunter2',
      'QUM6',
      'tok"',
    ]) {
      expect(text).not.toContain(secret);
    }
  });

  it('blanks every secret in a config dump', () => {
    const secrets = {
      ADMIN_TOKEN: 'admin-token-aaaaaaaaaaaa',
      TWILIO_AUTH_TOKEN: 'twilio-token-bbbbbbbbbbbb',
      TWILIO_ACCOUNT_SID: 'ACcccccccccccccccccccccccccccccccc',
      VLLM_API_KEY: 'vllm-key-dddddddddddd',
      MISTRAL_API_KEY: 'mistral-key-eeeeeeeeeeee',
      LLM_API_KEY: 'llm-key-ffffffffffff',
      TTS_API_KEY: 'tts-key-gggggggggggg',
      WEBHOOK_SECRET: SECRET,
      AGENT_WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 3).toString('base64')}`,
    };
    const tools = join(mkdtempSync(join(tmpdir(), 'voxline-test-')), 'tools.json');
    writeFileSync(
      tools,
      JSON.stringify({
        tools: [
          {
            name: 'lookup',
            description: 'looks up an order',
            url: 'https://crm.example.com/lookup',
            headers: { Authorization: 'Bearer crm-token-hhhhhhhhhhhh' },
          },
        ],
      }),
    );
    const config = loadConfig({
      ...secrets,
      AGENT_TOOLS_FILE: tools,
      ASR_ENGINE: 'none',
      WEBHOOK_URL: 'https://hooks.example.com/voxline',
      AGENT_WEBHOOK_URL: 'https://agent.example.com/turn',
      TTS_ENGINE: 'openai',
    });
    const { log, lines } = capture();
    log.info({ config }, 'configuration');
    const text = JSON.stringify(lines);
    expect(text).toContain('https://hooks.example.com/voxline'); // the dump itself is there
    expect(text).toContain('https://crm.example.com/lookup');
    expect(text).not.toContain('crm-token-hhhhhhhhhhhh');
    for (const [name, value] of Object.entries(secrets)) {
      if (name === 'TWILIO_ACCOUNT_SID') continue; // an identifier, not a credential
      expect(text, name).not.toContain(value);
    }
  });

  it('blanks the carriers’ secrets and the SIP passwords in a config dump', () => {
    const secrets = {
      TELNYX_STREAM_SECRET: 'telnyx-stream-iiiiiiiiiiiiiiiiiiiiiiiiiiii',
      TELNYX_API_KEY: 'KEY-telnyx-jjjjjjjjjjjj',
      PLIVO_AUTH_TOKEN: 'plivo-token-kkkkkkkkkkkk',
      VONAGE_SIGNATURE_SECRET: 'vonage-secret-llllllllllllllllllllllllll',
      FREESWITCH_STREAM_SECRET: 'freeswitch-secret-mmmmmmmmmmmmmmmmmmmmmmmm',
      ASTERISK_WS_SECRET: 'asterisk-secret-nnnnnnnnnnnnnnnnnnnnnnnnnn',
      SIGNALWIRE_SIGNING_KEY: 'PSK_signalwire-key-qqqqqqqqqqqqqqqqqqqq',
      SIGNALWIRE_STREAM_TOKEN: 'signalwire-token-rrrrrrrrrrrrrrrrrrrr',
      JAMBONZ_STREAM_SECRET: 'jambonz-secret-ssssssssssssssssssssssss',
      EXOTEL_STREAM_SECRET: 'exotel-secret-tttttttttttttttttttttttt',
      SIP_AUTH_PASSWORD: 'sip-password-oooooooooooo',
      SIP_TRUNK_PASSWORD: 'trunk-password-pppppppppppp',
    };
    const config = loadConfig({
      ...secrets,
      ASR_ENGINE: 'none',
      PUBLIC_URL: 'https://voxline.example.com',
      TELNYX_PUBLIC_KEY: Buffer.alloc(32, 7).toString('base64'),
      TELNYX_CONNECTION_ID: '1234567890',
      PLIVO_AUTH_ID: 'MAXXXXXXXXXXXXXXXXXX',
      VONAGE_APPLICATION_ID: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
      SIP_PORT: '0',
      SIP_AUTH_USER: 'voxline',
      SIP_TRUNK_URI: 'sip:trunk.example.com',
      SIP_TRUNK_USER: 'account',
    });
    // Each part is configured (so its secret is in the dump to blank).
    expect([
      config.telnyx,
      config.plivo,
      config.vonage,
      config.freeswitch,
      config.asteriskWs,
      config.signalwire,
      config.jambonz,
      config.exotel,
    ]).not.toContain(undefined);
    expect(config.sip?.auth?.password).toBe(secrets.SIP_AUTH_PASSWORD);
    expect(config.sipTrunk?.credentials?.password).toBe(secrets.SIP_TRUNK_PASSWORD);
    expect(config.outbound.telnyx?.apiKey).toBe(secrets.TELNYX_API_KEY);
    const { log, lines } = capture();
    log.info({ config }, 'configuration');
    const text = JSON.stringify(lines);
    expect(text).toContain('trunk.example.com'); // the dump itself is there
    for (const [name, value] of Object.entries(secrets)) expect(text, name).not.toContain(value);
  });
});
