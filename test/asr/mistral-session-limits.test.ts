import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MistralEngine } from '../../src/asr/mistral/mistral-engine.js';
import type { RealtimeLimits, StreamObserver } from '../../src/asr/realtime-options.js';
import type { SttStream } from '../../src/asr/stt.js';
import type { ErrorEvent, FinalEvent, TranscriptEvent } from '../../src/asr/transcript-event.js';
import type { AudioFrame } from '../../src/audio/frame.js';
import { type MistralDoubleOptions, MistralRealtimeDouble } from '../doubles/mistral-realtime-double.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { type DemoSegment, demoCall } from '../helpers/media.js';

/**
 * Mistral's session limits, driven on a ManualClock shared by the streams and the double (its
 * session ages): no test sleeps. Audio goes over real sockets to the double; a test waits for
 * what the sockets bring (a final, a refusal) and moves the clock only where time must pass.
 */

const call = demoCall('support-call');
const reference = new ReferenceAudio([call]);
const SILENT_PCM = new Int16Array(320); // μ-law sessions send frame.mulaw; the PCM is not read
const LIMITS: RealtimeLimits = {
  maxBufferMs: 90_000,
  // Real socket round trips take no ManualClock time: these never fire while one is under way.
  connectTimeoutMs: 600_000,
  doneTimeoutMs: 600_000,
  backoffBaseMs: 100,
  backoffMaxMs: 1_000,
};

let double: MistralRealtimeDouble | undefined;
const streams: SttStream[] = [];

afterEach(async () => {
  for (const s of streams.splice(0)) s.close();
  await double?.close();
  double = undefined;
});

/** Calls `check` after every event, until it holds (event-driven: no polling, no timers). */
class Watch {
  readonly #waiters: { check: () => boolean; resolve: () => void }[] = [];

  notify(): void {
    for (const w of [...this.#waiters]) {
      if (!w.check()) continue;
      this.#waiters.splice(this.#waiters.indexOf(w), 1);
      w.resolve();
    }
  }

  until(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ check, resolve }));
  }
}

interface Leg {
  readonly stream: SttStream;
  readonly finals: FinalEvent[];
  readonly errors: ErrorEvent[];
  readonly lost: [number, number][];
}

interface Harness {
  readonly clock: ManualClock;
  readonly double: MistralRealtimeDouble;
  readonly watch: Watch;
  readonly counts: { rotations: number; waits: number[]; reconnects: number };
  /** Every final of every leg, in the order they arrived. */
  readonly order: FinalEvent[];
  leg(name: 'caller' | 'agent'): Leg;
}

async function harness(
  doubleOptions: Omit<MistralDoubleOptions, 'clock'>,
  engine: { sessionMaxMs?: number; maxUtteranceMs?: number; maxSessions?: number; limits?: RealtimeLimits },
): Promise<Harness> {
  const clock = new ManualClock();
  const watch = new Watch();
  double = new MistralRealtimeDouble(reference, { ...doubleOptions, clock });
  for (const event of ['session', 'refused', 'cut', 'segment', 'closed'])
    double.events.on(event, () => watch.notify());
  const url = await double.listen();
  const counts = { rotations: 0, waits: [] as number[], reconnects: 0 };
  const observer: StreamObserver = {
    latency: () => undefined,
    reconnect: () => {
      counts.reconnects++;
      watch.notify();
    },
    audioSent: () => undefined,
    dropped: () => undefined,
    sessionRotated: () => counts.rotations++,
    sessionWaited: (seconds) => counts.waits.push(seconds),
  };
  const mistral = new MistralEngine({
    baseUrl: url,
    apiKey: double.apiKey,
    model: 'voxtral-mini-transcribe-realtime-2602',
    audioFormat: 'mulaw',
    delayMs: 480,
    limits: engine.limits ?? LIMITS,
    observer,
    sessionMaxMs: engine.sessionMaxMs,
    maxUtteranceMs: engine.maxUtteranceMs,
    maxSessions: engine.maxSessions,
  });
  const order: FinalEvent[] = [];
  const legs = new Map<string, Leg>();
  return {
    clock,
    double,
    watch,
    counts,
    order,
    leg(name) {
      const existing = legs.get(name);
      if (existing) return existing;
      const finals: FinalEvent[] = [];
      const errors: ErrorEvent[] = [];
      const lost: [number, number][] = [];
      const stream = mistral.stream({
        callSid: 'CA-limits',
        leg: name,
        track: name === 'caller' ? 'inbound' : 'outbound',
        log: pino({ level: 'silent' }),
        clock,
        onEvent: (event: TranscriptEvent) => {
          if (event.type === 'final') {
            finals.push(event);
            order.push(event);
          } else if (event.type === 'error') errors.push(event);
          watch.notify();
        },
        onLost: (startMs, endMs) => lost.push([startMs, endMs]),
      });
      streams.push(stream);
      const leg = { stream, finals, errors, lost };
      legs.set(name, leg);
      return leg;
    },
  };
}

/** A demo segment's window of its leg's audio, 100 ms either side, in 20 ms frames. */
function window(segment: DemoSegment): { fromMs: number; toMs: number } {
  return {
    fromMs: Math.floor((segment.startMs - 100) / 20) * 20,
    toMs: Math.ceil((segment.endMs + 100) / 20) * 20,
  };
}

function wordsOf(segment: DemoSegment): string[] {
  const { fromMs, toMs } = window(segment);
  return call.words
    .filter((w) => w.leg === segment.leg && w.startMs >= fromMs && w.startMs < toMs)
    .map((w) => w.word);
}

/**
 * Speaks `segment` into its leg as one utterance starting at `atMs` on the call clock, a 20 ms
 * frame per 20 ms of clock (real time, as a carrier sends it), and ends it.
 */
async function speak(h: Harness, segment: DemoSegment, atMs: number, options: { flush?: boolean } = {}) {
  const { stream } = h.leg(segment.leg);
  const { fromMs, toMs } = window(segment);
  const audio = call[segment.leg];
  for (let ms = fromMs; ms < toMs; ms += 20) {
    const frame: AudioFrame = {
      leg: segment.leg,
      pcm: SILENT_PCM,
      mulaw: audio.subarray(ms * 8, ms * 8 + 160),
      startMs: atMs + (ms - fromMs),
      durationMs: 20,
      filled: false,
    };
    stream.pushFrame(frame);
    await h.clock.advance(20);
  }
  if (options.flush !== false) stream.flush(atMs + (toMs - fromMs));
  return atMs + (toMs - fromMs);
}

const text = (f: FinalEvent) => f.words.map((w) => w.word);

describe('Mistral session age: sessions are renewed between utterances before the limit', () => {
  it('a long call on both legs: every utterance one final, in order, none recovered; the double never cuts a session', async () => {
    // The double ends sessions at 60 s; voxline's limit is 50 s and utterances are at most 10 s,
    // so a session takes no new utterance after 40 s.
    const h = await harness({ maxSessionMs: 60_000 }, { sessionMaxMs: 50_000, maxUtteranceMs: 10_000 });
    const caller = h.leg('caller');
    const agent = h.leg('agent');
    await h.watch.until(() => h.double.sessionsOpened === 2 && h.double.sessions.size === 2);

    const spoken: DemoSegment[] = [];
    let atMs = 0;
    for (let round = 0; round < 6; round++) {
      for (const segment of call.segments) {
        const leg = h.leg(segment.leg);
        const before = leg.finals.length;
        atMs = await speak(h, segment, atMs);
        spoken.push(segment);
        await h.watch.until(() => leg.finals.length === before + 1);
        await h.clock.advance(2_000); // a pause before the next turn
        atMs += 2_000;
      }
    }

    expect(atMs).toBeGreaterThan(200_000); // over three minutes of call: five age limits' worth
    for (const [name, leg] of [
      ['caller', caller],
      ['agent', agent],
    ] as const) {
      const expected = spoken.filter((s) => s.leg === name).map(wordsOf);
      expect(leg.finals.map(text)).toEqual(expected);
      expect(leg.finals.map((f) => f.utteranceId)).toEqual(expected.map((_, i) => i + 1));
      expect(leg.finals.filter((f) => f.recovered)).toEqual([]);
      expect(leg.errors).toEqual([]);
      expect(leg.stream.stats.droppedMs).toBe(0);
      expect(leg.stream.stats.reconnects).toBe(0);
    }
    expect(h.double.cuts).toBe(0);
    // Each leg renewed its session every 40–50 s: about four times each over 210 s.
    expect(h.counts.rotations).toBeGreaterThanOrEqual(8);
    expect(h.double.sessionsOpened).toBe(2 + h.counts.rotations);
  }, 60_000);

  for (const endWith of ['event', 'close'] as const) {
    it(`a session the server ends mid-utterance (${endWith === 'event' ? 'an error event, then a close' : 'a close alone'}): the utterance is re-sent on a new session, its final marked recovered, no error`, async () => {
      // The server's limit (10 s) is below what voxline was told (600 s): the double cuts first.
      const h = await harness(
        { maxSessionMs: 10_000, endWith },
        { sessionMaxMs: 600_000, maxUtteranceMs: 10_000 },
      );
      const caller = h.leg('caller');
      await h.watch.until(() => h.double.sessionsOpened === 1 && h.double.sessions.size === 1);
      await h.clock.advance(8_000);
      const segment = call.segments[3]; // the caller, 3.3 s: spans the cut at 10 s
      await speak(h, segment, 8_000);
      expect(h.double.cuts).toBe(1);
      // The stream hears of the cut over the socket, and backs off before reconnecting.
      await h.watch.until(() => h.counts.reconnects === 1);
      await h.clock.advance(LIMITS.backoffMaxMs);
      await h.watch.until(() => caller.finals.length === 1);

      expect(caller.finals.map(text)).toEqual([wordsOf(segment)]);
      expect(caller.finals[0].recovered).toBe(true);
      expect(caller.errors).toEqual([]);
      expect(caller.stream.stats.droppedMs).toBe(0);
      expect(h.double.sessionsOpened).toBe(2);
    }, 30_000);
  }
});

describe('MISTRAL_MAX_SESSIONS: legs beyond the cap wait their turn, bounded', () => {
  it('cap 1, two legs with three utterances each queued at once: all transcribed, turn by turn, the server never over its limit', async () => {
    const h = await harness(
      { maxSessions: 1 },
      { maxSessions: 1, sessionMaxMs: 600_000, maxUtteranceMs: 10_000 },
    );
    const caller = h.leg('caller');
    const agent = h.leg('agent');
    // The caller took the one session; with nothing to say it handed it to the waiting agent.
    await h.watch.until(() => h.double.sessionsOpened === 2 && h.double.sessions.size === 1);

    // Both legs speak, alternating, before any socket traffic is let through.
    const callerTurns = call.segments.filter((s) => s.leg === 'caller').slice(0, 3);
    const agentTurns = call.segments.filter((s) => s.leg === 'agent').slice(0, 3);
    let atMs = 1_000;
    for (let i = 0; i < 3; i++) {
      atMs = await speak(h, callerTurns[i], atMs);
      atMs = await speak(h, agentTurns[i], atMs);
    }
    await h.watch.until(() => caller.finals.length === 3 && agent.finals.length === 3);

    expect(caller.finals.map(text)).toEqual(callerTurns.map(wordsOf));
    expect(agent.finals.map(text)).toEqual(agentTurns.map(wordsOf));
    // Turn by turn, oldest waiter first: no leg waits more than one utterance of the other
    // between its own. (Which goes first depends on whether the agent's session, up when they
    // start speaking, has been set up yet: an idle session goes to the waiting leg.)
    const legs = h.order.map((f) => f.leg);
    expect(legs).toEqual(
      legs[0] === 'caller'
        ? ['caller', 'agent', 'caller', 'agent', 'caller', 'agent']
        : ['agent', 'caller', 'agent', 'caller', 'agent', 'caller'],
    );
    expect(h.double.refusals).toBe(0);
    expect(h.double.peakSessions).toBe(1);
    expect(h.counts.waits.length).toBeGreaterThanOrEqual(6);
    for (const leg of [caller, agent]) {
      expect(leg.errors).toEqual([]);
      expect(leg.finals.filter((f) => f.recovered)).toEqual([]);
      expect(leg.stream.stats.droppedMs).toBe(0);
    }
  }, 30_000);

  it('a leg waiting past ASR_BUFFER_MS: its oldest audio is dropped and reported as in an outage; the rest is transcribed once it gets the session', async () => {
    const limits = { ...LIMITS, maxBufferMs: 6_000 };
    const h = await harness(
      { maxSessions: 1 },
      { maxSessions: 1, sessionMaxMs: 600_000, maxUtteranceMs: 10_000, limits },
    );
    const caller = h.leg('caller');
    const agent = h.leg('agent');
    await h.watch.until(() => h.double.sessionsOpened === 2 && h.double.sessions.size === 1);

    // The caller starts a long turn (the session comes to it), and is still speaking while the
    // agent says four things: 8 s of audio waits, over the 6 s bound.
    const long = call.segments[5]; // the caller, 5.3 s
    const agentTurns = call.segments.filter((s) => s.leg === 'agent').slice(0, 4);
    let atMs = await speak(h, long, 0, { flush: false });
    await h.watch.until(() => h.double.sessionsOpened === 3); // the caller's session is up
    for (const turn of agentTurns) atMs = await speak(h, turn, atMs);
    caller.stream.flush(atMs);
    await h.watch.until(() => caller.finals.length === 1 && agent.finals.length === 3);

    expect(caller.finals.map(text)).toEqual([wordsOf(long)]);
    expect(agent.errors).toEqual([
      expect.objectContaining({
        code: 'engine_unavailable',
        recoverable: true,
        message: expect.stringContaining("has not taken this leg's audio for over 6000 ms"),
      }),
    ]);
    expect(agent.lost).toHaveLength(1);
    expect(agent.stream.stats.droppedMs).toBeGreaterThan(0);
    expect(agent.finals.map(text)).toEqual(agentTurns.slice(1).map(wordsOf));
    expect(h.double.refusals).toBe(0);
  }, 30_000);
});

describe('a server refusing a session for its concurrency limit', () => {
  it('HTTP 429 with Retry-After: no new session before it, even past the backoff; then the audio is transcribed', async () => {
    const h = await harness(
      { maxSessions: 1, refuseWith: 'http', retryAfterS: 20 },
      { sessionMaxMs: 600_000, maxUtteranceMs: 10_000 },
    );
    h.double.holdElsewhere(1);
    const caller = h.leg('caller');
    const segment = call.segments[1];
    await speak(h, segment, 0);
    await h.watch.until(() => h.double.refusals === 1 && h.counts.reconnects === 1);
    h.double.holdElsewhere(0);
    // Five backoffs' worth: the server said 20 s, so no attempt yet.
    await h.clock.advance(5 * LIMITS.backoffMaxMs);
    expect(h.double.refusals).toBe(1);
    expect(h.double.sessionsOpened).toBe(0);
    expect(caller.finals).toEqual([]);
    expect(h.counts.reconnects).toBe(1);
    await h.clock.advance(20_000);
    await h.watch.until(() => caller.finals.length >= 1);
    expect(h.double.refusals).toBe(1);
    expect(caller.stream.stats.droppedMs).toBe(0);
  }, 30_000);

  for (const refuseWith of ['http', 'event'] as const) {
    it(`(${refuseWith === 'http' ? 'HTTP 429 on the upgrade' : 'an error event with code 1300'}): backoff, one recoverable error saying why, then the audio is transcribed`, async () => {
      const h = await harness(
        { maxSessions: 1, refuseWith },
        { sessionMaxMs: 600_000, maxUtteranceMs: 10_000 },
      );
      h.double.holdElsewhere(1); // another application has the key's one session
      const caller = h.leg('caller');
      const segment = call.segments[1];
      await speak(h, segment, 0);
      await h.watch.until(() => h.double.refusals === 1 && h.counts.reconnects === 1);
      await h.clock.advance(LIMITS.backoffMaxMs); // the retry, refused again
      await h.watch.until(() => h.double.refusals === 2 && h.counts.reconnects === 2);
      h.double.holdElsewhere(0);
      await h.clock.advance(LIMITS.backoffMaxMs);
      await h.watch.until(() => caller.finals.length === 1);

      expect(caller.errors).toEqual([
        {
          type: 'error',
          leg: 'caller',
          code: 'engine_unavailable',
          recoverable: true,
          message: expect.stringMatching(
            /^Mistral refused the session \((HTTP 429: )?Rate limit exceeded, code 1300\): too many sessions or requests on this API key: retrying with backoff/,
          ),
        },
      ]);
      expect(caller.finals.map(text)).toEqual([wordsOf(segment)]);
      expect(caller.finals[0].recovered).toBe(false);
      expect(caller.stream.stats.droppedMs).toBe(0);
    }, 30_000);
  }
});
