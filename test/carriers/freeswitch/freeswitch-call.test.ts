import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { eventually } from '../../helpers/gateway.js';
import { demoCall, mulawAs16k, pcm16Channel } from '../../helpers/media.js';
import { firstDifference } from '../../helpers/signal.js';
import { schemaValidator } from '../../helpers/webhooks.js';
import {
  type EdgeGateway,
  expectBothLegsExact,
  expectSameAsTwilio,
  finalsBy,
  mulawTo8k,
  socketUrl,
  spoken,
  startEdgeGateway,
} from '../stream-edge-harness.js';
import { FreeSwitchFork } from './freeswitch-fork-client.js';

/*
 * FreeSWITCH forks end to end: the fork double (written from mod_audio_stream's and
 * mod_audio_fork's READMEs) streams the demo call into a real gateway, the vLLM realtime double
 * transcribes each leg, webhooks go to a real receiver, the recording is fetched. The stereo call
 * is also played over Twilio into the same gateway: a fork must produce what a Twilio call does.
 */

const FS_SECRET = 'freeswitch-shared-secret-0123456789';
const call = demoCall('support-call');

let gateway: EdgeGateway;
let wsUrl: string;

beforeAll(async () => {
  gateway = await startEdgeGateway({ FREESWITCH_STREAM_SECRET: FS_SECRET });
  wsUrl = socketUrl(gateway, '/freeswitch/stream');
}, 30_000);
afterAll(() => gateway.close());

describe('FreeSWITCH forks: the demo call', () => {
  it('mod_audio_fork, stereo 8k: both legs transcribed with speakers right, sample-exact, with the webhooks a Twilio call gives', async () => {
    const callSid = 'fs-stereo-0001';
    const fork = await FreeSwitchFork.open({
      url: `${wsUrl}?mix=stereo&rate=8k`,
      module: 'mod_audio_fork',
      rate: 8000,
      channels: 2,
      basic: { username: 'freeswitch', password: FS_SECRET },
      metadata: JSON.stringify({
        callSid,
        from: '+14155550100',
        to: '+14155550199',
        custom: { queue: 'support' },
      }),
    });
    expect(fork.socket.protocol).toBe('audio.drachtio.org'); // the sub-protocol offered, echoed
    const caller = mulawTo8k(call.caller);
    const callee = mulawTo8k(call.agent);
    await fork.stream([caller.subarray(0, 24_000), callee.subarray(0, 24_000)]);
    fork.sendText(JSON.stringify({ event: 'dtmf', dtmf: '7', duration: 120 })); // send_text on a DTMF event
    await fork.stream([caller.subarray(24_000), callee.subarray(24_000)]);
    expect((await fork.stop()).code).toBe(1000);

    const said = await gateway.transcriptOf(callSid);
    expect(said('caller')).toBe(spoken(call, 'caller'));
    expect(said('agent')).toBe(spoken(call, 'agent'));
    const { body: details } = await gateway.v1(`/v1/calls/${callSid}`);
    expect(details).toMatchObject({
      ingress: 'freeswitch',
      streamSid: callSid,
      mode: 'transcribe',
      bidirectional: false,
      state: 'ended',
      endReason: 'hangup',
      dtmf: [{ digit: '7', atMs: 3000 }],
      customParameters: { from: '+14155550100', to: '+14155550199', queue: 'support' },
      malformedMessages: { total: 0 },
    });
    expect(details.legs).toMatchObject([
      { label: 'caller', track: 'inbound', codec: 'l16', sampleRate: 8000, audioSeconds: 23, gapFilledMs: 0 },
      { label: 'agent', track: 'outbound', codec: 'l16', sampleRate: 8000, audioSeconds: 23, gapFilledMs: 0 },
    ]);

    // What the engine got, and what was recorded, is the fork's L16 upsampled as every 8 kHz leg is.
    await expectBothLegsExact(gateway, callSid, {
      caller: new Upsampler8to16().pushPcm(caller),
      agent: new Upsampler8to16().pushPcm(callee),
    });

    const events = await gateway.ended(callSid);
    const validate = schemaValidator();
    for (const event of events) expect(validate(event)).toEqual([]);
    expect(events.find((e) => e.type === 'call.started')?.data).toMatchObject({
      ingress: 'freeswitch',
      legs: [
        { speaker: 'caller', track: 'inbound' },
        { speaker: 'agent', track: 'outbound' },
      ],
    });
    expect(events.find((e) => e.type === 'dtmf')?.data).toEqual({
      digit: '7',
      speaker: 'caller',
      atMs: 3000,
    });

    // The same audio over Twilio into the same gateway: the same events, the same words per speaker.
    const twilio = await expectSameAsTwilio(gateway, events, { dtmf: [{ atMs: 3000, digit: '7' }] });
    // The words per speaker: this call's finals against Twilio's completed transcript (its
    // webhooks can trail its call.ended on a loaded machine; the transcript is the settled record).
    const twilioSaid = await gateway.transcriptOf(twilio.callSid);
    for (const speaker of ['caller', 'agent']) expect(finalsBy(events, speaker)).toBe(twilioSaid(speaker));
  }, 60_000);

  it('mod_audio_stream, mono 16k, Bearer in STREAM_EXTRA_HEADERS: the caller’s leg only, sample-exact, as Twilio’s caller-only call', async () => {
    const callSid = 'fs-mono-0001';
    const fork = await FreeSwitchFork.open({
      url: `${wsUrl}?mix=mono&sampleRate=16000`,
      module: 'mod_audio_stream',
      rate: 16000,
      headers: { Authorization: `Bearer ${FS_SECRET}` },
      metadata: JSON.stringify({ callSid, caller: '1000' }),
      bufferMs: 100,
    });
    expect(fork.socket.protocol).toBe(''); // mod_audio_stream offers none
    const caller = mulawAs16k(call.caller);
    await fork.stream([caller]);
    await fork.stop();

    const said = await gateway.transcriptOf(callSid);
    expect(said('caller')).toBe(spoken(call, 'caller'));
    expect(said('agent')).toBe('');
    const { body: details } = await gateway.v1(`/v1/calls/${callSid}`);
    expect(details).toMatchObject({ ingress: 'freeswitch', customParameters: { caller: '1000' } });
    expect(details.legs).toMatchObject([
      { label: 'caller', track: 'inbound', sampleRate: 16000, audioSeconds: 23 },
    ]);
    expect(firstDifference(gateway.tap.pcm(callSid, 'caller'), caller)).toBe(-1);
    expect(
      firstDifference(pcm16Channel(await gateway.recording(callSid), 0).subarray(0, caller.length), caller),
    ).toBe(-1);

    const events = await gateway.ended(callSid);
    await expectSameAsTwilio(gateway, events, { agent: undefined });
    expect(events.find((e) => e.type === 'call.started')?.data).toMatchObject({
      legs: [{ speaker: 'caller', track: 'inbound' }],
    });
  }, 60_000);

  it('mixed, no metadata (mod_audio_stream’s is optional), ?token= and ?call=: one leg, labelled mixed', async () => {
    const callSid = 'a1b2c3d4-0000-4000-8000-00000000fs01'; // ${uuid} in the dialplan's URL
    const fork = await FreeSwitchFork.open({
      url: `${wsUrl}?mix=mixed&rate=8000&call=${callSid}&token=${FS_SECRET}`,
      module: 'mod_audio_stream',
      rate: 8000,
    });
    const greeting = mulawTo8k(demoCall('greeting').caller);
    expect(await fork.stream([greeting])).toBe(250);
    fork.sendText('{"any":"text the operator sends"}'); // send_text: not malformed
    await fork.stop();
    await eventually(() => expect(gateway.tap.legs.get(`${callSid}/mixed`)?.ended).toBe(true));
    const { body: details } = await gateway.v1(`/v1/calls/${callSid}`);
    expect(details).toMatchObject({
      ingress: 'freeswitch',
      customParameters: {},
      malformedMessages: { total: 0 },
      legs: [{ label: 'mixed', track: 'mixed', sampleRate: 8000, audioSeconds: 5 }],
    });
    expect(firstDifference(gateway.tap.pcm(callSid, 'mixed'), new Upsampler8to16().pushPcm(greeting))).toBe(
      -1,
    );
  });

  it('metadata that is not JSON is kept as text; a fork with no call id gets one', async () => {
    const fork = await FreeSwitchFork.open({
      url: `${wsUrl}?token=${FS_SECRET}`,
      module: 'mod_audio_fork',
      rate: 8000,
      metadata: "{'caller':'1000','callee':'1002'}", // the single-quoted form the READMEs show
    });
    await fork.stream([new Int16Array(1600)]);
    await fork.stop();
    const callSid = await eventually(() => {
      const line = gateway.logs.find(
        (l) => l.msg === 'call started' && /^fs-[0-9a-f-]{36}$/.test(String(l.callSid)),
      );
      expect(line).toBeDefined();
      return String(line?.callSid);
    });
    expect(gateway.app.registry.get(callSid)?.start.customParameters).toEqual({
      metadata: "{'caller':'1000','callee':'1002'}",
    });
  });
});

describe('FreeSWITCH forks: refused before the upgrade', () => {
  it('no secret, a wrong one (each way), a bad URL parameter: 401 or 400, no socket, counted', async () => {
    const statuses: (number | undefined)[] = [];
    for (const options of [
      {},
      { headers: { Authorization: 'Bearer not-the-secret-at-all' } },
      { basic: { username: 'freeswitch', password: 'not-the-secret-at-all' } },
      { url: `${wsUrl}?token=not-the-secret-at-all` },
      { url: `${wsUrl}?token=${FS_SECRET}&rate=44100` },
      { url: `${wsUrl}?token=${FS_SECRET}&mix=stereo&mode=agent` },
    ]) {
      const fork = await FreeSwitchFork.open({
        url: wsUrl,
        module: 'mod_audio_stream',
        rate: 8000,
        ...options,
      });
      statuses.push((await fork.closed).httpStatus);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 400, 400]);
    const metrics = (await gateway.get('/metrics')).body as string;
    expect(metrics).toMatch(
      /voxline_ingress_refused_total\{ingress="freeswitch",reason="secret_missing"\} 1/,
    );
    expect(metrics).toMatch(/voxline_ingress_refused_total\{ingress="freeswitch",reason="secret_wrong"\} 3/);
    expect(metrics).toMatch(
      /voxline_ingress_refused_total\{ingress="freeswitch",reason="bad_stream_parameters"\} 2/,
    );
    // The secret never reaches the log.
    expect(JSON.stringify(gateway.logs)).not.toContain(FS_SECRET);
  });
});
