import type { Word } from '../asr/transcript-event.js';
import type { OutboundAudio } from '../carriers/carrier.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';

export interface PlayoutOptions {
  /** Audio per media message, each followed by a mark (the granularity of "what was heard"). */
  readonly chunkMs: number;
  /** How far ahead of real time audio is sent: covers network jitter, and is what a `clear` must drop. */
  readonly leadMs: number;
  /** Now on the call clock. */
  readonly clock: () => number;
  /** What pacing and the mark wait run on (timers and now); the system clock by default. */
  readonly timers?: Clock;
  /** Told when the first audio of the reply is handed to the carrier. */
  readonly onFirstFrame?: () => void;
  /** Told of every chunk sent, with where it starts playing on the call clock (for the recording). */
  readonly onAudio?: (pcm: Int16Array, startMs: number) => void;
}

/** What the caller heard of a reply, on the call clock. */
export interface Spoken {
  readonly text: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly words: readonly Word[];
  readonly interrupted: boolean;
  /** Characters of the written text that were heard (for the model's memory). */
  readonly heardChars: number;
  readonly heardMs: number;
  readonly sentMs: number;
}

interface Segment {
  readonly text: string;
  readonly pcm: Int16Array;
  /** Where it starts in the reply's audio, ms. */
  readonly audioStartMs: number;
  /** Where it starts on the call clock, once its first chunk was sent. */
  callStartMs: number | undefined;
}

const SAMPLES_PER_MS = 16;
/** After a clear, marks still in flight get this long to come back before the turn is settled. */
const MARK_SETTLE_MS = 2_000;

/**
 * Plays one agent reply into a bidirectional call: 16 kHz PCM sentences in, paced at real time
 * (a little ahead), one media message per chunk followed by a mark. Marks that come back uncleared
 * say how much the caller really heard; `interrupt()` sends `clear`, and the reply's text is then
 * cut to what was heard.
 */
export class Playout {
  readonly #outbound: OutboundAudio;
  readonly #name: string;
  readonly #options: PlayoutOptions;
  readonly #segments: Segment[] = [];
  readonly #marks: Promise<void>[] = [];
  #audioMs = 0;
  #segmentIndex = 0;
  #segmentOffset = 0;
  #sentMs = 0;
  #heardMs = 0;
  /** timers.now() at which audio offset 0 would have started playing (moved on underflow). */
  #startWall: number | undefined;
  #playheadMs = 0;
  readonly #time: Clock;
  #timer: TimerHandle | undefined;
  #finished = false;
  #stopped = false;
  #interrupted = false;
  #settle!: () => void;
  readonly #settled = new Promise<void>((resolve) => {
    this.#settle = resolve;
  });

  constructor(outbound: OutboundAudio, name: string, options: PlayoutOptions) {
    this.#outbound = outbound;
    this.#name = name;
    this.#options = options;
    this.#time = options.timers ?? systemClock;
  }

  get started(): boolean {
    return this.#startWall !== undefined;
  }

  get playing(): boolean {
    return this.started && !this.#stopped;
  }

  /** A sentence's audio, in order. */
  append(text: string, pcm: Int16Array): void {
    if (this.#stopped || this.#finished) return;
    this.#segments.push({ text, pcm, audioStartMs: this.#audioMs, callStartMs: undefined });
    this.#audioMs += pcm.length / SAMPLES_PER_MS;
    this.#pump();
  }

  /** No more sentences: `done` resolves once everything sent was played (or cleared). */
  finish(): void {
    this.#finished = true;
    this.#pump();
  }

  /** Barge-in: the carrier drops what it has queued, and nothing more is sent. */
  interrupt(): void {
    if (this.#stopped) return;
    this.#interrupted = this.started;
    if (this.started) {
      try {
        this.#outbound.clear();
      } catch {
        // The call is gone; its marks resolve as cleared when the carrier edge ends.
      }
    }
    this.#stop();
  }

  /** Resolves when every mark came back (or was given up on), with what the caller heard. */
  async done(): Promise<Spoken> {
    await this.#settled;
    return this.#spoken();
  }

  #pump(): void {
    this.#time.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped) return;
    const { chunkMs, leadMs } = this.#options;
    const now = this.#time.now();
    if (this.#startWall !== undefined) {
      // Ran dry (synthesis slower than speech): the caller heard silence; playback resumes from now.
      const playedMs = now - this.#startWall;
      if (playedMs > this.#sentMs) this.#startWall = now - this.#sentMs;
    }
    while (this.#segmentIndex < this.#segments.length) {
      const playedMs = this.#startWall === undefined ? 0 : now - this.#startWall;
      if (this.#sentMs > playedMs + leadMs) break;
      if (!this.#sendChunk(chunkMs * SAMPLES_PER_MS)) return;
    }
    if (this.#segmentIndex < this.#segments.length) {
      const wait = this.#sentMs - leadMs - (this.#time.now() - (this.#startWall ?? 0));
      this.#timer = this.#time.setTimeout(() => this.#pump(), Math.max(1, wait));
      this.#timer.unref();
    } else if (this.#finished) {
      this.#stop();
    }
  }

  #sendChunk(samples: number): boolean {
    const segment = this.#segments[this.#segmentIndex];
    const chunk = segment.pcm.subarray(this.#segmentOffset, this.#segmentOffset + samples);
    const firstFrame = this.#startWall === undefined;
    const now = this.#time.now();
    this.#playheadMs = Math.max(this.#playheadMs, this.#options.clock());
    segment.callStartMs ??= this.#playheadMs;
    try {
      this.#outbound.sendPcm(chunk);
    } catch {
      // Call ended or the carrier stopped reading: what was sent is all the caller gets.
      this.#stop();
      return false;
    }
    if (firstFrame) {
      this.#startWall = now;
      this.#options.onFirstFrame?.();
    }
    this.#options.onAudio?.(chunk, this.#playheadMs);
    const chunkMs = chunk.length / SAMPLES_PER_MS;
    this.#sentMs += chunkMs;
    this.#playheadMs += chunkMs;
    this.#segmentOffset += chunk.length;
    if (this.#segmentOffset >= segment.pcm.length) {
      this.#segmentIndex++;
      this.#segmentOffset = 0;
    }
    const upTo = this.#sentMs;
    try {
      const mark = this.#outbound.mark(`${this.#name}.${this.#marks.length + 1}`);
      this.#marks.push(
        mark.then(({ cleared }) => {
          if (!cleared) this.#heardMs = Math.max(this.#heardMs, upTo);
        }),
      );
    } catch {
      this.#stop();
      return false;
    }
    return true;
  }

  #stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#time.clearTimeout(this.#timer);
    let timer: TimerHandle | undefined;
    const giveUp = new Promise<void>((resolve) => {
      timer = this.#time.setTimeout(resolve, MARK_SETTLE_MS);
      timer.unref();
    });
    void Promise.race([Promise.all(this.#marks), giveUp]).then(() => {
      this.#time.clearTimeout(timer);
      this.#settle();
    });
  }

  #spoken(): Spoken {
    const heardMs = this.#interrupted ? this.#heardMs : this.#sentMs;
    const words: Word[] = [];
    const texts: string[] = [];
    let heardChars = 0;
    let endMs: number | undefined;
    for (const segment of this.#segments) {
      if (segment.callStartMs === undefined || segment.audioStartMs >= heardMs) break;
      const segmentMs = segment.pcm.length / SAMPLES_PER_MS;
      const heardOfSegment = Math.min(segmentMs, heardMs - segment.audioStartMs);
      const all = segment.text.split(/\s+/).filter(Boolean);
      // Word times are spread over the sentence by length: flite gives no word timings.
      const totalChars = all.reduce((n, w) => n + w.length + 1, 0);
      let at = 0;
      const kept: string[] = [];
      for (const word of all) {
        const wordMs = ((word.length + 1) / totalChars) * segmentMs;
        if (at + wordMs / 2 > heardOfSegment) break;
        words.push({
          word,
          startMs: Math.round(segment.callStartMs + at),
          endMs: Math.round(segment.callStartMs + at + wordMs),
        });
        kept.push(word);
        at += wordMs;
      }
      const text = kept.join(' ');
      if (text) texts.push(text);
      heardChars += kept.length === all.length ? segment.text.length + 1 : text.length;
      endMs = segment.callStartMs + heardOfSegment;
    }
    const startMs = this.#segments[0]?.callStartMs ?? this.#options.clock();
    return {
      text: texts.join(' '),
      startMs: Math.round(startMs),
      endMs: Math.round(endMs ?? startMs),
      words,
      interrupted: this.#interrupted && heardMs < this.#audioMs,
      heardChars,
      heardMs,
      sentMs: this.#sentMs,
    };
  }
}
