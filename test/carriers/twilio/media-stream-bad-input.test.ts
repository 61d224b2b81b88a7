import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AUTH_TOKEN,
  eventually,
  type Gateway,
  mediaMessage,
  openMediaSocket,
  type RawMediaSocket,
  startGateway,
  startMessage,
} from '../../helpers/gateway.js';
import { playDemo } from '../../helpers/media.js';

const SILENCE_20MS = new Uint8Array(160).fill(0xff);
let nextCall = 0;
const newCallSid = () => `CAbad${String(++nextCall).padStart(29, '0')}`;

async function metric(gateway: Gateway, name: string, labels: string): Promise<number> {
  const { body } = await gateway.get('/metrics');
  const line = (body as string).split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** Opens a stream, sends start and `frames` media frames on the inbound track from t=0. */
async function startedCall(
  gateway: Gateway,
  frames = 5,
  tracks = ['inbound', 'outbound'],
): Promise<{ raw: RawMediaSocket; callSid: string; next: () => number; stop: () => void }> {
  const callSid = newCallSid();
  const raw = await openMediaSocket(gateway);
  let sequence = 1;
  raw.send(startMessage(callSid, { tracks }));
  for (let i = 0; i < frames; i++)
    raw.send(mediaMessage(callSid, ++sequence, 'inbound', i * 20, SILENCE_20MS));
  const next = () => ++sequence;
  const stop = () =>
    raw.send({
      event: 'stop',
      sequenceNumber: String(next()),
      streamSid: `MZ${callSid.slice(2)}`,
      stop: { accountSid: 'ACtest', callSid },
    });
  return { raw, callSid, next, stop };
}

describe('Twilio media stream: bad input gets a clear error and loses nothing', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway({ MAX_MALFORMED_PER_CALL: '20', MAX_MESSAGE_BYTES: '16384' });
  });
  afterAll(() => gateway.close());

  describe('before the upgrade', () => {
    it('refuses a forged signature with 403 and opens no socket', async () => {
      const before = await metric(gateway, 'voxline_carrier_signature_rejections_total', 'route="media"');
      const raw = await openMediaSocket(gateway, { signature: 'bm90IGEgcmVhbCBzaWduYXR1cmU=' });
      expect(await raw.closed).toMatchObject({ httpStatus: 403 });
      expect(await metric(gateway, 'voxline_carrier_signature_rejections_total', 'route="media"')).toBe(
        before + 1,
      );
    });

    it('refuses a missing signature with 403', async () => {
      const raw = await openMediaSocket(gateway, { signed: false });
      expect(await raw.closed).toMatchObject({ httpStatus: 403 });
    });

    it('accepts the https:// form of the URL as well as the wss:// one', async () => {
      const { getExpectedTwilioSignature } = await import('twilio/lib/webhooks/webhooks.js');
      const signature = getExpectedTwilioSignature(AUTH_TOKEN, gateway.mediaUrl.replace(/^ws/, 'http'), {});
      const raw = await openMediaSocket(gateway, { signature });
      expect(raw.socket.readyState).toBe(raw.socket.OPEN);
      raw.socket.close();
    });
  });

  describe('recoverable: counted and logged, the call goes on', () => {
    it.each([
      ['malformed_json', '{"event":"media", nope'],
      ['unknown_event', JSON.stringify({ event: 'transcript', sequenceNumber: '9' })],
      [
        'invalid_message',
        JSON.stringify({ event: 'media', sequenceNumber: '9', streamSid: 'MZ', media: { track: 'inbound' } }),
      ],
      ['bad_base64', 'BAD_BASE64'],
      ['bad_payload_size', 'HUGE_PAYLOAD'],
      ['duplicate_start', 'SECOND_START'],
      ['unknown_track', 'UNKNOWN_TRACK'],
    ])('%s', async (reason, frame) => {
      const { raw, callSid, next, stop } = await startedCall(gateway, 5, ['inbound']);
      const before = await metric(gateway, 'voxline_malformed_messages_total', `reason="${reason}"`);
      const bad: Record<string, string> = {
        BAD_BASE64: JSON.stringify({
          ...mediaMessage(callSid, next(), 'inbound', 100, SILENCE_20MS),
          media: { track: 'inbound', chunk: '6', timestamp: '100', payload: 'ab!d' },
        }),
        HUGE_PAYLOAD: JSON.stringify(mediaMessage(callSid, next(), 'inbound', 100, new Uint8Array(9000))),
        SECOND_START: JSON.stringify(startMessage(callSid)),
        UNKNOWN_TRACK: JSON.stringify(mediaMessage(callSid, next(), 'outbound', 100, SILENCE_20MS)), // not in start
      };
      raw.sendRaw(bad[frame] ?? frame);
      // Where the bad frame carried the audio at 100 ms, that audio is lost; otherwise it follows.
      const badFrameWasTheAudio = ['bad_base64', 'bad_payload_size', 'unknown_track'].includes(reason);
      if (!badFrameWasTheAudio) raw.send(mediaMessage(callSid, next(), 'inbound', 100, SILENCE_20MS));
      // The call carries on: later audio is taken, and stop ends it normally.
      for (let i = 6; i < 10; i++) raw.send(mediaMessage(callSid, next(), 'inbound', i * 20, SILENCE_20MS));
      stop();
      expect(await raw.closed).toMatchObject({ code: 1000 });

      const details = await gateway.call(callSid);
      expect(details.malformedMessages).toEqual({ total: 1, byReason: { [reason]: 1 } });
      expect(details.endReason).toBe('stop');
      const caller = details.legs.find((leg) => leg.label === 'caller')!;
      // Lost audio is never silently skipped: its 20 ms are filled with silence and counted.
      expect(caller.positionMs).toBe(200);
      expect(caller.gapFilledMs).toBe(badFrameWasTheAudio ? 20 : 0);
      expect(caller.audioSeconds).toBe(badFrameWasTheAudio ? 0.18 : 0.2);
      expect(await metric(gateway, 'voxline_malformed_messages_total', `reason="${reason}"`)).toBe(
        before + 1,
      );
      expect(
        gateway.logs.some(
          (l) => l.msg === 'malformed media stream message' && l.reason === reason && l.callSid === callSid,
        ),
      ).toBe(true);
    });

    it('a binary frame is counted, not parsed', async () => {
      const { raw, callSid, stop } = await startedCall(gateway);
      raw.sendRaw(Buffer.from([1, 2, 3]), true);
      stop();
      await raw.closed;
      expect((await gateway.call(callSid)).malformedMessages.byReason).toEqual({ binary_frame: 1 });
    });
  });

  describe('fatal: the socket closes with a code and reason; the call is finalized', () => {
    it('media before start → 1008', async () => {
      const raw = await openMediaSocket(gateway);
      raw.send(mediaMessage('CAnostart', 1, 'inbound', 0, SILENCE_20MS));
      expect(await raw.closed).toEqual({ code: 1008, reason: 'media before start' });
    });

    it('an oversized frame → 1009, and the call ends as message_too_big', async () => {
      const { raw, callSid } = await startedCall(gateway);
      raw.sendRaw('x'.repeat(20_000));
      expect((await raw.closed).code).toBe(1009);
      const details = await eventually(async () => {
        const d = await gateway.call(callSid);
        expect(d.state).toBe('ended');
        return d;
      });
      expect(details).toMatchObject({ endReason: 'message_too_big', closeCode: 1009 });
      expect(details.legs[0].audioSeconds).toBe(0.1); // what arrived before it is kept
    });

    it('a frame that is not valid UTF-8 → 1007, counted as invalid_frame', async () => {
      const { raw, callSid } = await startedCall(gateway);
      raw.sendRaw(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])); // a text frame with invalid UTF-8
      expect((await raw.closed).code).toBe(1007);
      const details = await eventually(async () => {
        const d = await gateway.call(callSid);
        expect(d.state).toBe('ended');
        return d;
      });
      expect(details).toMatchObject({
        closeCode: 1007,
        malformedMessages: { byReason: { invalid_frame: 1 } },
      });
    });

    it('too many malformed messages → 1008', async () => {
      const { raw, callSid } = await startedCall(gateway);
      for (let i = 0; i < 25; i++) raw.sendRaw('not json');
      expect(await raw.closed).toEqual({ code: 1008, reason: 'too many malformed messages (20)' });
      const details = await gateway.call(callSid);
      expect(details).toMatchObject({
        state: 'ended',
        endReason: 'protocol_error: too many malformed messages (20)',
      });
    });

    it('past the malformed limit, logs "closing media stream" once however much more arrives', async () => {
      const { raw, callSid } = await startedCall(gateway);
      // Sent in one go: all of them reach voxline before the peer's close frame does.
      for (let i = 0; i < 200; i++) raw.sendRaw('not json');
      expect(await raw.closed).toMatchObject({ code: 1008 });
      const gw = gateway;
      await eventually(async () => expect((await gw.call(callSid)).malformedMessages.total).toBe(200));
      const lines = gateway.logs.filter((l) => l.callSid === callSid);
      const closing = lines.filter((l) => l.msg === 'closing media stream');
      expect(closing).toEqual([
        expect.objectContaining({ level: 40, code: 1008, reason: 'too many malformed messages (20)' }),
      ]);
      // Per-message lines stay bounded too: the first few warn, the rest are debug.
      expect(lines.filter((l) => Number(l.level) >= 40)).toHaveLength(6);
    });

    it('a media format voxline cannot decode → 1003', async () => {
      const raw = await openMediaSocket(gateway);
      const start = startMessage(newCallSid());
      raw.send({
        ...start,
        start: { ...start.start, mediaFormat: { encoding: 'audio/x-l16', sampleRate: 16000, channels: 1 } },
      });
      expect(await raw.closed).toEqual({
        code: 1003,
        reason: 'unsupported media format audio/x-l16/16000/1',
      });
    });

    it('a media format named in 200 bytes of non-ASCII text → 1003 all the same, its reason cut to the 123 bytes a close frame holds', async () => {
      const raw = await openMediaSocket(gateway);
      const start = startMessage(newCallSid());
      raw.send({
        ...start,
        start: { ...start.start, mediaFormat: { encoding: 'é'.repeat(100), sampleRate: 8000, channels: 1 } },
      });
      const closed = await raw.closed;
      expect(closed.code).toBe(1003);
      expect(closed.reason).toMatch(/^unsupported media format é+$/);
      expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);
    });

    it('a flood of key events: the call keeps the first 256 and counts the rest; the call goes on', async () => {
      const { raw, callSid, next, stop } = await startedCall(gateway);
      for (let i = 0; i < 300; i++)
        raw.send({
          event: 'dtmf',
          streamSid: `MZ${callSid.slice(2)}`,
          sequenceNumber: String(next()),
          dtmf: { track: 'inbound_track', digit: String(i % 10) },
        });
      stop();
      await eventually(async () => expect((await gateway.call(callSid)).state).toBe('ended'));
      const ended = await gateway.call(callSid);
      expect(ended.dtmf).toHaveLength(256);
      expect(ended.dtmfDropped).toBe(44);
      expect(ended.endReason).toBe('stop');
    });

    it('a second live stream for the same call → 1008', async () => {
      const { raw: first, callSid, stop: stopFirst } = await startedCall(gateway);
      const second = await openMediaSocket(gateway);
      second.send(startMessage(callSid));
      expect((await second.closed).code).toBe(1008);
      stopFirst();
      expect((await first.closed).code).toBe(1000);
    });

    it('a dropped connection finalizes the call as connection_lost, keeping what arrived', async () => {
      const { raw, callSid } = await startedCall(gateway, 10);
      await eventually(async () => expect((await gateway.call(callSid)).legs[0].audioSeconds).toBe(0.2));
      raw.socket.terminate();
      const details = await eventually(async () => {
        const d = await gateway.call(callSid);
        expect(d.state).toBe('ended');
        return d;
      });
      expect(details).toMatchObject({ endReason: 'connection_lost', closeCode: 1006 });
      expect(gateway.tap.legs.get(`${callSid}/caller`)?.ended).toBe(true);
    });
  });

  it('a bad call never disturbs another one running at the same time', async () => {
    const good = playDemo(gateway);
    const bad = await startedCall(gateway);
    for (let i = 0; i < 30; i++) bad.raw.sendRaw(i % 2 ? 'garbage' : Buffer.from([0xff]).toString());
    const result = await good;
    await bad.raw.closed;
    const details = await gateway.call(result.callSid);
    expect(details.malformedMessages.total).toBe(0);
    expect(details.legs.every((leg) => leg.audioSeconds === 5 && leg.gapFilledMs === 0)).toBe(true);
  });
});

describe('Twilio media stream: timeouts and limits', () => {
  it('closes a socket that goes silent (4000) and finalizes its call as idle_timeout', async () => {
    const gateway = await startGateway({ MEDIA_IDLE_TIMEOUT_MS: '300' });
    try {
      const { raw, callSid } = await startedCall(gateway);
      expect(await raw.closed).toEqual({ code: 4000, reason: 'idle timeout' });
      const details = await gateway.call(callSid);
      expect(details).toMatchObject({ state: 'ended', endReason: 'idle_timeout' });
      expect(details.legs[0].audioSeconds).toBe(0.1);
    } finally {
      await gateway.close();
    }
  });

  it('closes a socket that never sends start (1008)', async () => {
    const gateway = await startGateway({ HANDSHAKE_TIMEOUT_MS: '200' });
    try {
      const raw = await openMediaSocket(gateway);
      raw.send({ event: 'connected', protocol: 'Call', version: '1.0.0' });
      expect(await raw.closed).toEqual({ code: 1008, reason: 'no start message within 200 ms' });
    } finally {
      await gateway.close();
    }
  });

  it('refuses streams beyond MAX_LIVE_CALLS with 503 before the upgrade', async () => {
    const gateway = await startGateway({ MAX_LIVE_CALLS: '1' });
    try {
      const { raw, stop } = await startedCall(gateway);
      await eventually(async () => expect((await gateway.get('/healthz')).body.liveCalls).toBe(1));
      const refused = await openMediaSocket(gateway);
      expect(await refused.closed).toMatchObject({ httpStatus: 503 });
      expect(await metric(gateway, 'voxline_calls_refused_total', 'reason="VL_ERR_CAPACITY"')).toBe(1);
      stop();
      await raw.closed;
    } finally {
      await gateway.close();
    }
  });

  it('refuses Twilio traffic outright when no auth token is configured', async () => {
    const gateway = await startGateway({ TWILIO_AUTH_TOKEN: undefined });
    try {
      const raw = await openMediaSocket(gateway);
      expect(await raw.closed).toMatchObject({ httpStatus: 403 });
      expect(gateway.config.warnings.join()).toMatch(/TWILIO_AUTH_TOKEN is not set/);
    } finally {
      await gateway.close();
    }
  });

  it('accepts unsigned streams when validation is explicitly off', async () => {
    const gateway = await startGateway({ TWILIO_AUTH_TOKEN: undefined, TWILIO_VALIDATE: 'false' });
    try {
      const result = await playDemo(gateway);
      expect(result.closeCode).toBe(1000);
      expect(gateway.config.warnings.join()).toMatch(/NOT checked/);
    } finally {
      await gateway.close();
    }
  });
});
