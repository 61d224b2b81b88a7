import { WordTimer } from './word-timing.js';

/**
 * One utterance: its audio is kept until the server's final for it arrives, in one growing buffer
 * with chunk boundaries (not an object per frame: at hundreds of legs, many small live buffers
 * make for long GC pauses).
 */
export interface Utterance {
  readonly id: number;
  readonly startMs: number;
  audio: Buffer;
  /** End offset of each chunk in `audio`; a chunk is one frame, sent as one append. */
  readonly ends: number[];
  /** Call-clock end of each chunk. */
  readonly endsMs: number[];
  bytes: number;
  /** Chunks, and their bytes, written on the current connection. */
  sent: number;
  sentBytes: number;
  begun: boolean;
  flushed: boolean;
  endSent: boolean;
  speechEndMs: number;
  timer: WordTimer;
  recovered: boolean;
  failures: number;
}

/** One second of PCM16 at 16 kHz; utterances grow by doubling from here. */
const INITIAL_UTTERANCE_BYTES = 32_000;

/** A leg's utterances not yet finalized by the engine, oldest (the one on the wire) first. */
export class UtteranceQueue {
  readonly #items: Utterance[] = [];
  #nextId = 1;
  #bytes = 0;

  get length(): number {
    return this.#items.length;
  }

  /** Audio held, in bytes. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The utterance on the wire (or next to go). */
  get head(): Utterance | undefined {
    return this.#items[0];
  }

  /** The utterance still taking audio, if any. */
  get open(): Utterance | undefined {
    const last = this.#items.at(-1);
    return last && !last.flushed ? last : undefined;
  }

  /** Copies `chunk` (audio from `startMs` to `endMs`) into the open utterance, opening one if needed. */
  append(chunk: Buffer, startMs: number, endMs: number): void {
    let open = this.open;
    if (!open) {
      open = newUtterance(this.#nextId++, startMs);
      this.#items.push(open);
    }
    if (open.bytes + chunk.length > open.audio.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * open.audio.length, open.bytes + chunk.length));
      open.audio.copy(grown, 0, 0, open.bytes);
      open.audio = grown;
    }
    chunk.copy(open.audio, open.bytes);
    open.bytes += chunk.length;
    open.ends.push(open.bytes);
    open.endsMs.push(endMs);
    open.speechEndMs = endMs;
    this.#bytes += chunk.length;
  }

  /**
   * Ends the open utterance where speech ended (`speechEndMs`). A VAD that fell behind ends speech
   * after later audio was already queued in the utterance: it then ends where its audio does (a
   * final never ends before its own words). Otherwise it ends at `speechEndMs`, inside its last chunk.
   */
  flushOpen(speechEndMs: number): void {
    const open = this.open;
    if (!open) return;
    open.flushed = true;
    const { endsMs } = open;
    const lastStartsAfterEnd = endsMs.length > 1 && endsMs[endsMs.length - 2] >= speechEndMs;
    open.speechEndMs = lastStartsAfterEnd
      ? (endsMs.at(-1) as number)
      : Math.min(open.speechEndMs, speechEndMs);
  }

  /** Removes the head (its final arrived, or it was given up). */
  shift(): Utterance | undefined {
    const head = this.#items.shift();
    if (head) this.#bytes -= head.bytes;
    return head;
  }

  /** Removes and returns the oldest utterance while more than `maxBytes` are held (never the only one). */
  overflow(maxBytes: number): Utterance | undefined {
    return this.#bytes > maxBytes && this.#items.length > 1 ? this.shift() : undefined;
  }

  clear(): Utterance[] {
    this.#bytes = 0;
    return this.#items.splice(0);
  }
}

function newUtterance(id: number, startMs: number): Utterance {
  return {
    id,
    startMs,
    audio: Buffer.allocUnsafe(INITIAL_UTTERANCE_BYTES),
    ends: [],
    endsMs: [],
    bytes: 0,
    sent: 0,
    sentBytes: 0,
    begun: false,
    flushed: false,
    endSent: false,
    speechEndMs: startMs,
    timer: new WordTimer(startMs),
    recovered: false,
    failures: 0,
  };
}

/** The connection carrying `u` was lost: it will be sent again from its start. */
export function rewind(u: Utterance): void {
  if (!u.begun && u.sent === 0) return;
  u.recovered = true;
  u.sent = 0;
  u.sentBytes = 0;
  u.begun = false;
  u.endSent = false;
  u.timer = new WordTimer(u.startMs);
}
