import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalEngine } from '../../../src/asr/local/local-engine.js';
import type { StreamObserver } from '../../../src/asr/realtime-options.js';
import type { SttStream } from '../../../src/asr/stt.js';
import type { TranscriptEvent } from '../../../src/asr/transcript-event.js';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { demoCall } from '../../helpers/media.js';

/** The tiny random-weight model built by test/fixtures/tiny-voxtral/build_tiny_voxtral.py. */
const TINY = new URL('../../fixtures/tiny-voxtral', import.meta.url).pathname;
const log = pino({ level: 'silent' });
const engines: LocalEngine[] = [];

afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

function observer() {
  const seen = { rtf: [] as number[], dropped: new Map<string, number>(), audioSeconds: 0 };
  const o: StreamObserver = {
    latency: () => undefined,
    reconnect: () => undefined,
    audioSent: (_leg, s) => {
      seen.audioSeconds += s;
    },
    dropped: (_leg, ms, code) => seen.dropped.set(code, (seen.dropped.get(code) ?? 0) + ms),
    realTimeFactor: (_leg, ratio) => seen.rtf.push(ratio),
  };
  return { o, seen };
}

function engine(options: { path?: string; instances?: number } = {}) {
  const { o, seen } = observer();
  const e = new LocalEngine({
    model: {
      model: 'tiny',
      path: options.path ?? TINY,
      dtype: 'fp32',
      device: 'cpu',
      cacheDir: '/tmp/voxline-test-models',
      endpoint: 'https://huggingface.co',
    },
    instances: options.instances ?? 1,
    maxBufferMs: 60_000,
    maxUtteranceMs: 30_000,
    observer: o,
    log,
  });
  engines.push(e);
  return { engine: e, seen };
}

function open(e: LocalEngine, leg = 'caller') {
  const events: TranscriptEvent[] = [];
  const stream = e.stream({
    callSid: 'CAtiny',
    leg,
    track: 'inbound',
    log,
    onEvent: (event) => events.push(event),
  });
  return { stream, events };
}

/** The greeting demo's caller sentence (1.9–4.9 s), as 20 ms frames of 16 kHz PCM. */
function speak(stream: SttStream, fromMs = 1_900, toMs = 4_900): number {
  const pcm = new Upsampler8to16().pushMulaw(demoCall('greeting').caller);
  let sent = 0;
  for (let ms = fromMs; ms < toMs; ms += 20) {
    stream.pushFrame({
      leg: 'caller',
      pcm: pcm.subarray(ms * 16, (ms + 20) * 16),
      mulaw: new Uint8Array(160),
      startMs: ms,
      durationMs: 20,
      filled: false,
    });
    sent += 20;
  }
  return sent;
}

describe('the in-process engine on a tiny Voxtral-shaped model (real transformers.js and onnxruntime-node)', () => {
  it('streams an utterance: partials as tokens decode, a final with words, one step per 80 ms', async () => {
    const { engine: e, seen } = engine();
    const { stream, events } = open(e);
    const sentMs = speak(stream);
    stream.flush(4_900);
    await stream.endInput();
    stream.close();
    const finals = events.filter((ev) => ev.type === 'final');
    expect(finals).toHaveLength(1);
    const final = finals[0] as Extract<TranscriptEvent, { type: 'final' }>;
    expect(final).toMatchObject({
      leg: 'caller',
      startMs: 1_900,
      endMs: 4_900,
      engine: 'local',
      recovered: false,
    });
    // The tiny model writes one word per step: every 80 ms of speech plus the right-pad of silence
    // (17 steps) that lets the model's 480 ms delay run out, less the first chunk's 7.
    const steps = final.words.length;
    expect(steps).toBe(Math.ceil(sentMs / 80) + 17 - 7 + 1);
    expect(final.words[1].startMs - final.words[0].startMs).toBe(80);
    expect(final.words[0].startMs).toBe(1_900);
    expect(final.text.split(' ')).toHaveLength(steps);
    const partials = events.filter((ev) => ev.type === 'partial');
    expect(partials.length).toBeGreaterThan(steps / 2);
    expect(seen.rtf).toHaveLength(1);
    expect(seen.rtf[0]).toBeLessThan(1); // a tiny model is far faster than real time
    expect(seen.audioSeconds).toBeGreaterThan(3);
  });

  it("transcribes two legs on one loaded model: the agent leg's utterance waits its turn, then gets its final", async () => {
    const { engine: e } = engine({ instances: 1 });
    const first = open(e, 'caller');
    const second = open(e, 'agent');
    speak(first.stream, 1_900, 3_900); // no flush yet: the caller's utterance holds the model
    speak(second.stream, 1_900, 2_900);
    second.stream.flush(2_900);
    await expect.poll(() => first.events.some((ev) => ev.type === 'partial'), { timeout: 10_000 }).toBe(true);
    expect((await e.probe()).endpoints[0].detail).toBe('1/1 busy, 1 utterance waiting, 3.0 s of speech held');
    expect(second.events).toEqual([]);
    first.stream.flush(3_900);
    await expect.poll(() => second.events.some((ev) => ev.type === 'final'), { timeout: 10_000 }).toBe(true);
    expect(first.events.filter((ev) => ev.type === 'final')).toHaveLength(1);
    expect(second.events.filter((ev) => ev.type === 'error')).toEqual([]);
    expect(second.stream.stats.droppedMs).toBe(0);
    first.stream.close();
    second.stream.close();
  });

  it('shut down with an utterance still waiting its turn: that leg hears why and counts its audio lost, never a silent loss', async () => {
    const { engine: e, seen } = engine({ instances: 1 });
    const first = open(e, 'caller');
    const second = open(e, 'agent');
    speak(first.stream, 1_900, 3_900); // no flush: the caller's utterance holds the model
    speak(second.stream, 1_900, 2_900);
    second.stream.flush(2_900);
    await expect.poll(() => first.events.some((ev) => ev.type === 'partial'), { timeout: 10_000 }).toBe(true);
    const closing = e.close();
    engines.splice(engines.indexOf(e), 1);
    await expect.poll(() => second.events.length, { timeout: 5_000 }).toBe(1);
    expect(second.events[0]).toMatchObject({ type: 'error', code: 'engine_unavailable', recoverable: false });
    expect((second.events[0] as { message: string }).message).toMatch(
      /closed before this utterance had its turn/,
    );
    expect(second.stream.stats.droppedMs).toBe(1_000);
    expect(seen.dropped.get('engine_unavailable')).toBe(1_000);
    first.stream.close(); // the running generation stops; then the model is freed
    await closing;
  });

  it('fails clearly, without hanging, when the model is not there; /readyz says why', async () => {
    const { engine: e, seen } = engine({ path: '/nonexistent/voxtral-model' });
    const { stream, events } = open(e);
    speak(stream, 1_900, 2_100); // the first utterance asks for the model, which cannot load
    await expect.poll(() => events.length, { timeout: 10_000 }).toBe(1);
    expect(events[0]).toMatchObject({ type: 'error', code: 'engine_unavailable', recoverable: false });
    expect((events[0] as { message: string }).message).toMatch(/folder \/nonexistent\/voxtral-model/);
    expect(seen.dropped.get('engine_unavailable')).toBe(200);
    speak(stream, 2_100, 2_300); // later audio is counted as dropped, not held
    expect(seen.dropped.get('engine_unavailable')).toBe(400);
    await stream.endInput();
    stream.close();
    const health = await e.probe();
    expect(health).toMatchObject({ engine: 'local', ready: false, endpoints: [{ state: 'down' }] });
  });

  it('stops a generation when the leg closes mid-utterance, and reports ready once loaded', async () => {
    const { engine: e } = engine();
    e.warmUp();
    await expect.poll(async () => (await e.probe()).ready, { timeout: 10_000 }).toBe(true);
    const { stream, events } = open(e);
    speak(stream, 1_900, 3_500); // no flush: the utterance is still open
    await expect.poll(() => events.some((ev) => ev.type === 'partial'), { timeout: 5_000 }).toBe(true);
    stream.close();
    expect(stream.stats.droppedMs).toBeGreaterThan(0);
    // The generation stops and the model goes back: another leg's utterance runs on it.
    await expect
      .poll(async () => (await e.probe()).endpoints[0].detail, { timeout: 5_000 })
      .toBe('0/1 busy, 0 utterances waiting');
    expect(events.some((ev) => ev.type === 'final')).toBe(false);
    const next = open(e);
    speak(next.stream, 1_900, 2_900);
    next.stream.flush(2_900);
    await expect.poll(() => next.events.some((ev) => ev.type === 'final'), { timeout: 10_000 }).toBe(true);
    next.stream.close();
  });

  it('shuts down cleanly: close() frees the models and leaves no timers or handles', async () => {
    const count = () => process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
    const before = count();
    const { engine: e } = engine();
    const { stream } = open(e);
    speak(stream, 1_900, 2_900);
    stream.flush(2_900);
    await stream.endInput();
    stream.close();
    await e.close();
    engines.splice(engines.indexOf(e), 1);
    await expect.poll(count, { timeout: 2_000 }).toBeLessThanOrEqual(before);
  });
});
