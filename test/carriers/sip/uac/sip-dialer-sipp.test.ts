import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { DialRequest, DialUpdate } from '../../../../src/calls/outbound/dialer.js';
import { createSipDialer, type SipDialer } from '../../../../src/carriers/sip/uac/sip-dialer.js';
import { ReferenceAudio } from '../../../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../../../doubles/vllm-realtime-double.js';
import { eventually, freePort, type Gateway, startGateway } from '../../../helpers/gateway.js';
import { demoCall } from '../../../helpers/media.js';
import { scratchFile } from '../../../helpers/sipp.js';
import { type Event, SECRET, schemaValidator, TestReceiver } from '../../../helpers/webhooks.js';
import { type SippUas, startSippUas } from './sipp-uas.js';

/*
 * voxline as a SIP user-agent client placing calls to SIPp (Debian `sip-tester`) as the trunk:
 * answered with speech (transcribed as an inbound SIP call would be), busy, ring timeout,
 * a digest challenge, an explicit cancel, and voxline hanging up. CI sets VOXLINE_REQUIRE_SIPP.
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

/** voxline with SIP, a trunk at SIPp's port, a vLLM double and a webhook receiver; and its dialer. */
async function start(
  scenario: string,
  vars: Record<string, string> = {},
  env: Record<string, string> = {},
): Promise<{ gw: Gateway; dialer: SipDialer; uas: SippUas }> {
  vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
  await vllm.listen();
  receiver = new TestReceiver();
  const port = await freePort();
  gateway = await startGateway({
    VLLM_URL: vllm.url,
    WEBHOOK_URL: await receiver.listen(),
    WEBHOOK_SECRET: SECRET,
    SIP_PORT: '0',
    SIP_BIND: '127.0.0.1',
    SIP_RTP_PORTS: '45000-45998',
    SIP_ALLOW: '10.255.255.1', // not the trunk: requests in a dialog voxline placed are let in anyway
    SIP_TRUNK_URI: `sip:127.0.0.1:${port}`,
    ...env,
  });
  sipp = startSippUas(scenario, { port, mediaPort: await freePort(), vars });
  const dialer = createSipDialer(gateway.app.edges.sip as never, gateway.config.sipTrunk as never);
  return { gw: gateway, dialer, uas: sipp };
}

function dial(overrides: Partial<DialRequest> = {}): DialRequest {
  return {
    id: 'dial_test1',
    to: '+15557654321',
    from: '+15551230000',
    mode: 'transcribe',
    parameters: { campaign: 'spring' },
    ringTimeoutMs: 20_000,
    detectMachine: false,
    ...overrides,
  };
}

/** Places the call and collects its updates; `ended` resolves with the last one. */
async function place(dialer: SipDialer, request: DialRequest) {
  const updates: DialUpdate[] = [];
  let settle: (u: DialUpdate) => void = () => undefined;
  const ended = new Promise<DialUpdate>((resolve) => {
    settle = resolve;
  });
  const placed = await dialer.place(request, (u) => {
    updates.push(u);
    if (u.kind === 'ended') settle(u);
  });
  return { placed, updates, ended };
}

async function eventsUntilEnded(): Promise<Event[]> {
  return eventually(() => {
    expect(receiver?.events.map((e) => e.type)).toContain('call.ended');
    return receiver?.events ?? [];
  }, 10_000);
}

describe.skipIf(!hasSipp)('outbound SIP with SIPp as the trunk', { timeout: 40_000 }, () => {
  it('answered: ringing, answered, the callee’s PCMU speech transcribed, webhooks as for an inbound SIP call; the callee hangs up', async () => {
    const { gw, dialer, uas } = await start('uas-answer-bye.xml', {
      pt: '0',
      codec: 'PCMU',
      audio: scratchFile('callee.ulaw', greeting.caller),
      pauseMs: String(greeting.durationMs + 300),
    });
    const { placed, updates } = await place(dialer, dial());
    expect(placed.carrierCallId).toMatch(/^vx[0-9a-f]+$/);
    const run = await uas.done;
    expect(run.code, run.output).toBe(0);
    expect(updates.map((u) => u.kind)).toEqual(['ringing', 'answered']);
    const answered = updates[1] as Extract<DialUpdate, { kind: 'answered' }>;

    const call = await eventually(async () => {
      const snapshot = await gw.call(answered.callSid);
      expect(snapshot.endReason).toBe('bye');
      return snapshot as unknown as Record<string, unknown> & { rtp: { packetsSent: number }[] };
    }, 10_000);
    expect(call).toMatchObject({
      ingress: 'sip',
      mode: 'transcribe',
      customParameters: {
        voxlineDialId: 'dial_test1',
        campaign: 'spring',
        direction: 'outbound',
        sipCallId: placed.carrierCallId,
        to: expect.stringMatching(/^sip:\+15557654321@127\.0\.0\.1:\d+$/),
        from: 'sip:+15551230000@127.0.0.1',
      },
      participants: [
        { role: 'caller', address: expect.stringMatching(/^sip:\+15557654321@/) },
        { role: 'caller-id', address: 'sip:+15551230000@127.0.0.1' },
      ],
      legs: [{ label: 'caller', codec: 'pcmu', audioSeconds: greeting.durationMs / 1000 }],
      rtp: [{ codec: 'pcmu', lost: 0, refused: {} }],
    });
    expect(call.rtp[0].packetsSent).toBeGreaterThan(100); // silence back to the callee

    const transcript = await eventually(async () => {
      const { body } = await gw.get(`/v1/calls/${answered.callSid}/transcript`);
      expect(body.complete).toBe(true);
      return body as { utterances: { speaker: string; text: string }[] };
    }, 15_000);
    expect(transcript.utterances.map((u) => u.text).join(' ')).toBe('he was not an ill disposed young man');
    expect(new Set(transcript.utterances.map((u) => u.speaker))).toEqual(new Set(['caller']));

    const events = await eventsUntilEnded();
    const validate = schemaValidator();
    for (const event of events) expect(validate(event)).toEqual([]);
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['call.started', 'transcript.final', 'call.ended']),
    );
    expect(events.find((e) => e.type === 'call.started')?.data).toMatchObject({
      ingress: 'sip',
      legs: [{ speaker: 'caller', track: 'inbound' }],
    });
    expect(dialer.inFlight).toBe(0);
  });

  it.each([
    {
      what: 'a greeting that talks on (1.9 s of silence, then a long sentence)',
      audioLeg: 'caller',
      answeredBy: 'machine',
    },
    { what: '"Hello world." and a wait', audioLeg: 'agent', answeredBy: 'human' },
  ] as const)('detectMachine: $what is answered by a $answeredBy', async ({ audioLeg, answeredBy }) => {
    const { dialer, uas } = await start('uas-answer-bye.xml', {
      pt: '0',
      codec: 'PCMU',
      audio: scratchFile(`callee-${audioLeg}.ulaw`, greeting[audioLeg]),
      pauseMs: String(greeting.durationMs + 300),
    });
    const { updates } = await place(dialer, dial({ id: `dial_amd_${audioLeg}`, detectMachine: true }));
    // The verdict comes from the callee's audio, well before SIPp hangs up.
    await eventually(() => expect(updates.map((u) => u.kind)).toEqual(['ringing', 'answered']), 10_000);
    expect(updates[1]).toMatchObject({ kind: 'answered', answeredBy });
    const run = await uas.done;
    expect(run.code, run.output).toBe(0);
  });

  it('voxline hangs up (the callee, answering PCMA, went silent past MEDIA_IDLE_TIMEOUT_MS): BYE to the Contact, with both tags and the route set', async () => {
    const { gw, dialer, uas } = await start('uas-answer-wait-bye.xml', {}, { MEDIA_IDLE_TIMEOUT_MS: '1000' });
    const { updates } = await place(dialer, dial());
    const run = await uas.done;
    expect(run.code, run.output).toBe(0);
    expect(updates.map((u) => u.kind)).toEqual(['answered']);
    const { callSid } = updates[0] as Extract<DialUpdate, { kind: 'answered' }>;
    const call = await eventually(async () => {
      const snapshot = await gw.call(callSid);
      expect(snapshot.endReason).toBe('idle_timeout');
      return snapshot;
    });
    expect(call).toMatchObject({ legs: [{ codec: 'pcma' }] });
  });

  it('busy: 486 is ACKed and the attempt ends busy, with no call opened', async () => {
    const { gw, dialer, uas } = await start('uas-busy.xml');
    const { ended } = await place(dialer, dial());
    expect(await ended).toEqual({ kind: 'ended', outcome: 'busy', detail: '486 Busy Here', status: 486 });
    const run = await uas.done;
    expect(run.code, run.output).toBe(0);
    expect((await gw.get('/v1/calls?state=all')).body.calls).toEqual([]);
  });

  it('no answer: the ring timeout CANCELs (after 180 and a 183 with early media), the 487 is ACKed, the attempt ends no-answer', async () => {
    const { dialer, uas } = await start('uas-ring-cancel.xml');
    const { ended, updates } = await place(dialer, dial({ ringTimeoutMs: 1500 }));
    expect(await ended).toMatchObject({ kind: 'ended', outcome: 'no-answer' });
    expect(updates.map((u) => u.kind)).toEqual(['ringing', 'ended']);
    const run = await uas.done;
    expect(run.code, run.output).toBe(0);
  });

  it('an explicit cancel while ringing: CANCEL, 487 ACKed, the attempt ends canceled', async () => {
    const { dialer, uas } = await start('uas-ring.xml');
    let ringing: () => void = () => undefined;
    const rang = new Promise<void>((resolve) => {
      ringing = resolve;
    });
    let ended: (u: DialUpdate) => void = () => undefined;
    const end = new Promise<DialUpdate>((resolve) => {
      ended = resolve;
    });
    await dialer.place(dial({ id: 'dial_cancel' }), (u) => {
      if (u.kind === 'ringing') ringing();
      if (u.kind === 'ended') ended(u);
    });
    await rang;
    await dialer.cancel('dial_cancel');
    expect(await end).toMatchObject({ kind: 'ended', outcome: 'canceled' });
    const run = await uas.done;
    expect(run.code, run.output).toBe(0);
  });

  it('a 401 digest challenge (MD5, qop=auth): the INVITE is sent again with Authorization and CSeq 2, which SIPp verifies, and answered', async () => {
    const { dialer, uas } = await start(
      'uas-auth-401.xml',
      { user: 'voxline-trunk', password: 's3cret-pass' },
      { SIP_TRUNK_USER: 'voxline-trunk', SIP_TRUNK_PASSWORD: 's3cret-pass' },
    );
    const { updates } = await place(dialer, dial());
    const run = await uas.done;
    expect(run.code, run.output).toBe(0);
    expect(updates).toEqual([{ kind: 'answered', callSid: expect.stringMatching(/^SIP/) }]);
  });

  it('a 407 proxy challenge: the INVITE is sent again with Proxy-Authorization (qop=auth, nc, cnonce) and CSeq 2, and answered', async () => {
    const { dialer, uas } = await start(
      'uas-auth-407.xml',
      { user: 'voxline-trunk' },
      { SIP_TRUNK_USER: 'voxline-trunk', SIP_TRUNK_PASSWORD: 's3cret-pass' },
    );
    const { updates } = await place(dialer, dial());
    const run = await uas.done;
    expect(run.code, run.output).toBe(0);
    expect(updates).toEqual([{ kind: 'answered', callSid: expect.stringMatching(/^SIP/) }]);
  });

  it('a wrong password: SIPp refuses the second INVITE with 403, and the attempt fails with it', async () => {
    const { dialer, uas } = await start(
      'uas-auth-401.xml',
      { user: 'voxline-trunk', password: 'the-right-one' },
      { SIP_TRUNK_USER: 'voxline-trunk', SIP_TRUNK_PASSWORD: 'a-wrong-one' },
    );
    const { ended } = await place(dialer, dial());
    expect(await ended).toMatchObject({ kind: 'ended', outcome: 'failed', status: 403 });
    await uas.done;
  });
});
