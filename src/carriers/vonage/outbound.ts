import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import { Downsampler16to8 } from '../../audio/downsampler.js';
import type { MarkResult, OutboundAudio } from '../carrier.js';
import type { MediaClock } from '../media-clock.js';
import { PacedOutbound } from '../paced-outbound.js';
import { encodeAudio, encodeClear, encodeNotify } from './codec.js';
import type { VonageAudioRate } from './vonage-config.js';

/** Past this much unsent in the socket the peer is not reading: frames are dropped, not queued. */
const MAX_BUFFERED_BYTES = 64 * 1024;
/** A notify Vonage has not echoed within this many 20 ms ticks resolves anyway (as played). */
const NOTIFY_WAIT_TICKS = 100;
/** Marks waiting for their echo at once; past this the oldest resolves (as played). */
const MAX_PENDING_NOTIFIES = 256;
/** The payload key voxline's notify carries; Vonage echoes the payload as sent. */
export const MARK_KEY = 'voxlineMark';

interface PendingNotify {
  readonly name: string;
  readonly resolve: (result: MarkResult) => void;
  readonly sentAtTick: number;
}

/**
 * Audio into a Vonage call (agent mode). voxline paces it itself, one 20 ms binary frame per
 * tick of the shared media clock, so that Vonage's own queue (3072 frames) stays nearly empty and
 * `clear` is immediate. A mark is a `notify` sent once the audio before it has gone out; it
 * resolves when Vonage echoes it (the audio has played), when `clear` drops it (cleared), or
 * after 2 s with no echo (a platform that never echoes must not stall the agent).
 */
export class VonageOutbound implements OutboundAudio {
  readonly #socket: WebSocket;
  readonly #log: FastifyBaseLogger;
  readonly #paced: PacedOutbound;
  readonly #down: Downsampler16to8 | undefined;
  readonly #pending = new Map<string, PendingNotify>();
  #ticks = 0;
  #nextId = 0;
  #backpressure = false;
  framesSent = 0;

  constructor(
    clock: MediaClock,
    socket: WebSocket,
    rate: VonageAudioRate,
    log: FastifyBaseLogger,
    onFailure: (error: unknown) => void,
  ) {
    this.#socket = socket;
    this.#log = log;
    this.#down = rate === 8000 ? new Downsampler16to8() : undefined;
    this.#paced = new PacedOutbound(clock, (frame) => this.#tick(frame), onFailure);
  }

  sendPcm(pcm: Int16Array): void {
    this.#paced.sendPcm(pcm);
  }

  mark(name: string): Promise<MarkResult> {
    return this.#paced.mark(name).then((sent) => (sent.cleared ? sent : this.#notify(name)));
  }

  clear(): void {
    this.#paced.clear();
    this.#resolveAll(true);
    if (this.#socket.readyState === this.#socket.OPEN) this.#socket.send(encodeClear());
  }

  /** Vonage echoed a notify. Returns false when it was not one of voxline's marks still waiting. */
  acknowledge(payload: Readonly<Record<string, unknown>>): boolean {
    const id = payload[MARK_KEY];
    const pending = typeof id === 'string' ? this.#pending.get(id) : undefined;
    if (!pending) return false;
    this.#pending.delete(id as string);
    pending.resolve({ name: pending.name, cleared: false });
    return true;
  }

  /** The call ended: stop sending; marks still waiting resolve as cleared. */
  end(): void {
    this.#paced.end();
    this.#resolveAll(true);
  }

  #notify(name: string): Promise<MarkResult> {
    return new Promise((resolve) => {
      if (this.#socket.readyState !== this.#socket.OPEN) {
        resolve({ name, cleared: true });
        return;
      }
      if (this.#pending.size >= MAX_PENDING_NOTIFIES) this.#expireOldest();
      const id = `m${++this.#nextId}`;
      this.#pending.set(id, { name, resolve, sentAtTick: this.#ticks });
      this.#socket.send(encodeNotify({ [MARK_KEY]: id }));
    });
  }

  /** Every 20 ms: a frame to send (or none), and notifies that waited too long. */
  #tick(frame: Int16Array | undefined): void {
    this.#ticks++;
    for (const [id, pending] of this.#pending) {
      if (this.#ticks - pending.sentAtTick < NOTIFY_WAIT_TICKS) break; // in sending order
      this.#pending.delete(id);
      this.#log.debug({ mark: pending.name }, 'Vonage did not echo a notify: mark resolved as played');
      pending.resolve({ name: pending.name, cleared: false });
    }
    if (!frame || this.#socket.readyState !== this.#socket.OPEN) return;
    if (this.#socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      if (!this.#backpressure) this.#log.warn('Vonage is not reading the socket: agent audio dropped');
      this.#backpressure = true;
      return;
    }
    this.#backpressure = false;
    this.#socket.send(encodeAudio(this.#down ? this.#down.pushPcm(frame) : frame), { binary: true });
    this.framesSent++;
  }

  #expireOldest(): void {
    const [id, oldest] = this.#pending.entries().next().value as [string, PendingNotify];
    this.#pending.delete(id);
    oldest.resolve({ name: oldest.name, cleared: false });
  }

  #resolveAll(cleared: boolean): void {
    for (const pending of this.#pending.values()) pending.resolve({ name: pending.name, cleared });
    this.#pending.clear();
  }
}
