import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import { pcmToLittleEndian } from '../../audio/pcm16le.js';
import type { MarkResult, OutboundAudio } from '../carrier.js';
import type { MediaClock } from '../media-clock.js';
import { PacedOutbound } from '../paced-outbound.js';

/** The page reads as it plays; more than this unsent on the socket means it stopped reading. */
const MAX_BUFFERED_BYTES = 256 * 1024;

/**
 * The agent's voice into a browser call: 20 ms binary frames of PCM16 little-endian at 16 kHz,
 * paced by voxline (the page plays what arrives, from a short queue), and `{"type":"clear"}` on
 * barge-in so the page drops what it has queued too.
 */
export class BrowserOutbound implements OutboundAudio {
  readonly #socket: WebSocket;
  readonly #paced: PacedOutbound;
  #dropping = false;

  constructor(
    clock: MediaClock,
    socket: WebSocket,
    log: FastifyBaseLogger,
    onFailure: (err: unknown) => void,
  ) {
    this.#socket = socket;
    this.#paced = new PacedOutbound(
      clock,
      (frame) => {
        if (!frame || socket.readyState !== socket.OPEN) return;
        if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
          if (!this.#dropping) log.warn('the page is not reading: agent audio dropped');
          this.#dropping = true;
          return;
        }
        this.#dropping = false;
        socket.send(pcmToLittleEndian(frame), { binary: true });
      },
      onFailure,
    );
  }

  sendPcm(pcm: Int16Array): void {
    this.#paced.sendPcm(pcm);
  }

  mark(name: string): Promise<MarkResult> {
    return this.#paced.mark(name);
  }

  clear(): void {
    this.#paced.clear();
    if (this.#socket.readyState === this.#socket.OPEN) this.#socket.send(JSON.stringify({ type: 'clear' }));
  }

  get queuedMs(): number {
    return this.#paced.queuedMs;
  }

  end(): void {
    this.#paced.end();
  }
}
