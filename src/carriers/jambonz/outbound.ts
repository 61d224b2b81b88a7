import type { WebSocket } from 'ws';
import { Downsampler16to8 } from '../../audio/downsampler.js';
import { pcmToLittleEndian } from '../../audio/pcm16le.js';
import { StreamResampler } from '../../audio/stream-resampler.js';
import { VoxlineError } from '../../errors.js';
import type { MarkResult, OutboundAudio } from '../carrier.js';
import { encodeClearMarks, encodeKillAudio, encodeMark, type ListenRate } from './codec.js';

/** Refuse more audio once this much is unsent in the socket (about 16 s of 16 kHz L16). */
const MAX_BUFFERED_BYTES = 512 * 1024;

/**
 * Audio into a jambonz call (agent mode) over the listen verb's bidirectional streaming: 16 kHz
 * PCM is converted at the edge to L16 little-endian at the listen's rate and sent as binary frames,
 * which jambonz buffers and plays (bidirectionalAudio.sampleRate must be that rate). Marks go as
 * `mark` and resolve when jambonz reports them played out (or cleared). `clear` sends `killAudio`
 * (jambonz drops its buffer) and `clearMarks`, and resolves the marks waiting as cleared there and
 * then: whether jambonz reports cleared marks is not documented, so none is waited for.
 */
export class JambonzOutbound implements OutboundAudio {
  readonly #socket: WebSocket;
  readonly #convert: (pcm: Int16Array) => Int16Array;
  readonly #pending = new Map<string, ((result: MarkResult) => void)[]>();
  #ended = false;
  bytesSent = 0;

  constructor(socket: WebSocket, rate: ListenRate) {
    this.#socket = socket;
    if (rate === 16000) this.#convert = (pcm) => pcm;
    else if (rate === 8000) {
      const down = new Downsampler16to8();
      this.#convert = (pcm) => down.pushPcm(pcm);
    } else {
      const resampler = new StreamResampler(16000, rate);
      this.#convert = (pcm) => resampler.push(pcm);
    }
  }

  sendPcm(pcm: Int16Array): void {
    this.#assertWritable();
    const out = this.#convert(pcm);
    if (out.length === 0) return;
    const bytes = pcmToLittleEndian(out);
    this.#socket.send(bytes, { binary: true });
    this.bytesSent += bytes.length;
  }

  mark(name: string): Promise<MarkResult> {
    this.#assertWritable();
    return new Promise((resolve) => {
      const queue = this.#pending.get(name) ?? [];
      queue.push(resolve);
      this.#pending.set(name, queue);
      this.#socket.send(encodeMark(name));
    });
  }

  clear(): void {
    this.#assertWritable();
    this.#socket.send(encodeKillAudio());
    this.#socket.send(encodeClearMarks());
    this.#resolveAll();
  }

  /** jambonz reported a mark. Returns false when no mark of that name was waiting. */
  acknowledge(name: string, cleared: boolean): boolean {
    const queue = this.#pending.get(name);
    const resolve = queue?.shift();
    if (!resolve) return false;
    if (queue?.length === 0) this.#pending.delete(name);
    resolve({ name, cleared });
    return true;
  }

  /** The call ended: marks still waiting will never be reported, so they resolve as cleared. */
  end(): void {
    this.#ended = true;
    this.#resolveAll();
  }

  #resolveAll(): void {
    for (const [name, queue] of this.#pending) for (const resolve of queue) resolve({ name, cleared: true });
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
