import { VoxlineError } from '../errors.js';
import type { MarkResult, OutboundAudio } from './carrier.js';
import { FRAME_MS, type MediaClock, type Paced } from './media-clock.js';

const SAMPLES_PER_FRAME_16K = 16 * FRAME_MS;
/** How long a carrier that is not ready yet holds the queue (50 frames: 1 s). */
const MAX_READY_WAIT_FRAMES = 50;
/** Refuse more audio once this much is queued (the agent keeps about 200 ms ahead). */
const MAX_QUEUED_MS = 60_000;

type Entry =
  | { readonly pcm: Int16Array }
  | { readonly name: string; readonly resolve: (r: MarkResult) => void };

/**
 * Audio back into a call whose carrier plays what it receives as it arrives (SIP RTP,
 * AudioSocket): voxline keeps the queue and sends one 20 ms frame per clock tick. A mark resolves
 * when the audio queued before it has been sent; `clear` drops the queue (marks resolve cleared).
 * When nothing is queued, `send` gets undefined (SIP sends silence to keep media flowing).
 */
export class PacedOutbound implements OutboundAudio, Paced {
  readonly #clock: MediaClock;
  readonly #send: (frame: Int16Array | undefined) => void;
  readonly #queue: Entry[] = [];
  /** Audio not yet whole 20 ms frames. */
  #partial = new Int16Array(SAMPLES_PER_FRAME_16K);
  #partialLength = 0;
  #queuedSamples = 0;
  #ended = false;
  framesSent = 0;

  readonly #onFailure: (error: unknown) => void;

  /**
   * `send` gets 20 ms of PCM16 at 16 kHz (the edge converts), or undefined for an idle tick;
   * `onFailure` hears when sending threw (the outbound has ended; the edge ends the call).
   */
  readonly #ready: () => boolean;
  #waitedFrames = 0;

  /**
   * `ready`: false while the carrier cannot send yet (SIP before the far end's media arrived);
   * then, for up to 1 s, ticks neither send nor use up the queue, so a greeting waits for it.
   */
  constructor(
    clock: MediaClock,
    send: (frame: Int16Array | undefined) => void,
    onFailure: (error: unknown) => void = () => undefined,
    ready: () => boolean = () => true,
  ) {
    this.#clock = clock;
    this.#send = send;
    this.#onFailure = onFailure;
    this.#ready = ready;
    clock.add(this);
  }

  failed(error: unknown): void {
    this.end();
    this.#onFailure(error);
  }

  sendPcm(pcm: Int16Array): void {
    this.#assertOpen();
    if ((this.#queuedSamples + pcm.length) / 16 > MAX_QUEUED_MS) {
      throw new VoxlineError('VL_ERR_OUTBOUND_BACKPRESSURE', `${MAX_QUEUED_MS} ms already queued`);
    }
    let at = 0;
    while (at < pcm.length) {
      const n = Math.min(SAMPLES_PER_FRAME_16K - this.#partialLength, pcm.length - at);
      this.#partial.set(pcm.subarray(at, at + n), this.#partialLength);
      this.#partialLength += n;
      at += n;
      if (this.#partialLength === SAMPLES_PER_FRAME_16K) this.#queuePartial();
    }
  }

  mark(name: string): Promise<MarkResult> {
    this.#assertOpen();
    this.#flushPartial();
    return new Promise((resolve) => this.#queue.push({ name, resolve }));
  }

  clear(): void {
    this.#assertOpen();
    this.#partialLength = 0;
    this.#drop();
  }

  /** Queued audio in ms (what has not been sent yet). */
  get queuedMs(): number {
    return (this.#queuedSamples + this.#partialLength) / 16;
  }

  tick(frames: number): void {
    // Not ready: hold the queue a moment (a greeting waits for the far end's first packet), but
    // not for ever, or a late latch would play stale audio; after that, audio goes on (unsent).
    if (this.#waitedFrames < MAX_READY_WAIT_FRAMES && !this.#ready()) {
      this.#waitedFrames += frames;
      return;
    }
    for (let i = 0; i < frames; i++) {
      this.#resolveMarks();
      const head = this.#queue.shift();
      if (head && 'pcm' in head) {
        this.#queuedSamples -= head.pcm.length;
        this.#send(head.pcm);
        this.framesSent++;
      } else {
        this.#send(undefined);
      }
      this.#resolveMarks();
    }
  }

  /** The call ended: stop ticking; marks still waiting resolve as cleared. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#clock.delete(this);
    this.#drop();
  }

  #resolveMarks(): void {
    while (this.#queue.length > 0 && 'name' in this.#queue[0]) {
      const mark = this.#queue.shift() as { name: string; resolve: (r: MarkResult) => void };
      mark.resolve({ name: mark.name, cleared: false });
    }
  }

  /** A short tail before a mark is padded with silence to a whole frame, so the mark is exact. */
  #flushPartial(): void {
    if (this.#partialLength === 0) return;
    this.#partial.fill(0, this.#partialLength);
    this.#queuePartial();
  }

  #queuePartial(): void {
    this.#queue.push({ pcm: this.#partial });
    this.#queuedSamples += SAMPLES_PER_FRAME_16K;
    this.#partial = new Int16Array(SAMPLES_PER_FRAME_16K);
    this.#partialLength = 0;
  }

  #drop(): void {
    for (const entry of this.#queue.splice(0)) {
      if ('name' in entry) entry.resolve({ name: entry.name, cleared: true });
    }
    this.#queuedSamples = 0;
  }

  #assertOpen(): void {
    if (this.#ended) throw new VoxlineError('VL_ERR_CALL_ENDED');
  }
}
