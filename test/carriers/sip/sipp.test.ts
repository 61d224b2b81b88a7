import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { alawToPcm, mulawToPcm, pcmToAlaw } from '../../../src/audio/g711.js';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { ReferenceAudio } from '../../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../../doubles/vllm-realtime-double.js';
import { eventually, freePort, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall } from '../../helpers/media.js';
import { runSipp, SIPP_PCAPS, scratchFile } from '../../helpers/sipp.js';
import { type Event, SECRET, schemaValidator, TestReceiver } from '../../helpers/webhooks.js';

/*
 * SIPp (Debian `sip-tester`) as the far end: a trunk or PBX placing calls, and an SBC recording
 * calls with SIPREC. .ci/run installs it and sets VOXLINE_REQUIRE_SIPP, so CI cannot skip these.
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
if (!hasSipp)
  process.stderr.write('SIPp tests skipped: sipp is not installed (apt-get install sip-tester)\n');

const greeting = demoCall('greeting');
const RTP_SEND = `node ${fileURLToPath(new URL('../../doubles/rtp-send.mjs', import.meta.url))}`;
let gateway: Gateway | undefined;
let vllm: VllmRealtimeDouble | undefined;
let receiver: TestReceiver | undefined;

afterEach(async () => {
  await gateway?.close();
  await vllm?.close();
  await receiver?.close();
  gateway = vllm = receiver = undefined;
});

/** voxline with SIP on a free port, a vLLM double that knows the demo calls, and a webhook receiver. */
async function start(env: Record<string, string> = {}): Promise<{ gw: Gateway; port: number }> {
  vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
  await vllm.listen();
  receiver = new TestReceiver();
  gateway = await startGateway({
    VLLM_URL: vllm.url,
    WEBHOOK_URL: await receiver.listen(),
    WEBHOOK_SECRET: SECRET,
    SIP_PORT: '0',
    SIP_BIND: '127.0.0.1',
    SIP_RTP_PORTS: '41000-41998',
    ...env,
  });
  return { gw: gateway, port: gateway.edgePorts.sip as number };
}

async function onlyCall(gw: Gateway) {
  const { calls } = (await gw.get('/v1/calls?state=all')).body;
  expect(calls).toHaveLength(1);
  return calls[0];
}

async function finishedTranscript(gw: Gateway, callSid: string) {
  return eventually(async () => {
    const { body } = await gw.get(`/v1/calls/${callSid}/transcript`);
    expect(body.complete).toBe(true);
    return body as { utterances: { speaker: string; text: string }[] };
  }, 15_000);
}

const said = (utterances: { speaker: string; text: string }[], speaker: string) =>
  utterances
    .filter((u) => u.speaker === speaker)
    .map((u) => u.text)
    .join(' ');

async function eventsUntilEnded(): Promise<Event[]> {
  return eventually(() => {
    expect(receiver?.events.map((e) => e.type)).toContain('call.ended');
    return receiver?.events ?? [];
  }, 10_000);
}

describe.skipIf(!hasSipp)('SIP with SIPp as the far end', { timeout: 30_000 }, () => {
  it('a PCMU call: speech and a key press give the transcript and webhooks a Twilio call gives; hold and resume; the caller hangs up', async () => {
    const { gw, port } = await start();
    const run = await runSipp('uac-call.xml', port, {
      localPort: await freePort(),
      mediaPort: await freePort(),
      pauseMs: greeting.durationMs,
      vars: {
        codecs: '0 8',
        audio: scratchFile('caller.ulaw', greeting.caller),
        pt: '0',
        dtmf: `${SIPP_PCAPS}/dtmf_2833_1.pcap`,
      },
    });
    expect(run.code, run.output).toBe(0);

    const call = await onlyCall(gw);
    expect(call).toMatchObject({
      ingress: 'sip',
      mode: 'transcribe',
      endReason: 'bye',
      participants: [
        {
          role: 'caller',
          name: 'SIPp Caller',
          address: expect.stringMatching(/^sip:\+15551230000@127\.0\.0\.1/),
        },
        { role: 'dialled', address: expect.stringMatching(/^sip:voxline@/) },
      ],
      customParameters: { user: 'voxline' },
      legs: [{ label: 'caller', codec: 'pcmu', audioSeconds: greeting.durationMs / 1000, gapFilledMs: 0 }],
      dtmf: [{ digit: '1' }],
      status: [{ event: 'hold' }, { event: 'resume' }],
      rtp: [{ codec: 'pcmu', lost: 0, dtmfEvents: 1, refused: {} }],
    });
    expect(call.rtp[0].packetsSent).toBeGreaterThan(200); // symmetric RTP: silence back to the caller
    // The audio arrived bit-exact: the core saw exactly what the μ-law file decodes to.
    expect(gw.tap.pcm(call.callSid, 'caller')).toEqual(new Upsampler8to16().pushMulaw(greeting.caller));

    const transcript = await finishedTranscript(gw, call.callSid);
    expect(said(transcript.utterances, 'caller')).toBe('he was not an ill disposed young man');

    const events = await eventsUntilEnded();
    const validate = schemaValidator();
    for (const event of events) expect(validate(event)).toEqual([]);
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['call.started', 'dtmf', 'transcript.final', 'call.ended']),
    );
    expect(events.find((e) => e.type === 'call.started')?.data).toMatchObject({
      ingress: 'sip',
      legs: [{ speaker: 'caller', track: 'inbound' }],
    });
    expect(events.find((e) => e.type === 'dtmf')?.data).toMatchObject({ digit: '1', speaker: 'caller' });
    const metrics = (await gw.get('/metrics')).body as string;
    expect(metrics).toMatch(/voxline_ingress_calls_total\{ingress="sip"\} 1/);
    expect(metrics).toMatch(/voxline_rtp_packets_total\{ingress="sip"\} 2\d\d/);
    expect(metrics).toMatch(/voxline_rtp_jitter_seconds_count\{ingress="sip"\} 1/);
  });

  it('a PCMA call (A-law offered first) over TCP: decoded exactly', async () => {
    const { gw, port } = await start();
    const alaw = pcmToAlaw(mulawToPcm(greeting.caller.subarray(0, 16_000)));
    const run = await runSipp('uac-call.xml', port, {
      transport: 't1',
      localPort: await freePort(),
      mediaPort: await freePort(),
      pauseMs: 2000,
      vars: {
        codecs: '8 0',
        audio: scratchFile('caller.alaw', alaw),
        pt: '8',
        dtmf: `${SIPP_PCAPS}/dtmf_2833_5.pcap`,
      },
    });
    expect(run.code, run.output).toBe(0);
    const call = await onlyCall(gw);
    expect(call).toMatchObject({
      legs: [{ codec: 'pcma', audioSeconds: 2 }],
      dtmf: [{ digit: '5' }],
      rtp: [{ codec: 'pcma' }],
    });
    expect(gw.tap.pcm(call.callSid, 'caller')).toEqual(new Upsampler8to16().pushPcm(alawToPcm(alaw)));
  });

  it('CANCEL while ringing: 200 for the CANCEL, 487 for the INVITE, and no call is opened', async () => {
    const { gw, port } = await start({ SIP_RING_MS: '3000' });
    const run = await runSipp('uac-cancel.xml', port, {
      localPort: await freePort(),
      mediaPort: await freePort(),
    });
    expect(run.code, run.output).toBe(0);
    expect((await gw.get('/v1/calls?state=all')).body.calls).toEqual([]);
    expect((await gw.get('/metrics')).body).toMatch(
      /voxline_ingress_refused_total\{ingress="sip",reason="cancelled"\} 1/,
    );
  });

  it('voxline hangs up (here: the caller went silent past MEDIA_IDLE_TIMEOUT_MS) with a BYE the caller answers', async () => {
    const { gw, port } = await start({ MEDIA_IDLE_TIMEOUT_MS: '1000' });
    const run = await runSipp('uac-wait-bye.xml', port, {
      localPort: await freePort(),
      mediaPort: await freePort(),
    });
    expect(run.code, run.output).toBe(0);
    expect(await onlyCall(gw)).toMatchObject({
      ingress: 'sip',
      endReason: 'idle_timeout',
      legs: [{ codec: 'pcma' }],
    });
  });

  for (const transport of ['u1', 't1'] as const) {
    it(`a SIPREC session over ${transport === 'u1' ? 'UDP' : 'TCP'}: two streams land on the caller and agent legs the metadata names`, async () => {
      const { gw, port } = await start();
      const mediaPort = await freePort();
      const run = await runSipp('siprec-src.xml', port, {
        transport,
        localPort: await freePort(),
        mediaPort,
        pauseMs: greeting.durationMs + 500,
        vars: {
          caller: scratchFile('caller.ulaw', greeting.caller),
          agent: scratchFile('agent.ulaw', greeting.agent),
          sender: RTP_SEND,
        },
      });
      expect(run.code, run.output).toBe(0);
      const call = await onlyCall(gw);
      expect(call).toMatchObject({
        ingress: 'siprec',
        bidirectional: false,
        participants: [
          { role: 'caller', name: 'Caller', address: 'sip:+15551230000@carrier.example' },
          { role: 'agent', name: 'Agent 42', address: 'sip:agent42@pbx.example' },
        ],
        customParameters: { legMapping: 'configured_label' },
        legs: [
          { label: 'caller', track: 'inbound', audioSeconds: greeting.durationMs / 1000 },
          { label: 'agent', track: 'outbound', audioSeconds: greeting.durationMs / 1000 },
        ],
      });
      expect(call.rtp.map((r: { packetsSent: number }) => r.packetsSent)).toEqual([0, 0]); // a recorder never sends
      const transcript = await finishedTranscript(gw, call.callSid);
      expect(said(transcript.utterances, 'caller')).toBe('he was not an ill disposed young man');
      expect(said(transcript.utterances, 'agent')).toBe('Hello world.');
      const events = await eventsUntilEnded();
      const validate = schemaValidator();
      for (const event of events) expect(validate(event)).toEqual([]);
      expect(events.find((e) => e.type === 'call.started')?.data).toMatchObject({
        ingress: 'siprec',
        legs: [
          { speaker: 'caller', track: 'inbound' },
          { speaker: 'agent', track: 'outbound' },
        ],
        participants: [{ name: 'Caller' }, { name: 'Agent 42' }],
      });
    });
  }
});
