import type { WebSocket } from 'ws';
import { Downsampler16to8 } from '../../audio/downsampler.js';
import { VoxlineError } from '../../errors.js';
import type { MarkResult, OutboundAudio } from '../carrier.js';
import { encodeCheckpoint, encodeClearAudio, encodePlayAudio } from './codec.js';

/** Refuse more outbound audio once this much is queued in the socket (about 30 s of μ-law as JSON). */
const MAX_BUFFERED_BYTES = 512 * 1024;
/** Checkpoints waiting for Plivo at once; the agent keeps a few, so more means Plivo stopped answering. */
const MAX_PENDING_MARKS = 256;

interface PendingMark {
  readonly name: string;
  readonly resolve: (result: MarkResult) => void;
  cleared: boolean;
}

/**
 * Audio into a bidirectional Plivo stream: 16 kHz PCM is downsampled and μ-law encoded at the
 * edge and sent as `playAudio`; a mark is a `checkpoint`, resolved by Plivo's `playedStream`.
 * Plivo answers a checkpoint only once the audio before it has played, so after `clearAudio`
 * the checkpoints it dropped resolve (cleared) when its `clearedAudio` comes.
 */
export class PlivoOutbound implements OutboundAudio {
  readonly #socket: WebSocket;
  readonly #streamId: string;
  readonly #downsampler = new Downsampler16to8();
  readonly #pending: PendingMark[] = [];
  #ended = false;
  bytesSent = 0;

  constructor(socket: WebSocket, streamId: string) {
    this.#socket = socket;
    this.#streamId = streamId;
  }

  sendPcm(pcm: Int16Array): void {
    this.#assertWritable();
    const mulaw = this.#downsampler.pushPcmToMulaw(pcm);
    if (mulaw.length === 0) return;
    this.#socket.send(encodePlayAudio(this.#streamId, mulaw));
    this.bytesSent += mulaw.length;
  }

  mark(name: string): Promise<MarkResult> {
    this.#assertWritable();
    if (this.#pending.length >= MAX_PENDING_MARKS) {
      throw new VoxlineError('VL_ERR_OUTBOUND_BACKPRESSURE', `${MAX_PENDING_MARKS} checkpoints unanswered`);
    }
    return new Promise((resolve) => {
      this.#pending.push({ name, resolve, cleared: false });
      this.#socket.send(encodeCheckpoint(this.#streamId, name));
    });
  }

  clear(): void {
    this.#assertWritable();
    for (const mark of this.#pending) mark.cleared = true;
    this.#socket.send(encodeClearAudio(this.#streamId));
  }

  /** Plivo's playedStream: the oldest checkpoint of that name. False when none was waiting. */
  played(name: string): boolean {
    const at = this.#pending.findIndex((mark) => mark.name === name);
    if (at < 0) return false;
    const [mark] = this.#pending.splice(at, 1);
    mark.resolve({ name, cleared: mark.cleared });
    return true;
  }

  /** Plivo's clearedAudio: the checkpoints the clear dropped will not be answered. */
  cleared(): number {
    const dropped = this.#pending.filter((mark) => mark.cleared);
    if (dropped.length === 0) return 0;
    this.#pending.splice(0, this.#pending.length, ...this.#pending.filter((mark) => !mark.cleared));
    for (const mark of dropped) mark.resolve({ name: mark.name, cleared: true });
    return dropped.length;
  }

  /** The call ended: checkpoints still waiting will never be answered, so they resolve as cleared. */
  end(): void {
    this.#ended = true;
    for (const mark of this.#pending.splice(0)) mark.resolve({ name: mark.name, cleared: true });
  }

  #assertWritable(): void {
    if (this.#ended || this.#socket.readyState !== this.#socket.OPEN)
      throw new VoxlineError('VL_ERR_CALL_ENDED');
    if (this.#socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      throw new VoxlineError('VL_ERR_OUTBOUND_BACKPRESSURE', `${this.#socket.bufferedAmount} bytes queued`);
    }
  }
}
