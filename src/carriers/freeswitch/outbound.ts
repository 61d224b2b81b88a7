import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import { Downsampler16to8 } from '../../audio/downsampler.js';
import { VoxlineError } from '../../errors.js';
import type { MarkResult, OutboundAudio } from '../carrier.js';
import { FRAME_MS, type MediaClock, type Paced } from '../media-clock.js';
import { encodeKill, encodePlay, type ForkModule } from './codec.js';
import type { ForkRate } from './freeswitch-config.js';

/** Each play message becomes one file FreeSWITCH plays: 200 ms keeps them few and barge-in short. */
const CHUNK_SAMPLES_16K = 16 * 200;
/** The next chunk goes out once less than this is still playing (by voxline's clock). */
const MIN_AHEAD_MS = 100;
/** Refuse more audio once this much is queued (the agent keeps about 200 ms ahead). */
const MAX_QUEUED_MS = 60_000;
/** Past this much unsent in the socket FreeSWITCH is not reading: chunks are dropped, counted. */
const MAX_BUFFERED_BYTES = 256 * 1024;

type Entry = { pcm: Int16Array } | { readonly name: string; readonly resolve: (r: MarkResult) => void };

interface Waiting {
  readonly name: string;
  readonly resolve: (r: MarkResult) => void;
  /** Where on the sent timeline (ms) the audio before the mark ends. */
  readonly atMs: number;
}

/**
 * Audio into a FreeSWITCH call (agent mode), as the fork module's play message. Both modules
 * write each message to a file that the dialplan or application plays; neither reports playback.
 * So voxline paces the chunks itself on the shared media clock, one 200 ms chunk ahead, and a
 * mark means: the audio before it has been sent and, by voxline's clock, has had time to play
 * (as it would if FreeSWITCH plays each file as it arrives). `clear` drops what voxline still
 * holds, sends `killAudio`, and resolves waiting marks as cleared.
 */
export class FreeSwitchOutbound implements OutboundAudio, Paced {
  readonly #clock: MediaClock;
  readonly #socket: WebSocket;
  readonly #module: ForkModule;
  readonly #rate: ForkRate;
  readonly #log: FastifyBaseLogger;
  readonly #onFailure: (error: unknown) => void;
  readonly #down: Downsampler16to8 | undefined;
  readonly #queue: Entry[] = [];
  readonly #waiting: Waiting[] = [];
  #queuedSamples = 0;
  /** Ms of audio sent, and ms of it that has had time to play (the outbound timeline). */
  #sentMs = 0;
  #playedMs = 0;
  #ended = false;
  #backpressure = false;
  chunksSent = 0;
  /** Audio dropped because FreeSWITCH was not reading the socket. */
  droppedMs = 0;

  constructor(
    clock: MediaClock,
    socket: WebSocket,
    module: ForkModule,
    rate: ForkRate,
    log: FastifyBaseLogger,
    onFailure: (error: unknown) => void,
  ) {
    this.#clock = clock;
    this.#socket = socket;
    this.#module = module;
    this.#rate = rate;
    this.#log = log;
    this.#onFailure = onFailure;
    this.#down = rate === 8000 ? new Downsampler16to8() : undefined;
    clock.add(this);
  }

  sendPcm(pcm: Int16Array): void {
    this.#assertOpen();
    if ((this.#queuedSamples + pcm.length) / 16 > MAX_QUEUED_MS) {
      throw new VoxlineError('VL_ERR_OUTBOUND_BACKPRESSURE', `${MAX_QUEUED_MS} ms already queued`);
    }
    if (pcm.length === 0) return;
    this.#queue.push({ pcm: pcm.slice() });
    this.#queuedSamples += pcm.length;
  }

  mark(name: string): Promise<MarkResult> {
    this.#assertOpen();
    return new Promise((resolve) => this.#queue.push({ name, resolve }));
  }

  clear(): void {
    this.#assertOpen();
    this.#drop();
    this.#playedMs = this.#sentMs; // killAudio stops what was playing
    if (this.#socket.readyState === this.#socket.OPEN) this.#socket.send(encodeKill());
  }

  /** Queued audio in ms (not yet sent). */
  get queuedMs(): number {
    return this.#queuedSamples / 16;
  }

  tick(frames: number): void {
    this.#playedMs = Math.min(this.#sentMs, this.#playedMs + frames * FRAME_MS);
    for (;;) {
      this.#moveSentMarks();
      if (this.#sentMs - this.#playedMs >= MIN_AHEAD_MS || this.#queue.length === 0) break;
      this.#sendChunk();
    }
    while (this.#waiting.length > 0 && this.#waiting[0].atMs <= this.#playedMs) {
      const mark = this.#waiting.shift() as Waiting;
      mark.resolve({ name: mark.name, cleared: false });
    }
  }

  failed(error: unknown): void {
    this.end();
    this.#onFailure(error);
  }

  /** The call ended: stop ticking; marks still waiting resolve as cleared. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#clock.delete(this);
    this.#drop();
  }

  /** Marks at the head: the audio before them is sent; they wait for it to have played. */
  #moveSentMarks(): void {
    while (this.#queue.length > 0 && 'name' in this.#queue[0]) {
      const mark = this.#queue.shift() as { name: string; resolve: (r: MarkResult) => void };
      this.#waiting.push({ name: mark.name, resolve: mark.resolve, atMs: this.#sentMs });
    }
  }

  /** Up to 200 ms of the audio at the head (never past a mark), as one play message. */
  #sendChunk(): void {
    const parts: Int16Array[] = [];
    let samples = 0;
    while (samples < CHUNK_SAMPLES_16K && this.#queue.length > 0 && 'pcm' in this.#queue[0]) {
      const head = this.#queue[0] as { pcm: Int16Array };
      const take = Math.min(head.pcm.length, CHUNK_SAMPLES_16K - samples);
      parts.push(head.pcm.subarray(0, take));
      samples += take;
      if (take === head.pcm.length) this.#queue.shift();
      else head.pcm = head.pcm.subarray(take);
    }
    this.#queuedSamples -= samples;
    const chunk = new Int16Array(samples);
    let at = 0;
    for (const part of parts) {
      chunk.set(part, at);
      at += part.length;
    }
    const ms = samples / 16;
    this.#sentMs += ms;
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    if (this.#socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      if (!this.#backpressure) this.#log.warn('FreeSWITCH is not reading the socket: agent audio dropped');
      this.#backpressure = true;
      this.droppedMs += ms;
      return;
    }
    this.#backpressure = false;
    this.#socket.send(encodePlay(this.#module, this.#down ? this.#down.pushPcm(chunk) : chunk, this.#rate));
    this.chunksSent++;
  }

  #drop(): void {
    for (const entry of this.#queue.splice(0)) {
      if ('name' in entry) entry.resolve({ name: entry.name, cleared: true });
    }
    for (const mark of this.#waiting.splice(0)) mark.resolve({ name: mark.name, cleared: true });
    this.#queuedSamples = 0;
  }

  #assertOpen(): void {
    if (this.#ended) throw new VoxlineError('VL_ERR_CALL_ENDED');
  }
}
