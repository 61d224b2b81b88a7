import type { WebSocket } from 'ws';
import { Downsampler16to8 } from '../../audio/downsampler.js';
import { VoxlineError } from '../../errors.js';
import type { MarkResult, OutboundAudio } from '../carrier.js';
import { encodeClear, encodeMark, encodeMedia } from './codec.js';

/** Refuse more outbound audio once this much is queued in the socket (about 30 s of μ-law as JSON). */
const MAX_BUFFERED_BYTES = 512 * 1024;

/** The JSON frames of audio out; Twilio's by default (Exotel's differ: snake_case `stream_sid`). */
export interface OutboundFrames {
  media(streamSid: string, payload: Uint8Array): string;
  mark(streamSid: string, name: string): string;
  clear(streamSid: string): string;
}

const TWILIO_FRAMES: OutboundFrames = { media: encodeMedia, mark: encodeMark, clear: encodeClear };

/** 16 kHz PCM to a stream's payload, for carriers that hold audio back to send it in chunks. */
export interface PayloadChunker {
  /** What is ready to send now (may be empty: the rest is held for the next call). */
  push(pcm: Int16Array): Uint8Array;
  /** What is held, padded as the carrier needs: sent before a mark so the mark follows all of it. */
  flush(): Uint8Array;
  /** Forgets what is held (a clear). */
  drop(): void;
}

export interface OutboundOptions {
  /** 16 kHz PCM to the payload; default μ-law 8 kHz (SignalWire's L16 streams differ). */
  readonly encode?: ((pcm: Int16Array) => Uint8Array) | PayloadChunker;
  readonly frames?: OutboundFrames;
}

interface PendingMark {
  readonly resolve: (result: MarkResult) => void;
  cleared: boolean;
}

/**
 * Audio into a bidirectional (<Connect><Stream>) Twilio call: 16 kHz PCM is downsampled and
 * μ-law encoded at the edge; marks resolve when Twilio echoes them, which it does when the audio
 * before them has played or was dropped by `clear` (then `cleared` is true).
 */
export class TwilioOutbound implements OutboundAudio {
  readonly #socket: WebSocket;
  readonly #streamSid: string;
  readonly #encode: PayloadChunker;
  readonly #pending = new Map<string, PendingMark[]>();
  readonly #frames: OutboundFrames;
  #ended = false;
  bytesSent = 0;

  constructor(socket: WebSocket, streamSid: string, options: OutboundOptions = {}) {
    this.#socket = socket;
    this.#frames = options.frames ?? TWILIO_FRAMES;
    this.#streamSid = streamSid;
    const encode = options.encode ?? mulawEncoder();
    this.#encode = typeof encode === 'function' ? unchunked(encode) : encode;
  }

  sendPcm(pcm: Int16Array): void {
    this.#assertWritable();
    this.#send(this.#encode.push(pcm));
  }

  mark(name: string): Promise<MarkResult> {
    this.#assertWritable();
    this.#send(this.#encode.flush());
    return new Promise((resolve) => {
      const queue = this.#pending.get(name) ?? [];
      queue.push({ resolve, cleared: false });
      this.#pending.set(name, queue);
      this.#socket.send(this.#frames.mark(this.#streamSid, name));
    });
  }

  clear(): void {
    this.#assertWritable();
    for (const queue of this.#pending.values()) for (const mark of queue) mark.cleared = true;
    this.#encode.drop();
    this.#socket.send(this.#frames.clear(this.#streamSid));
  }

  /** Twilio echoed a mark. Returns false when no mark of that name was waiting. */
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

  #send(payload: Uint8Array): void {
    if (payload.length === 0) return;
    this.#socket.send(this.#frames.media(this.#streamSid, payload));
    this.bytesSent += payload.length;
  }

  #assertWritable(): void {
    if (this.#ended || this.#socket.readyState !== this.#socket.OPEN)
      throw new VoxlineError('VL_ERR_CALL_ENDED');
    if (this.#socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      throw new VoxlineError('VL_ERR_OUTBOUND_BACKPRESSURE', `${this.#socket.bufferedAmount} bytes queued`);
    }
  }
}

function mulawEncoder(): (pcm: Int16Array) => Uint8Array {
  const downsampler = new Downsampler16to8();
  return (pcm) => downsampler.pushPcmToMulaw(pcm);
}

const NOTHING = new Uint8Array(0);

/** An encoder that holds nothing back. */
function unchunked(encode: (pcm: Int16Array) => Uint8Array): PayloadChunker {
  return { push: encode, flush: () => NOTHING, drop: () => {} };
}
