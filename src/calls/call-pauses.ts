/** A span of the call when recording and transcription were paused; `endMs` null while it lasts. */
export interface PauseRecord {
  readonly startMs: number;
  readonly endMs: number | null;
  readonly by: string;
}

/** At most this many pauses are kept per call (a payment needs one or two). */
const MAX_PAUSES = 100;

/** A call's pauses (secure mode), bounded: when each began and ended, and who asked. */
export class CallPauses {
  readonly #records: PauseRecord[] = [];

  get paused(): boolean {
    return this.#records.at(-1)?.endMs === null;
  }

  get records(): readonly PauseRecord[] {
    return this.#records;
  }

  /** False when already paused, or MAX_PAUSES have been taken. */
  start(atMs: number, by: string): boolean {
    if (this.paused || this.#records.length >= MAX_PAUSES) return false;
    this.#records.push({ startMs: atMs, endMs: null, by });
    return true;
  }

  /** False when not paused. */
  end(atMs: number): boolean {
    const last = this.#records.at(-1);
    if (!last || last.endMs !== null) return false;
    this.#records[this.#records.length - 1] = { ...last, endMs: atMs };
    return true;
  }
}
