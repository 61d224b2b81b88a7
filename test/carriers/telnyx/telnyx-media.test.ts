import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { alawToPcm, mulawToPcm, pcmToAlaw } from '../../../src/audio/g711.js';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import type { Call } from '../../../src/calls/call.js';
import { mintStreamToken } from '../../../src/carriers/telnyx/stream-token.js';
import {
  fetchTexml,
  postTelnyxWebhook,
  type StreamOptions,
  streamTelnyxCall,
  telnyxKeys,
} from '../../doubles/telnyx-client.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall, pcm16Channel } from '../../helpers/media.js';
import { amplitudeAt, firstDifference, sine } from '../../helpers/signal.js';

/*
 * The Telnyx edge against the Telnyx double over real sockets: the TeXML answer and its refusals,
 * the token checked before the upgrade, each codec Telnyx streams (decoded exactly, or refused
 * with a reason), damage on the wire counted, bad frames contained, and audio back into an agent
 * call with marks and clear.
 */

const SECRET = 'telnyx-stream-secret-0123456789abcdef';
const ADMIN = 'telnyx-media-admin-token-0123456789';
const AUTH = { authorization: `Bearer ${ADMIN}` };
const keys = telnyxKeys();
const greeting = demoCall('greeting');
/** ffmpeg's G.722 of 1.8 s of speech and ffmpeg's decoding of it (test/fixtures/g722/README.md). */
const G722_SPEECH = new Uint8Array(readFileSync(new URL('../../fixtures/g722/speech.g722', import.meta.url)));
const G722_DECODED = (() => {
  const raw = readFileSync(new URL('../../fixtures/g722/speech.s16le', import.meta.url));
  return Int16Array.from({ length: raw.length / 2 }, (_, i) => raw.readInt16LE(2 * i));
})();

let gateway: Gateway;
beforeAll(async () => {
  gateway = await startGateway({
    TELNYX_PUBLIC_KEY: keys.publicKeyBase64,
    TELNYX_STREAM_SECRET: SECRET,
    RECORDING_FORMAT: 'pcm16',
    ADMIN_TOKEN: ADMIN,
  });
}, 30_000);
afterAll(() => gateway.close());

let ids = 0;
/** A Telnyx-style call id and voxline's plain form of it. */
function nextCall(): { callControlId: string; callSid: string } {
  const n = String(++ids).padStart(4, '0');
  return { callControlId: `v3:media-${n}`, callSid: `v3_media-${n}` };
}

function mediaUrl(callControlId: string, expiresAtS = Math.floor(Date.now() / 1000) + 60): string {
  return `${gateway.baseUrl.replace('http', 'ws')}/telnyx/media?token=${mintStreamToken(SECRET, callControlId, expiresAtS)}`;
}

/** What voxline must hand on for G.711 bytes: decoded and upsampled in one go. */
function expected16k(linear8k: Int16Array): Int16Array {
  return new Upsampler8to16().pushPcm(linear8k);
}

async function texml(fields: Record<string, string>, query = '', options = {}) {
  return fetchTexml(`${gateway.baseUrl}/telnyx/texml${query}`, keys, fields, options);
}

/** Opens an upgrade and says how it was answered: the HTTP status of a refusal, or 101. */
async function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
    socket.once('open', () => {
      socket.close();
      resolve(101);
    });
    socket.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    socket.once('error', () => resolve(0));
  });
}

describe('the TeXML answer', () => {
  it('transcribe: a listen-only, both-track <Stream> whose URL carries the call token, then the call held', async () => {
    const answer = await texml({ CallSid: 'v3:answer-1', From: '+13125550100', To: '+13125550199' });
    expect(answer.status).toBe(200);
    expect(answer.streamAttributes).toMatchObject({
      track: 'both_tracks',
      codec: 'PCMU',
      statusCallback: `${gateway.baseUrl}/telnyx/status`,
    });
    expect(answer.streamAttributes.bidirectionalMode).toBeUndefined();
    const url = new URL(answer.streamUrl ?? '');
    expect(`${url.protocol}//${url.host}${url.pathname}`).toBe(
      `${gateway.baseUrl.replace('http', 'ws')}/telnyx/media`,
    );
    expect(url.searchParams.get('token')).toMatch(/^\d+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(answer.parameters).toMatchObject({
      voxlineMode: 'transcribe',
      voxlineTracks: 'both',
      from: '+13125550100',
      to: '+13125550199',
    });
    expect(answer.body).toContain('<Pause length="3600"/>');
  });

  it('agent: the caller track only, bidirectional in RTP mode with PCMU back', async () => {
    const answer = await texml({ CallSid: 'v3:answer-2' }, '?mode=agent');
    expect(answer.streamAttributes).toMatchObject({
      track: 'inbound_track',
      bidirectionalMode: 'rtp',
      bidirectionalCodec: 'PCMU',
    });
    expect(answer.parameters).toMatchObject({ voxlineMode: 'agent', voxlineTracks: 'inbound' });
  });

  it('refuses (403, no TeXML) an unsigned, forged, tampered or stale request', async () => {
    const fields = { CallSid: 'v3:answer-3' };
    const other = telnyxKeys();
    const stale = String(Math.floor(Date.now() / 1000) - 301);
    for (const [what, options] of [
      ['unsigned', { unsigned: true }],
      ['signed by another key', { signature: undefined as string | undefined, otherKey: true }],
      ['tampered after signing', { tamper: (body: string) => body.replace('answer-3', 'answer-4') }],
      ['stale', { timestamp: stale }],
      ['garbage signature', { signature: 'bm90IGEgc2lnbmF0dXJl' }],
    ] as const) {
      const response =
        'otherKey' in options
          ? await postTelnyxWebhook(`${gateway.baseUrl}/telnyx/texml`, other, fields)
          : await postTelnyxWebhook(`${gateway.baseUrl}/telnyx/texml`, keys, fields, options);
      expect(response.status, what).toBe(403);
      expect(response.body, what).not.toContain('<Stream');
      expect(JSON.parse(response.body).error.code, what).toBe('VL_ERR_CARRIER_SIGNATURE');
    }
  });

  it('a signed status callback is kept on the live call; an unsigned one is refused', async () => {
    const { callControlId, callSid } = nextCall();
    const running = streamTelnyxCall({
      url: mediaUrl(callControlId),
      callControlId,
      tracks: { inbound: greeting.caller },
      customParameters: { voxlineTracks: 'inbound' },
      pace: 'realtime',
    });
    await eventually(() => expect(gateway.app.registry.get(callSid)).toBeDefined());
    const fields = {
      CallSid: callControlId,
      StreamEvent: 'stream-started',
      StreamSid: 'abc',
      StreamName: 'voxline',
    };
    const url = `${gateway.baseUrl}/telnyx/status`;
    expect((await postTelnyxWebhook(url, keys, fields, { unsigned: true })).status).toBe(403);
    expect((await postTelnyxWebhook(url, keys, fields)).status).toBe(204);
    await running;
    const { body } = await gateway.get(`/v1/calls/${callSid}`, AUTH);
    expect(body.status).toEqual([
      {
        event: 'stream-started',
        receivedAt: expect.any(String),
        detail: { StreamSid: 'abc', StreamName: 'voxline', StreamEvent: 'stream-started' },
      },
    ]);
  }, 15_000);
});

describe('the media stream', () => {
  it('is refused before the upgrade (plain 403, no socket) without a valid, fresh token', async () => {
    const base = `${gateway.baseUrl.replace('http', 'ws')}/telnyx/media`;
    expect(await upgradeStatus(base)).toBe(403);
    expect(await upgradeStatus(`${base}?token=nonsense`)).toBe(403);
    const forged = mintStreamToken(
      'another-secret-0123456789abcdefghij',
      'v3:x',
      Math.floor(Date.now() / 1000) + 60,
    );
    expect(await upgradeStatus(`${base}?token=${forged}`)).toBe(403);
    expect(await upgradeStatus(mediaUrl('v3:x', Math.floor(Date.now() / 1000) - 1))).toBe(403);
    expect(await upgradeStatus(mediaUrl('v3:x'))).toBe(101);
  });

  it('a token for one call cannot carry another call: closed 1008 at start, no call opened', async () => {
    const result = await streamTelnyxCall({
      url: mediaUrl('v3:the-call-it-was-for'),
      callControlId: 'v3:another-call',
      tracks: { inbound: greeting.caller },
    });
    expect(result.closeCode).toBe(1008);
    expect(result.closeReason).toMatch(/issued for another call/);
    expect(gateway.app.registry.get('v3_another-call')).toBeUndefined();
  });

  it('L16 at 16 kHz, big-endian on the wire, reaches the core and the recording sample for sample', async () => {
    const { callControlId, callSid } = nextCall();
    const tone = sine(16_000 * 2, 16_000, 440, 9000); // 2 s
    const voice = sine(16_000 * 2, 16_000, 1250, 6000);
    const bigEndian = (pcm: Int16Array) => {
      const out = Buffer.alloc(pcm.length * 2);
      for (let i = 0; i < pcm.length; i++) out.writeInt16BE(pcm[i] as number, 2 * i);
      return out;
    };
    const result = await streamTelnyxCall({
      url: mediaUrl(callControlId),
      callControlId,
      mediaFormat: { encoding: 'L16', sample_rate: 16000, channels: 1 },
      tracks: { inbound: bigEndian(tone), outbound: bigEndian(voice) },
      frameBytes: 640,
    });
    expect(result.closeCode).toBe(1000);
    expect(firstDifference(gateway.tap.pcm(callSid, 'caller'), tone)).toBe(-1);
    expect(firstDifference(gateway.tap.pcm(callSid, 'agent'), voice)).toBe(-1);
    const wav = await eventually(async () => {
      const response = await fetch(`${gateway.baseUrl}/v1/calls/${callSid}/recording`, { headers: AUTH });
      expect(response.status).toBe(200);
      return Buffer.from(await response.arrayBuffer());
    }, 20_000);
    expect(firstDifference(pcm16Channel(wav, 0), tone)).toBe(-1);
    expect(firstDifference(pcm16Channel(wav, 1), voice)).toBe(-1);
    const { body } = await gateway.get(`/v1/calls/${callSid}`, AUTH);
    expect(body.legs[0]).toMatchObject({ codec: 'l16', sampleRate: 16000, positionMs: 2000 });
  });

  it('PCMA is decoded exactly', async () => {
    const { callControlId, callSid } = nextCall();
    const alaw = pcmToAlaw(mulawToPcm(greeting.caller));
    const result = await streamTelnyxCall({
      url: mediaUrl(callControlId),
      callControlId,
      mediaFormat: { encoding: 'PCMA', sample_rate: 8000, channels: 1 },
      customParameters: { voxlineTracks: 'inbound' },
      tracks: { inbound: alaw },
    });
    expect(result.closeCode).toBe(1000);
    const got = gateway.tap.pcm(callSid, 'caller');
    expect(firstDifference(got, expected16k(alawToPcm(alaw)))).toBe(-1);
    expect(got.length).toBe(greeting.durationMs * 16);
  });

  it('G722 is decoded bit for bit as ffmpeg decodes it, at 16 kHz with no resampling', async () => {
    const { callControlId, callSid } = nextCall();
    const result = await streamTelnyxCall({
      url: mediaUrl(callControlId),
      callControlId,
      mediaFormat: { encoding: 'G722', sample_rate: 16000, channels: 1 },
      customParameters: { voxlineTracks: 'inbound' },
      tracks: { inbound: G722_SPEECH },
    });
    expect(result.closeCode).toBe(1000);
    expect(firstDifference(gateway.tap.pcm(callSid, 'caller'), G722_DECODED)).toBe(-1);
    const { body } = await gateway.get(`/v1/calls/${callSid}`, AUTH);
    expect(body.legs[0]).toMatchObject({ codec: 'g722', positionMs: 1800 });
  });

  it.each([
    ['G722', 48000],
    ['OPUS', 48000],
    ['AMR-WB', 16000],
    ['PCMU', 16000],
    ['L16', 96000],
  ])('%s at %i Hz is refused at start: closed 1003 with the format named, no call opened', async (encoding, rate) => {
    const { callControlId, callSid } = nextCall();
    const result = await streamTelnyxCall({
      url: mediaUrl(callControlId),
      callControlId,
      mediaFormat: { encoding, sample_rate: rate, channels: 1 },
      tracks: { inbound: greeting.caller },
    });
    expect(result.closeCode).toBe(1003);
    expect(result.closeReason).toContain(`unsupported media format ${encoding}/${rate}/1`);
    expect(gateway.app.registry.get(callSid)).toBeUndefined();
    const { status } = await gateway.get(`/v1/calls/${callSid}`, AUTH);
    expect(status).toBe(404);
  });

  it('counts what the wire did: lost frames (laid end to end), duplicates dropped, the rest in order', async () => {
    const { callControlId, callSid } = nextCall();
    const drop = new Set([10, 41, 90]);
    const duplicate = new Set([20, 21, 150]);
    const options: StreamOptions = {
      url: mediaUrl(callControlId),
      callControlId,
      customParameters: { voxlineTracks: 'inbound' },
      tracks: { inbound: greeting.caller },
      drop,
      duplicate,
      swapWithNext: new Set([30, 60]),
    };
    const result = await streamTelnyxCall(options);
    expect(result.closeCode).toBe(1000);
    const { body } = await gateway.get(`/v1/calls/${callSid}`, AUTH);
    expect(body.rtp).toEqual([
      { stream: `stream-${callControlId}`, reordered: 2, late: 0, duplicates: 3, missing: drop.size },
    ]);
    // Audio is placed by order, not by the undocumented timestamp: each loss shortens the leg by 20 ms.
    const frames = greeting.durationMs / 20;
    expect(body.legs[0]).toMatchObject({
      framesReceived: frames - drop.size,
      positionMs: (frames - drop.size) * 20,
    });
    const kept = Buffer.concat(
      Array.from({ length: frames }, (_, i) => i)
        .filter((i) => !drop.has(i))
        .map((i) => greeting.caller.subarray(i * 160, (i + 1) * 160)),
    );
    expect(firstDifference(gateway.tap.pcm(callSid, 'caller'), expected16k(mulawToPcm(kept)))).toBe(-1);
  });

  it('contains bad frames: each counted, the call goes on and ends with its audio whole', async () => {
    const { callControlId, callSid } = nextCall();
    const streamId = `stream-${callControlId}`;
    const bad = [
      'not json',
      '{"event":"bogus"}',
      '[1,2,3]',
      'null',
      JSON.stringify({
        event: 'media',
        sequence_number: '2',
        stream_id: streamId,
        media: { track: 'inbound', payload: '@@@@' },
      }),
      JSON.stringify({
        event: 'media',
        sequence_number: 'x',
        stream_id: streamId,
        media: { track: 'inbound', payload: 'AAAA' },
      }),
      JSON.stringify({
        event: 'media',
        sequence_number: '3',
        stream_id: 'someone-else',
        media: { track: 'inbound', payload: 'AAAA' },
      }),
      JSON.stringify({ event: 'dtmf', stream_id: streamId, dtmf: { digit: 'pressed' } }),
      JSON.stringify({ event: 'start', stream_id: streamId, start: { call_control_id: callControlId } }),
      JSON.stringify({
        event: 'media',
        sequence_number: '999999',
        stream_id: streamId,
        media: { track: 'inbound', payload: 'AAAA' },
      }),
    ];
    const result = await streamTelnyxCall({
      url: mediaUrl(callControlId),
      callControlId,
      customParameters: { voxlineTracks: 'inbound' },
      tracks: { inbound: greeting.caller },
      extraFrames: bad,
    });
    expect(result.closeCode).toBe(1000);
    const { body } = await gateway.get(`/v1/calls/${callSid}`, AUTH);
    expect(body).toMatchObject({ state: 'ended', endReason: 'stop' });
    expect(body.malformedMessages.total).toBe(bad.length);
    expect(
      firstDifference(gateway.tap.pcm(callSid, 'caller'), expected16k(mulawToPcm(greeting.caller))),
    ).toBe(-1);
  });

  it('a stream that floods bad frames is closed 1008 once past the limit, and the call is finalized', async () => {
    const { callControlId, callSid } = nextCall();
    const result = await streamTelnyxCall({
      url: mediaUrl(callControlId),
      callControlId,
      tracks: { inbound: greeting.caller },
      extraFrames: Array.from({ length: 150 }, () => '{"event":"nope"}'),
    });
    expect(result.closeCode).toBe(1008);
    expect(result.closeReason).toMatch(/too many malformed messages/);
    const { body } = await gateway.get(`/v1/calls/${callSid}`, AUTH);
    expect(body.state).toBe('ended');
  });
});

describe('audio back into an agent call (RTP bidirectional mode)', () => {
  /** An agent-mode call from voxline's own TeXML, at real-time pace; returns it once live. */
  async function agentCall() {
    const { callControlId, callSid } = nextCall();
    const answer = await texml({ CallSid: callControlId }, '?mode=agent');
    const running = streamTelnyxCall({
      url: answer.streamUrl ?? '',
      callControlId,
      customParameters: answer.parameters,
      tracks: { inbound: greeting.caller },
      pace: 'realtime',
    });
    const call = await eventually(() => {
      const live = gateway.app.registry.get(callSid);
      if (!live?.outbound) throw new Error('not live yet');
      return live as Call & { outbound: NonNullable<Call['outbound']> };
    });
    return { call, running };
  }

  it('sends 16 kHz PCM as 8 kHz μ-law in whole 20 ms frames; the mark comes back once it has played', async () => {
    const { call, running } = await agentCall();
    expect(call.start).toMatchObject({
      ingress: 'telnyx',
      mode: 'agent',
      bidirectional: true,
      tracks: ['inbound'],
    });
    const tone = sine(16000, 16000, 1000, 8000); // 1 s at 1 kHz
    const sentAt = performance.now();
    for (let at = 0; at < tone.length; at += 300) call.outbound.sendPcm(tone.subarray(at, at + 300));
    const mark = await call.outbound.mark('greeting-done');
    expect(mark).toEqual({ name: 'greeting-done', cleared: false });
    expect(performance.now() - sentAt).toBeGreaterThan(900); // Telnyx plays at real time before echoing

    const result = await running;
    expect(result.received.marks).toEqual(['greeting-done']);
    expect(result.received.media.every((m) => m.length % 160 === 0 && m.length <= 8000)).toBe(true);
    const heard = mulawToPcm(Buffer.concat(result.received.media));
    expect(heard.length).toBe(8000);
    expect(amplitudeAt(heard, 8000, 1000, 100, 7900)).toBeGreaterThan(7800);
  }, 15_000);

  it('clear drops queued audio and the pending mark comes back at once, flagged cleared', async () => {
    const { call, running } = await agentCall();
    call.outbound.sendPcm(sine(48000, 16000, 500, 8000)); // 3 s queued at Telnyx
    const marked = call.outbound.mark('long-answer');
    const clearedAt = performance.now();
    call.outbound.clear();
    expect(await marked).toEqual({ name: 'long-answer', cleared: true });
    expect(performance.now() - clearedAt).toBeLessThan(500);
    const result = await running;
    expect(result.received.clears).toBe(1);
    expect(result.received.frames.at(-1)).toEqual({ event: 'clear' });
  }, 15_000);

  it('pending marks resolve as cleared when the call ends, and sending after the end fails clearly', async () => {
    const { call, running } = await agentCall();
    call.outbound.sendPcm(sine(160000, 16000, 500, 8000)); // 10 s: the call ends first
    const mark = call.outbound.mark('never-played');
    await running;
    expect(await mark).toEqual({ name: 'never-played', cleared: true });
    expect(() => call.outbound.sendPcm(new Int16Array(320))).toThrow(/the call has ended/);
  }, 15_000);

  it('listen-only (transcribe) calls offer no outbound audio', async () => {
    const { callControlId, callSid } = nextCall();
    const result = await streamTelnyxCall({
      url: mediaUrl(callControlId),
      callControlId,
      tracks: { inbound: greeting.caller },
    });
    expect(gateway.app.registry.get(callSid)?.outbound).toBeUndefined();
    expect(result.received.frames).toEqual([]);
  });
});
