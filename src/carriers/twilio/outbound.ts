import type { WebSocket } from 'ws';
import { Downsampler16to8 } from '../../audio/downsampler.js';
import { VoxlineError } from '../../errors.js';
import type { MarkResult, OutboundAudio } from '../carrier.js';
import { encodeClear, encodeMark, encodeMedia } from './codec.js';

/** Refuse more outbound audio once this much is queued in the socket (about 30 s of μ-law as JSON). */
const MAX_BUFFERED_BYTES = 512 * 1024;

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
  readonly #encode: (pcm: Int16Array) => Uint8Array;
  readonly #pending = new Map<string, PendingMark[]>();
  #ended = false;
  bytesSent = 0;

  /** `encode`: 16 kHz PCM to the stream's payload (default μ-law 8 kHz; SignalWire's L16 streams differ). */
  constructor(socket: WebSocket, streamSid: string, encode?: (pcm: Int16Array) => Uint8Array) {
    this.#socket = socket;
    this.#streamSid = streamSid;
    if (encode) this.#encode = encode;
    else {
      const downsampler = new Downsampler16to8();
      this.#encode = (pcm) => downsampler.pushPcmToMulaw(pcm);
    }
  }

  sendPcm(pcm: Int16Array): void {
    this.#assertWritable();
    const payload = this.#encode(pcm);
    if (payload.length === 0) return;
    this.#socket.send(encodeMedia(this.#streamSid, payload));
    this.bytesSent += payload.length;
  }

  mark(name: string): Promise<MarkResult> {
    this.#assertWritable();
    return new Promise((resolve) => {
      const queue = this.#pending.get(name) ?? [];
      queue.push({ resolve, cleared: false });
      this.#pending.set(name, queue);
      this.#socket.send(encodeMark(this.#streamSid, name));
    });
  }

  clear(): void {
    this.#assertWritable();
    for (const queue of this.#pending.values()) for (const mark of queue) mark.cleared = true;
    this.#socket.send(encodeClear(this.#streamSid));
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

  #assertWritable(): void {
    if (this.#ended || this.#socket.readyState !== this.#socket.OPEN)
      throw new VoxlineError('VL_ERR_CALL_ENDED');
    if (this.#socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      throw new VoxlineError('VL_ERR_OUTBOUND_BACKPRESSURE', `${this.#socket.bufferedAmount} bytes queued`);
    }
  }
}
