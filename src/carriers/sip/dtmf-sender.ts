import { VoxlineError } from '../../errors.js';
import { telephoneEventPayload } from './rtp.js';

/** 100 ms of tone a key, in 20 ms packets (RFC 4733 §2.5.1.2: a new packet every 20 ms). */
const TONE_PACKETS = 5;
/** The end packet is sent three times (§2.5.1.4), one a packet time. */
const END_COPIES = 3;
/** 60 ms of the ordinary stream between keys, so the far end hears them apart. */
const GAP_PACKETS = 3;
const SAMPLES_PER_PACKET = 160;
/** −10 dBm0, as phones send. */
const VOLUME = 10;
/** Keys waiting at most: a model cannot queue minutes of tones. */
const MAX_QUEUED_KEYS = 64;

/** One packet of a key: its RFC 4733 payload, and whether it starts the event (M bit, new timestamp). */
export interface KeyPacket {
  readonly payload: Uint8Array;
  readonly start: boolean;
}

interface Pending {
  readonly keys: string;
  readonly done: () => void;
  readonly failed: (error: Error) => void;
}

/**
 * Presses keys on an RTP stream (RFC 4733 telephone-events), one packet time at a time: the
 * stream's pacer asks `next()` every 20 ms and sends the packet instead of audio, or sends its
 * audio when there is none (between keys and when idle). Pure state: no I/O, no timers.
 */
export class DtmfSender {
  readonly #queue: Pending[] = [];
  #queuedKeys = 0;
  /** Where the head of the queue is: which key, and which packet of it. */
  #key = 0;
  #step = 0;

  /** Resolves once the last key's end packets are sent; rejects on `abort`. */
  send(keys: string): Promise<void> {
    if (!/^[0-9*#A-D]{1,32}$/.test(keys))
      return Promise.reject(new VoxlineError('VL_ERR_CALL_CONTROL_FAILED', 'keys are 1–32 of 0-9 * # A-D'));
    if (this.#queuedKeys + keys.length > MAX_QUEUED_KEYS)
      return Promise.reject(
        new VoxlineError('VL_ERR_CALL_CONTROL_FAILED', 'too many keys waiting to be sent'),
      );
    this.#queuedKeys += keys.length;
    return new Promise((done, failed) => this.#queue.push({ keys, done, failed }));
  }

  get idle(): boolean {
    return this.#queue.length === 0;
  }

  /** The packet for this packet time, or undefined: send the ordinary stream. */
  next(): KeyPacket | undefined {
    const head = this.#queue[0];
    if (!head) return undefined;
    const step = this.#step++;
    const event = '0123456789*#ABCD'.indexOf(head.keys[this.#key]);
    let packet: KeyPacket | undefined;
    if (step < TONE_PACKETS)
      packet = {
        payload: telephoneEventPayload(event, false, VOLUME, (step + 1) * SAMPLES_PER_PACKET),
        start: step === 0,
      };
    else if (step < TONE_PACKETS + END_COPIES)
      packet = {
        payload: telephoneEventPayload(event, true, VOLUME, TONE_PACKETS * SAMPLES_PER_PACKET),
        start: false,
      };
    // The gap after the last key is not waited for: the caller's audio goes on at once.
    const last = this.#key === head.keys.length - 1;
    if (step + 1 >= TONE_PACKETS + END_COPIES + (last ? 0 : GAP_PACKETS)) {
      this.#step = 0;
      this.#key++;
      if (this.#key >= head.keys.length) {
        this.#queue.shift();
        this.#queuedKeys -= head.keys.length;
        this.#key = 0;
        head.done();
      }
    }
    return packet;
  }

  /** The stream ended: what is waiting fails. */
  abort(reason: string): void {
    for (const pending of this.#queue.splice(0))
      pending.failed(new VoxlineError('VL_ERR_CALL_CONTROL_FAILED', reason));
    this.#queuedKeys = 0;
    this.#key = this.#step = 0;
  }
}
