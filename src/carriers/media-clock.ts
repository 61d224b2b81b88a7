import { type Clock, systemClock, type TimerHandle } from '../clock.js';

/**
 * One 20 ms ticker shared by every call that voxline must pace itself (SIP RTP out, AudioSocket
 * audio out): one timer for all calls instead of one each. Each tick says how many 20 ms frames
 * are due since the last, so a late tick catches up instead of drifting.
 */
export const FRAME_MS = 20;
const MAX_CATCH_UP = 10; // after a stall longer than 200 ms, the frames beyond are not sent

export interface Paced {
  /** Send `frames` × 20 ms (normally 1). */
  tick(frames: number): void;
  /** `tick` threw: the member is already off the clock; it ends its call. */
  failed(error: unknown): void;
}

export class MediaClock {
  readonly #members = new Set<Paced>();
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;
  #startedAt = 0;
  #ticks = 0;
  /** Frames not sent because the event loop stalled longer than the catch-up limit. */
  skippedFrames = 0;

  /** `clock`: what the ticks run on (the system clock unless a test drives time itself). */
  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  add(member: Paced): void {
    this.#members.add(member);
    if (!this.#timer) {
      this.#startedAt = this.#clock.now();
      this.#ticks = 0;
      this.#schedule();
    }
  }

  delete(member: Paced): void {
    this.#members.delete(member);
    if (this.#members.size === 0 && this.#timer) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  get size(): number {
    return this.#members.size;
  }

  #schedule(): void {
    const dueAt = this.#startedAt + (this.#ticks + 1) * FRAME_MS;
    this.#timer = this.#clock.setTimeout(() => this.#tick(), Math.max(0, dueAt - this.#clock.now()));
    this.#timer.unref();
  }

  #tick(): void {
    const due = Math.floor((this.#clock.now() - this.#startedAt) / FRAME_MS) - this.#ticks;
    let frames = Math.max(1, due);
    if (frames > MAX_CATCH_UP) {
      this.skippedFrames += frames - MAX_CATCH_UP;
      frames = MAX_CATCH_UP;
    }
    this.#ticks += Math.max(1, due);
    // Each member is a containment boundary: one call's failure ends that call, not the others.
    for (const member of this.#members) {
      try {
        member.tick(frames);
      } catch (err) {
        this.#members.delete(member);
        try {
          member.failed(err);
        } catch {
          // its report failed too: it is off the clock either way
        }
      }
    }
    if (this.#members.size > 0) this.#schedule();
    else this.#timer = undefined;
  }
}
