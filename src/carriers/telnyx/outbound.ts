import type { WebSocket } from 'ws';
import { Downsampler16to8 } from '../../audio/downsampler.js';
import { ALAW_SILENCE, MULAW_SILENCE, pcmToAlaw, pcmToMulaw } from '../../audio/g711.js';
import { G722Encoder } from '../../audio/g722.js';
import { VoxlineError } from '../../errors.js';
import type { MarkResult, OutboundAudio } from '../carrier.js';
import { encodeClear, encodeMark, encodeMedia } from './codec.js';
import type { TelnyxCodec } from './telnyx-config.js';

/** Refuse more outbound audio once this much is queued in the socket (about 30 s as JSON). */
const MAX_BUFFERED_BYTES = 512 * 1024;
/**
 * Telnyx takes 20 ms to 30 s of RTP payload per media frame: whole 20 ms frames (160 bytes in
 * G.711 and in G.722 alike), at most 1 s.
 */
const FRAME_BYTES = 160;
const MAX_MESSAGE_BYTES = 8000;

interface PendingMark {
  readonly resolve: (result: MarkResult) => void;
  cleared: boolean;
}

/** 16 kHz PCM to the stream's payload, with the codec's own silence for padding a frame. */
interface PayloadEncoder {
  encode(pcm: Int16Array): Uint8Array;
  /** `bytes` of silence; G.722 runs it through the encoder so the far end's decoder follows. */
  silence(bytes: number): Uint8Array;
}

function payloadEncoder(codec: TelnyxCodec): PayloadEncoder {
  if (codec === 'G722') {
    const encoder = new G722Encoder();
    return {
      encode: (pcm) => encoder.encode(pcm),
      silence: (bytes) => encoder.encode(new Int16Array(2 * bytes)),
    };
  }
  const downsampler = new Downsampler16to8();
  const alaw = codec === 'PCMA';
  return {
    encode: (pcm) => {
      const narrow = downsampler.pushPcm(pcm);
      return alaw ? pcmToAlaw(narrow) : pcmToMulaw(narrow);
    },
    silence: (bytes) => new Uint8Array(bytes).fill(alaw ? ALAW_SILENCE : MULAW_SILENCE),
  };
}

/**
 * Audio into a bidirectional (RTP mode) Telnyx stream: 16 kHz PCM is encoded at the edge (G.711
 * after downsampling, or G.722 at 16 kHz), sent in whole 20 ms frames (a tail shorter than that
 * waits for more, or is padded with silence before a mark). Telnyx queues and plays it, echoes a mark once the audio
 * before it has played, and echoes queued marks on `clear` (then `cleared` is true).
 */
export class TelnyxOutbound implements OutboundAudio {
  readonly #socket: WebSocket;
  readonly #encoder: PayloadEncoder;
  readonly #pending = new Map<string, PendingMark[]>();
  #tail = new Uint8Array(0);
  #ended = false;
  bytesSent = 0;

  constructor(socket: WebSocket, codec: TelnyxCodec) {
    this.#socket = socket;
    this.#encoder = payloadEncoder(codec);
  }

  sendPcm(pcm: Int16Array): void {
    this.#assertWritable();
    const encoded = this.#encoder.encode(pcm);
    if (encoded.length === 0) return;
    const bytes = this.#tail.length === 0 ? encoded : concat(this.#tail, encoded);
    const whole = bytes.length - (bytes.length % FRAME_BYTES);
    this.#send(bytes.subarray(0, whole));
    this.#tail = bytes.slice(whole);
  }

  mark(name: string): Promise<MarkResult> {
    this.#assertWritable();
    this.#flushTail();
    return new Promise((resolve) => {
      const queue = this.#pending.get(name) ?? [];
      queue.push({ resolve, cleared: false });
      this.#pending.set(name, queue);
      this.#socket.send(encodeMark(name));
    });
  }

  clear(): void {
    this.#assertWritable();
    this.#tail = new Uint8Array(0);
    for (const queue of this.#pending.values()) for (const mark of queue) mark.cleared = true;
    this.#socket.send(encodeClear());
  }

  /** Telnyx echoed a mark. Returns false when no mark of that name was waiting. */
  acknowledge(name: string): boolean {
    const queue = this.#pending.get(name);
    const mark = queue?.shift();
    if (!mark) return false;
    if (queue?.length === 0) this.#pending.delete(name);
    mark.resolve({ name, cleared: mark.cleared });
    return true;
  }

  /** The call ended: marks still waiting will never be echoed, so they resolve as cleared. */
  end(): void {
    this.#ended = true;
    for (const [name, queue] of this.#pending)
      for (const mark of queue) mark.resolve({ name, cleared: true });
    this.#pending.clear();
  }

  #flushTail(): void {
    if (this.#tail.length === 0) return;
    const frame = new Uint8Array(FRAME_BYTES);
    frame.set(this.#tail);
    frame.set(this.#encoder.silence(FRAME_BYTES - this.#tail.length), this.#tail.length);
    this.#tail = new Uint8Array(0);
    this.#send(frame);
  }

  #send(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; at += MAX_MESSAGE_BYTES) {
      const part = bytes.subarray(at, Math.min(bytes.length, at + MAX_MESSAGE_BYTES));
      this.#socket.send(encodeMedia(part));
      this.bytesSent += part.length;
    }
  }

  #assertWritable(): void {
    if (this.#ended || this.#socket.readyState !== this.#socket.OPEN)
      throw new VoxlineError('VL_ERR_CALL_ENDED');
    if (this.#socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      throw new VoxlineError('VL_ERR_OUTBOUND_BACKPRESSURE', `${this.#socket.bufferedAmount} bytes queued`);
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
