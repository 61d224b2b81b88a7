import { type Clock, systemClock, type TimerHandle } from '../clock.js';

/**
 * What Twilio does with audio a bidirectional stream sends back: plays it at real time, echoes
 * each mark once the audio queued before it has played, and on `clear` drops the queue and
 * echoes every pending mark at once (docs/protocols/telephony.md §1.3).
 */
export class TwilioPlayback {
  readonly #echo: (name: string) => void;
  readonly #chunks: Buffer[] = [];
  /** When each media message arrived (clock.now()) and how many μ-law bytes it held. */
  readonly #arrivals: { atMs: number; bytes: number }[] = [];
  readonly #marks: string[] = [];
  readonly #pending = new Map<TimerHandle, string>();
  readonly #clock: Clock;
  #playedUntil = 0;
  #clears = 0;
  #messages = 0;

  /** `clock`: what playback time runs on (the system clock unless a test drives it). */
  constructor(echo: (name: string) => void, clock: Clock = systemClock) {
    this.#echo = echo;
    this.#clock = clock;
  }

  receive(text: string): void {
    this.#messages++;
    let message: { event?: string; media?: { payload?: string }; mark?: { name?: string } };
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const now = this.#clock.now();
    if (message.event === 'media' && typeof message.media?.payload === 'string') {
      const audio = Buffer.from(message.media.payload, 'base64');
      this.#chunks.push(audio);
      this.#arrivals.push({ atMs: now, bytes: audio.length });
      this.#playedUntil = Math.max(this.#playedUntil, now) + audio.length / 8; // 8 bytes per ms
    } else if (message.event === 'mark' && typeof message.mark?.name === 'string') {
      const name = message.mark.name;
      const timer: TimerHandle = this.#clock.setTimeout(
        () => this.#fire(timer),
        Math.max(0, this.#playedUntil - now),
      );
      this.#pending.set(timer, name);
    } else if (message.event === 'clear') {
      this.#clears++;
      this.#playedUntil = now;
      for (const timer of [...this.#pending.keys()]) {
        this.#clock.clearTimeout(timer);
        this.#fire(timer);
      }
    }
  }

  end(): void {
    for (const timer of this.#pending.keys()) this.#clock.clearTimeout(timer);
    this.#pending.clear();
  }

  summary(): {
    mulaw: Uint8Array;
    arrivals: { atMs: number; bytes: number }[];
    marks: string[];
    clears: number;
    messages: number;
  } {
    return {
      mulaw: Buffer.concat(this.#chunks),
      arrivals: [...this.#arrivals],
      marks: [...this.#marks],
      clears: this.#clears,
      messages: this.#messages,
    };
  }

  #fire(timer: TimerHandle): void {
    const name = this.#pending.get(timer);
    if (name === undefined) return;
    this.#pending.delete(timer);
    this.#marks.push(name);
    this.#echo(name);
  }
}
