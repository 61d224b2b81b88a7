import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { eventually } from '../../helpers/gateway.js';
import { demoCall, pcm16Channel } from '../../helpers/media.js';
import { firstDifference } from '../../helpers/signal.js';
import { schemaValidator } from '../../helpers/webhooks.js';
import {
  type EdgeGateway,
  expectSameAsTwilio,
  finalsBy,
  mulawTo8k,
  socketUrl,
  spoken,
  startEdgeGateway,
} from '../stream-edge-harness.js';
import { AsteriskChannel, type AsteriskOptions, alawToLinear, linearToSlin } from './asterisk-ws-client.js';

/*
 * Asterisk chan_websocket end to end: the channel double (written from Asterisk's WebSocket
 * channel documentation and chan_websocket.c) connects out to a real gateway as a
 * websocket_client.conf entry would, streams the demo call's caller, presses a key; the vLLM
 * realtime double transcribes, webhooks go to a real receiver, the recording is fetched, and the
 * same audio played over Twilio into the same gateway gives the same events and words.
 */

const AST_SECRET = 'asterisk-shared-secret-0123456789';
const call = demoCall('support-call');

let gateway: EdgeGateway;
let wsUrl: string;

beforeAll(async () => {
  gateway = await startEdgeGateway({ ASTERISK_WS_SECRET: AST_SECRET, ASTERISK_WS_USERNAME: 'asterisk' });
  wsUrl = socketUrl(gateway, '/asterisk/media');
}, 30_000);
afterAll(() => gateway.close());

function connect(
  options: Partial<AsteriskOptions> & Pick<AsteriskOptions, 'format'>,
): Promise<AsteriskChannel> {
  return AsteriskChannel.connect({ url: wsUrl, username: 'asterisk', password: AST_SECRET, ...options });
}

/** Ends the channel and waits for voxline to have finished the call. */
async function hangUpAndWait(channel: AsteriskChannel, callSid: string): Promise<void> {
  expect((await channel.hangUp()).code).toBe(1000);
  await eventually(() => expect(gateway.tap.legs.get(`${callSid}/caller`)?.ended).toBe(true));
}

describe('Asterisk chan_websocket: the demo call', () => {
  it('ulaw, plain-text events: the caller transcribed, DTMF_END kept, sample-exact, with the webhooks Twilio’s caller-only call gives', async () => {
    const channel = await connect({
      url: `${wsUrl}?caller=%2B14155550100&queue=support`, // v(caller=…,queue=…) in the dial string
      format: 'ulaw',
      channelId: '1760000000.101',
    });
    expect(channel.socket.protocol).toBe('media'); // the sub-protocol Asterisk offered, echoed
    const callSid = '1760000000-101'; // the uniqueid, dots as dashes
    await channel.stream(call.caller.subarray(0, 24_000));
    channel.dtmf('7');
    await channel.stream(call.caller.subarray(24_000));
    await hangUpAndWait(channel, callSid);

    const said = await gateway.transcriptOf(callSid);
    expect(said('caller')).toBe(spoken(call, 'caller'));
    const { body: details } = await gateway.v1(`/v1/calls/${callSid}`);
    expect(details).toMatchObject({
      ingress: 'asterisk-ws',
      streamSid: channel.connectionId,
      mode: 'transcribe',
      bidirectional: false,
      state: 'ended',
      endReason: 'hangup',
      dtmf: [{ digit: '7', atMs: 3000 }],
      customParameters: {
        caller: '+14155550100',
        queue: 'support',
        channel: 'WebSocket/voxline/0x7f0000001',
      },
      malformedMessages: { total: 0 },
      legs: [{ label: 'caller', track: 'inbound', codec: 'pcmu', audioSeconds: 23, gapFilledMs: 0 }],
    });
    const expected = new Upsampler8to16().pushPcm(mulawTo8k(call.caller));
    expect(firstDifference(gateway.tap.pcm(callSid, 'caller'), expected)).toBe(-1);
    const wav = await gateway.recording(callSid);
    expect(firstDifference(pcm16Channel(wav, 0), expected)).toBe(-1);

    const events = await gateway.ended(callSid);
    const validate = schemaValidator();
    for (const event of events) expect(validate(event)).toEqual([]);
    expect(events[0].data).toMatchObject({
      ingress: 'asterisk-ws',
      legs: [{ speaker: 'caller', track: 'inbound' }],
    });
    const twilio = await expectSameAsTwilio(gateway, events, {
      agent: undefined,
      dtmf: [{ atMs: 3000, digit: '7' }],
    });
    // The words: this call's finals against Twilio's completed transcript (its webhooks can
    // trail its call.ended on a loaded machine; the transcript is the settled record).
    const twilioSaid = await gateway.transcriptOf(twilio.callSid);
    expect(finalsBy(events, 'caller')).toBe(twilioSaid('caller'));
  }, 60_000);

  it('slin16 with JSON events: channel variables kept, the samples exact', async () => {
    const channel = await connect({
      format: 'slin16',
      control: 'json',
      channelId: 'pbx1-1760000000.102',
      variables: { CALLERID_NUM: '1000', EMPTY: '' },
    });
    const pcm = Int16Array.from({ length: 16_000 }, (_, i) => Math.round(8000 * Math.sin(i / 7)));
    expect(await channel.stream(linearToSlin(pcm))).toBe(50);
    channel.dtmf('#');
    await hangUpAndWait(channel, 'pbx1-1760000000-102');
    const { body: snapshot } = await gateway.v1('/v1/calls/pbx1-1760000000-102');
    expect(snapshot).toMatchObject({
      ingress: 'asterisk-ws',
      customParameters: { CALLERID_NUM: '1000', EMPTY: '', channel_id: 'pbx1-1760000000.102' },
      dtmf: [{ digit: '#', atMs: 1000 }],
      legs: [{ codec: 'l16', sampleRate: 16000, audioSeconds: 1 }],
    });
    expect(firstDifference(gateway.tap.pcm('pbx1-1760000000-102', 'caller'), pcm)).toBe(-1);
  });

  it('alaw and slin (8 kHz): decoded exactly, upsampled as every 8 kHz leg is', async () => {
    const bytes = Uint8Array.from({ length: 8000 }, (_, i) => (i * 37) & 0xff);
    const alaw = await connect({ format: 'alaw', channelId: '1760000000.103' });
    await alaw.stream(bytes);
    await hangUpAndWait(alaw, '1760000000-103');
    const fromAlaw = new Upsampler8to16().pushPcm(alawToLinear(bytes));
    expect(firstDifference(gateway.tap.pcm('1760000000-103', 'caller'), fromAlaw)).toBe(-1);

    const pcm = Int16Array.from({ length: 8000 }, (_, i) => ((i * 97) % 20_000) - 10_000);
    const slin = await connect({ format: 'slin', channelId: '1760000000.104' });
    await slin.stream(linearToSlin(pcm));
    await hangUpAndWait(slin, '1760000000-104');
    const fromSlin = new Upsampler8to16().pushPcm(pcm);
    expect(firstDifference(gateway.tap.pcm('1760000000-104', 'caller'), fromSlin)).toBe(-1);
    expect((await gateway.v1('/v1/calls/1760000000-104')).body.legs[0]).toMatchObject({
      sampleRate: 8000,
      audioSeconds: 1,
    });
  });

  it('a format voxline does not take is refused with 1003 and a reason; audio before MEDIA_START with 1008', async () => {
    const opus = await connect({ format: 'opus', channelId: '1760000000.105' });
    expect(await opus.closed).toEqual({
      code: 1003,
      reason: expect.stringMatching(/unsupported format opus/),
    });
    const early = await connect({ format: 'ulaw', start: false });
    early.sendRaw(Buffer.alloc(160, 0xff), true);
    expect((await early.closed).code).toBe(1008);
  });
});

describe('Asterisk chan_websocket: refused before the upgrade', () => {
  it('no credentials, a wrong password, a wrong username: 401, no socket, counted; Bearer and ?token= are taken', async () => {
    const statuses: (number | undefined)[] = [];
    for (const options of [
      { username: undefined, password: undefined },
      { password: 'not-the-secret-at-all' },
      { username: 'someone-else' },
    ]) {
      const channel = await connect({ format: 'ulaw', ...options });
      statuses.push((await channel.closed).httpStatus);
    }
    expect(statuses).toEqual([401, 401, 401]);
    const metrics = (await gateway.get('/metrics')).body as string;
    expect(metrics).toMatch(
      /voxline_ingress_refused_total\{ingress="asterisk-ws",reason="secret_missing"\} 1/,
    );
    expect(metrics).toMatch(/voxline_ingress_refused_total\{ingress="asterisk-ws",reason="secret_wrong"\} 2/);
    expect(JSON.stringify(gateway.logs)).not.toContain(AST_SECRET);

    const byToken = await connect({
      url: `${wsUrl}?token=${AST_SECRET}`,
      username: undefined,
      password: undefined,
      format: 'ulaw',
      channelId: '1760000000.106',
    });
    expect(byToken.open).toBe(true);
    await byToken.stream(new Uint8Array(1600).fill(0xff));
    await hangUpAndWait(byToken, '1760000000-106');
  });
});
