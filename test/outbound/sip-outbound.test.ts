import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { type SippUas, startSippUas } from '../carriers/sip/uac/sipp-uas.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, freePort, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall } from '../helpers/media.js';
import { scratchFile } from '../helpers/sipp.js';
import { type Event, SECRET, schemaValidator, TestReceiver } from '../helpers/webhooks.js';

/*
 * POST /v1/calls with carrier "sip": the app's own SIP dialer (SIP_TRUNK_URI) places the call to
 * SIPp as the trunk, and the answered call is an ordinary transcribed call with its call.dialed.
 * The dialer's SIP behaviour in detail is test/carriers/sip/uac/sip-dialer-sipp.test.ts.
 */
const hasSipp = (() => {
  try {
    execFileSync('sipp', ['-v'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return (err as { status?: number }).status !== undefined; // sipp -v exits non-zero but runs
  }
})();
if (!hasSipp && process.env.VOXLINE_REQUIRE_SIPP)
  throw new Error('sipp is not installed (apt-get install sip-tester)');

const ADMIN = 'outbound-admin-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
const greeting = demoCall('greeting');
let gateway: Gateway | undefined;
let vllm: VllmRealtimeDouble | undefined;
let receiver: TestReceiver | undefined;
let sipp: SippUas | undefined;

afterEach(async () => {
  sipp?.stop();
  await gateway?.close();
  await vllm?.close();
  await receiver?.close();
  gateway = vllm = receiver = sipp = undefined;
});

describe.skipIf(!hasSipp)('an outbound SIP call through POST /v1/calls', { timeout: 40_000 }, () => {
  it('is placed on the configured trunk, announced as call.dialed answered, and transcribed', async () => {
    vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
    await vllm.listen();
    receiver = new TestReceiver();
    const trunkPort = await freePort();
    gateway = await startGateway({
      VLLM_URL: vllm.url,
      WEBHOOK_URL: await receiver.listen(),
      WEBHOOK_SECRET: SECRET,
      ADMIN_TOKEN: ADMIN,
      SIP_PORT: '0',
      SIP_BIND: '127.0.0.1',
      SIP_RTP_PORTS: '46000-46998',
      SIP_TRUNK_URI: `sip:127.0.0.1:${trunkPort}`,
    });
    const gw = gateway;
    sipp = startSippUas('uas-answer-bye.xml', {
      port: trunkPort,
      mediaPort: await freePort(),
      vars: {
        pt: '0',
        codec: 'PCMU',
        audio: scratchFile('callee.ulaw', greeting.caller),
        pauseMs: String(greeting.durationMs + 300),
      },
    });

    const response = await fetch(`${gw.baseUrl}/v1/calls`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({
        to: '+15557654321',
        from: '+15551230000',
        mode: 'transcribe',
        carrier: 'sip',
        parameters: { campaign: 'spring' },
      }),
    });
    expect(response.status).toBe(202);
    const placed = (await response.json()) as { id: string; carrierCallId: string };
    expect(placed.id).toMatch(/^dial_/);
    const run = await sipp.done;
    expect(run.code, run.output).toBe(0);

    const dialed = await eventually(() => {
      const event = receiver?.events.find((e) => e.type === 'call.dialed');
      expect(event).toBeDefined();
      return event as Event;
    }, 10_000);
    expect(dialed.data).toMatchObject({ dialId: placed.id, carrier: 'sip', outcome: 'answered' });
    const callSid = dialed.data.callSid as string;
    const transcript = await eventually(async () => {
      const { body } = await gw.get(`/v1/calls/${callSid}/transcript`, AUTH);
      expect(body.complete).toBe(true);
      return body as { utterances: { speaker: string; text: string }[] };
    }, 15_000);
    expect(transcript.utterances.map((u) => u.text).join(' ')).toBe('he was not an ill disposed young man');
    const { body: call } = await gw.get(`/v1/calls/${callSid}`, AUTH);
    expect(call).toMatchObject({
      ingress: 'sip',
      customParameters: { voxlineDialId: placed.id, direction: 'outbound', campaign: 'spring' },
    });
    const events = await eventually(() => {
      expect(receiver?.events.map((e) => e.type)).toContain('call.ended');
      return receiver?.events ?? [];
    }, 10_000);
    const validate = schemaValidator();
    for (const event of events) expect(validate(event)).toEqual([]);
  });
});
