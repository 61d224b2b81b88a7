export interface DtmfRecord {
  readonly digit: string;
  /** Where the pressing leg's timeline had got to when the digit arrived, on the call clock. */
  readonly atMs: number | null;
}

export interface StatusRecord {
  readonly event: string;
  readonly receivedAt: string;
  readonly detail: Readonly<Record<string, string>>;
}

const STATUS_HISTORY = 20;

/** Key presses one call keeps (a card number, a PIN and a menu are a few dozen). */
export const MAX_DTMF_PER_CALL = 256;

/**
 * What a call's carrier told about it besides audio, each part bounded: key presses (at most
 * MAX_DTMF_PER_CALL, the rest counted), the last STATUS_HISTORY status callbacks, and malformed
 * messages counted by reason.
 */
export class CallLog {
  readonly #dtmf: DtmfRecord[] = [];
  #dtmfDropped = 0;
  readonly #status: StatusRecord[] = [];
  readonly #malformed = new Map<string, number>();
  #malformedTotal = 0;

  get dtmf(): readonly DtmfRecord[] {
    return this.#dtmf;
  }

  /** Key presses beyond MAX_DTMF_PER_CALL. */
  get dtmfDropped(): number {
    return this.#dtmfDropped;
  }

  get status(): readonly StatusRecord[] {
    return this.#status;
  }

  get malformed(): { readonly total: number; readonly byReason: Readonly<Record<string, number>> } {
    return { total: this.#malformedTotal, byReason: Object.fromEntries(this.#malformed) };
  }

  /** Keeps the key press; false when the call already has all it keeps (then it is only counted). */
  addDtmf(record: DtmfRecord): boolean {
    if (this.#dtmf.length >= MAX_DTMF_PER_CALL) {
      this.#dtmfDropped++;
      return false;
    }
    this.#dtmf.push(record);
    return true;
  }

  addStatus(record: StatusRecord): void {
    this.#status.push(record);
    if (this.#status.length > STATUS_HISTORY) this.#status.shift();
  }

  /** Counts one malformed message; returns the call's total so far. */
  countMalformed(reason: string): number {
    this.#malformed.set(reason, (this.#malformed.get(reason) ?? 0) + 1);
    return ++this.#malformedTotal;
  }
}
