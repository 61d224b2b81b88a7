import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalEngine } from '../../../src/asr/local/local-engine.js';
import { DELAYED_FINAL_MS } from '../../../src/asr/local/local-stream.js';
import {
  type LoadedVoxtral,
  loadVoxtralOnnx,
  type VoxtralModel,
} from '../../../src/asr/local/voxtral-onnx.js';
import type { StreamObserver } from '../../../src/asr/realtime-options.js';
import type { SttStream } from '../../../src/asr/stt.js';
import type { FinalEvent, TranscriptEvent } from '../../../src/asr/transcript-event.js';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { AsrMetrics } from '../../../src/observability/asr-metrics.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { demoCall } from '../../helpers/media.js';

/**
 * The in-process engine on a machine that cannot keep up: the tiny model's generations are held
 * back by a gate the test opens (a model far slower than real time, on a clock the test moves), so
 * utterances from several legs queue for the one loaded model.
 */

const TINY = new URL('../../fixtures/tiny-voxtral', import.meta.url).pathname;
const log = pino({ level: 'silent' });
const MODEL = {
  model: 'tiny',
  path: TINY,
  dtype: 'fp32' as const,
  device: 'cpu' as const,
  cacheDir: '/tmp/voxline-test-models',
  endpoint: 'https://huggingface.co',
};
const engines: LocalEngine[] = [];

afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

const quiet: StreamObserver = {
  latency: () => undefined,
  reconnect: () => undefined,
  audioSent: () => undefined,
  dropped: () => undefined,
};

type Generate = VoxtralModel['generate'];

/** Loads the tiny model with its `generate` wrapped by `around` (which may call the real one). */
function wrappedModel(
  around: (generate: Generate, options: Parameters<Generate>[0]) => ReturnType<Generate>,
) {
  return async (): Promise<LoadedVoxtral> => {
    const loaded = await loadVoxtralOnnx(MODEL);
    const { model } = loaded;
    return {
      ...loaded,
      model: {
        generate: (options) => around((o) => model.generate(o), options),
        dispose: () => model.dispose(),
      },
    };
  };
}

/** A model whose generations do not start until `open()`: a machine far behind real time. */
function stalledModel() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  let started = 0;
  const load = wrappedModel(async (generate, options) => {
    started++;
    await opened;
    return generate(options);
  });
  return { load, open, started: () => started };
}

function engine(options: { load?: () => Promise<LoadedVoxtral>; maxQueuedMs?: number } = {}) {
  const registry = new Registry();
  const metrics = new AsrMetrics(registry, 'local');
  const e = new LocalEngine({
    model: MODEL,
    instances: 1,
    maxBufferMs: 60_000,
    maxUtteranceMs: 30_000,
    ...(options.maxQueuedMs !== undefined ? { maxQueuedMs: options.maxQueuedMs } : {}),
    observer: quiet,
    log,
    ...(options.load ? { load: options.load } : {}),
  });
  metrics.watchLocalEngine(() => e.load());
  engines.push(e);
  return { engine: e, metrics, registry };
}

function open(e: LocalEngine, leg: string, clock: ManualClock, metrics?: AsrMetrics) {
  const events: TranscriptEvent[] = [];
  const lost: [number, number][] = [];
  const stream = e.stream({
    callSid: `CA${leg}`,
    leg,
    track: 'inbound',
    log,
    clock,
    onEvent: (event) => {
      events.push(event);
      metrics?.event(event);
    },
    onLost: (s, end) => lost.push([s, end]),
  });
  const finals = () => events.filter((ev): ev is FinalEvent => ev.type === 'final');
  return { stream, events, lost, finals };
}

/** The greeting demo's caller sentence, as 20 ms frames of 16 kHz PCM, then the end of speech. */
function say(stream: SttStream, fromMs: number, toMs: number): void {
  const pcm = new Upsampler8to16().pushMulaw(demoCall('greeting').caller);
  for (let ms = fromMs; ms < toMs; ms += 20) {
    stream.pushFrame({
      leg: 'caller',
      pcm: pcm.subarray(ms * 16, (ms + 20) * 16),
      mulaw: new Uint8Array(160),
      startMs: ms,
      durationMs: 20,
      filled: false,
    });
  }
  stream.flush(toMs);
}

/** What the tiny model writes for that second of speech when nothing holds it back. */
async function referenceText(): Promise<string> {
  const { engine: e } = engine();
  const leg = open(e, 'reference', new ManualClock());
  say(leg.stream, 1_900, 2_900);
  await leg.stream.endInput();
  leg.stream.close();
  const [final] = leg.finals();
  return final.text;
}

describe('the in-process engine behind real time: late but complete, marked, bounded', () => {
  it('queues utterances of three legs on one stalled model; their finals come late, complete, marked delayed with their lag, none lost', async () => {
    const expected = await referenceText();
    const clock = new ManualClock();
    const model = stalledModel();
    const { engine: e, metrics, registry } = engine({ load: model.load });
    const legs = ['caller', 'agent', 'supervisor'].map((leg) => open(e, leg, clock, metrics));
    for (const leg of legs) say(leg.stream, 1_900, 2_900);
    await expect.poll(model.started, { timeout: 10_000 }).toBe(1);
    const waiting = await e.probe();
    expect(waiting.endpoints[0]).toMatchObject({ state: 'up', queuedUtterances: 2, heldAudioMs: 3_000 });
    expect(waiting.endpoints[0].detail).toBe('1/1 busy, 2 utterances waiting, 3.0 s of speech held');
    const scrape = await registry.metrics();
    expect(scrape).toMatch(/^voxline_asr_local_queued_utterances 2$/m);
    expect(scrape).toMatch(/^voxline_asr_local_held_audio_seconds 3$/m);

    // Twelve seconds pass with the model stuck, then it runs.
    await clock.advance(12_000);
    model.open();
    for (const leg of legs) await expect.poll(() => leg.finals().length, { timeout: 20_000 }).toBe(1);
    for (const leg of legs) {
      const [final] = leg.finals();
      expect(final.text).toBe(expected); // complete: what an unhurried model writes
      expect(final).toMatchObject({ delayed: true, startMs: 1_900, endMs: 2_900, engine: 'local' });
      expect(final.lagMs).toBeGreaterThanOrEqual(12_000);
      expect(leg.events.filter((ev) => ev.type === 'error')).toEqual([]);
      expect(leg.lost).toEqual([]);
      expect(leg.stream.stats.droppedMs).toBe(0);
      await leg.stream.endInput();
      leg.stream.close();
    }
    const after = await e.probe();
    expect(after.endpoints[0]).toMatchObject({ queuedUtterances: 0, heldAudioMs: 0 });
    expect(after.endpoints[0].realTimeFactor).toBeGreaterThan(0);
    expect(await registry.metrics()).toMatch(/^voxline_asr_delayed_finals_total\{engine="local"\} 3$/m);
  });

  it('a final the model writes at once is not marked delayed; its lag is what the clock says', async () => {
    const clock = new ManualClock();
    const { engine: e } = engine();
    const leg = open(e, 'caller', clock);
    say(leg.stream, 1_900, 2_900);
    await leg.stream.endInput();
    const [final] = leg.finals();
    expect(final).toMatchObject({ delayed: false, lagMs: 0 });
    expect(DELAYED_FINAL_MS).toBeGreaterThan(0);
    leg.stream.close();
  });

  it('past LOCAL_QUEUE_MAX_MS new speech is refused: the leg is told once, the audio counted and reported lost; room comes back as the queue drains', async () => {
    const clock = new ManualClock();
    const model = stalledModel();
    const { engine: e } = engine({ load: model.load, maxQueuedMs: 2_500 });
    const [first, second, third] = ['caller', 'agent', 'supervisor'].map((leg) => open(e, leg, clock));
    say(first.stream, 1_900, 2_900);
    say(second.stream, 1_900, 2_900);
    say(third.stream, 1_900, 2_900); // room for its first 500 ms only
    expect(third.events).toHaveLength(1);
    expect(third.events[0]).toMatchObject({ type: 'error', code: 'audio_dropped', recoverable: true });
    expect((third.events[0] as { message: string }).message).toMatch(/LOCAL_QUEUE_MAX_MS/);
    expect(third.stream.stats.droppedMs).toBe(500);
    expect(third.lost[0]).toEqual([2_400, 2_420]);
    expect(third.lost.reduce((ms, [s, end]) => ms + end - s, 0)).toBe(500);
    expect(first.events).toEqual([]);
    expect(second.events).toEqual([]);

    model.open();
    for (const leg of [first, second, third])
      await expect.poll(() => leg.finals().length, { timeout: 20_000 }).toBe(1);
    expect(third.finals()[0]).toMatchObject({ startMs: 1_900, endMs: 2_900 });
    expect((await e.probe()).endpoints[0]).toMatchObject({ heldAudioMs: 0 });
    // The queue drained: the same leg's next utterance is taken whole, with no new error.
    say(third.stream, 2_900, 3_900);
    await expect.poll(() => third.finals().length, { timeout: 20_000 }).toBe(2);
    expect(third.events.filter((ev) => ev.type === 'error')).toHaveLength(1);
    expect(third.stream.stats.droppedMs).toBe(500);
    for (const leg of [first, second, third]) leg.stream.close();
  });

  it('an utterance whose generation fails is reported, counted lost and handed to redaction, and the next one runs', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const failingFirst = wrappedModel(async (generate, options) => {
      if (++calls === 1) throw new Error('onnxruntime failed on this utterance');
      return generate(options);
    });
    const { engine: e } = engine({ load: failingFirst });
    const leg = open(e, 'caller', clock);
    say(leg.stream, 1_900, 2_900);
    await expect.poll(() => leg.events.length, { timeout: 10_000 }).toBe(1);
    expect(leg.events[0]).toMatchObject({ type: 'error', code: 'utterance_failed', recoverable: true });
    expect(leg.lost).toEqual([[1_900, 2_900]]);
    expect(leg.stream.stats.droppedMs).toBe(1_000);
    say(leg.stream, 2_900, 3_900);
    await expect.poll(() => leg.finals().length, { timeout: 20_000 }).toBe(1);
    expect(leg.finals()[0]).toMatchObject({ startMs: 2_900, endMs: 3_900 });
    leg.stream.close();
  });
});
