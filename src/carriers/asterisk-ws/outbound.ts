import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import { Downsampler16to8 } from '../../audio/downsampler.js';
import { pcmToAlaw, pcmToMulaw } from '../../audio/g711.js';
import type { MarkResult, OutboundAudio } from '../carrier.js';
import type { MediaClock, Paced } from '../media-clock.js';
import { type ControlFormat, encodeCommand, MAX_MESSAGE_BYTES, type MediaFormat } from './codec.js';

/** Audio voxline holds (ahead of Asterisk's queue, or under MEDIA_XOFF): this many seconds, then dropped (counted). */
const MAX_HELD_SECONDS = 60;
/**
 * Frames voxline lets Asterisk queue, by its own count (Asterisk plays one per 20 ms): 10 s,
 * well under its XOFF level (900 of 1000), so a long answer never overflows the queue.
 */
const MAX_AHEAD_FRAMES = 500;
/** Past this much unsent in the socket Asterisk is not reading: audio is dropped, counted. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Marks waiting for MEDIA_MARK_PROCESSED at once; past this the oldest resolves (as played). */
const MAX_PENDING_MARKS = 256;
const SILENCE: Record<string, number> = { ulaw: 0xff, alaw: 0xd5 };

type Held = { readonly bytes: Buffer } | { readonly markId: string };

interface PendingMark {
  readonly name: string;
  readonly resolve: (result: MarkResult) => void;
}

/**
 * Audio into an Asterisk call (agent mode). chan_websocket queues what it gets (about 1000
 * frames) and re-times it itself, so voxline sends as soon as it has whole frames, in messages of
 * whole `optimal_frame_size` multiples under 65,500 bytes, keeping at most 10 s queued there by
 * its own count on the shared media clock; on MEDIA_XOFF it holds audio until MEDIA_XON (60 s at
 * most, then drops and counts). A mark is `MARK_MEDIA id` after its audio (the
 * tail padded with silence to a whole frame); it resolves on `MEDIA_MARK_PROCESSED id`, which
 * Asterisk sends when the audio before it has left its queue for the channel. `clear` is
 * `FLUSH_MEDIA`: Asterisk drops its queue, marks in it included, so waiting marks resolve cleared.
 */
export class AsteriskOutbound implements OutboundAudio, Paced {
  readonly #clock: MediaClock;
  readonly #socket: WebSocket;
  readonly #format: MediaFormat;
  readonly #control: ControlFormat;
  readonly #frameBytes: number;
  readonly #log: FastifyBaseLogger;
  readonly #down: Downsampler16to8 | undefined;
  readonly #maxHeldBytes: number;
  readonly #held: Held[] = [];
  readonly #pending = new Map<string, PendingMark>();
  /** Encoded bytes short of a whole frame. */
  #partial: Buffer = Buffer.alloc(0);
  #heldBytes = 0;
  #xoff = false;
  /** Frames Asterisk has queued, by voxline's count: what it sent, less a frame per 20 ms. */
  #aheadFrames = 0;
  #nextId = 0;
  #ended = false;
  #warnedDrop = false;
  bytesSent = 0;
  /** Audio dropped (held too long under XOFF, or the socket not read), in bytes of the format. */
  droppedBytes = 0;

  constructor(
    clock: MediaClock,
    socket: WebSocket,
    format: MediaFormat,
    control: ControlFormat,
    optimalFrameSize: number,
    log: FastifyBaseLogger,
  ) {
    this.#clock = clock;
    this.#socket = socket;
    this.#format = format;
    this.#control = control;
    this.#frameBytes = optimalFrameSize;
    this.#log = log;
    this.#down = format.sampleRate === 8000 ? new Downsampler16to8() : undefined;
    this.#maxHeldBytes = MAX_HELD_SECONDS * format.sampleRate * format.sampleBytes;
    clock.add(this);
  }

  tick(frames: number): void {
    this.#aheadFrames = Math.max(0, this.#aheadFrames - frames);
    this.#flush();
  }

  failed(): void {
    this.end(); // a send threw: the socket is going; the session ends the call on its close
  }

  sendPcm(pcm: Int16Array): void {
    if (this.#ended || pcm.length === 0) return;
    const encoded = Buffer.concat([this.#partial, this.#encode(pcm)]);
    const whole = encoded.length - (encoded.length % this.#frameBytes);
    this.#partial = encoded.subarray(whole);
    if (whole > 0) this.#queueAudio(encoded.subarray(0, whole));
  }

  mark(name: string): Promise<MarkResult> {
    if (this.#ended) return Promise.resolve({ name, cleared: true });
    // A short tail is padded to a whole frame: Asterisk would drop it, and the mark would be early.
    if (this.#partial.length > 0) {
      const frame = Buffer.alloc(this.#frameBytes, SILENCE[this.#format.name] ?? 0);
      this.#partial.copy(frame);
      this.#partial = Buffer.alloc(0);
      this.#queueAudio(frame);
    }
    return new Promise((resolve) => {
      if (this.#pending.size >= MAX_PENDING_MARKS) this.#expireOldest();
      const id = `voxline-${++this.#nextId}`;
      this.#pending.set(id, { name, resolve });
      this.#held.push({ markId: id });
      this.#flush();
    });
  }

  clear(): void {
    if (this.#ended) return;
    this.#held.length = 0;
    this.#heldBytes = 0;
    this.#partial = Buffer.alloc(0);
    this.#aheadFrames = 0;
    this.#resolveAll(true);
    this.#command('FLUSH_MEDIA');
  }

  /** Asterisk's MEDIA_XOFF (true) and MEDIA_XON (false). */
  setXoff(xoff: boolean): void {
    this.#xoff = xoff;
    if (!xoff) this.#flush();
  }

  /** MEDIA_MARK_PROCESSED. Returns false when it was not one of voxline's marks still waiting. */
  acknowledge(id: string | undefined): boolean {
    const pending = id === undefined ? undefined : this.#pending.get(id);
    if (!pending || id === undefined) return false;
    this.#pending.delete(id);
    pending.resolve({ name: pending.name, cleared: false });
    return true;
  }

  /** The call ended: nothing more is sent; marks still waiting resolve as cleared. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#clock.delete(this);
    this.#held.length = 0;
    this.#resolveAll(true);
  }

  get heldBytes(): number {
    return this.#heldBytes;
  }

  #encode(pcm: Int16Array): Buffer {
    const narrow = this.#down ? this.#down.pushPcm(pcm) : pcm;
    if (this.#format.name === 'ulaw' || this.#format.name === 'alaw') {
      const bytes = this.#format.name === 'ulaw' ? pcmToMulaw(narrow) : pcmToAlaw(narrow);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    }
    const out = Buffer.allocUnsafe(narrow.length * 2);
    for (let i = 0; i < narrow.length; i++) out.writeInt16LE(narrow[i], 2 * i);
    return out;
  }

  #queueAudio(bytes: Buffer): void {
    if (this.#heldBytes + bytes.length > this.#maxHeldBytes) {
      this.#dropped(bytes.length, `more than ${MAX_HELD_SECONDS} s held for Asterisk`);
      return;
    }
    // In messages of whole frames under Asterisk's 65,500-byte limit, so each can wait its turn.
    const perMessage = Math.floor(MAX_MESSAGE_BYTES / this.#frameBytes) * this.#frameBytes;
    for (let at = 0; at < bytes.length; at += perMessage)
      this.#held.push({ bytes: bytes.subarray(at, at + perMessage) });
    this.#heldBytes += bytes.length;
    this.#flush();
  }

  /** Sends what is held while Asterisk has room (by voxline's count) and has not said XOFF. */
  #flush(): void {
    if (this.#ended || this.#socket.readyState !== this.#socket.OPEN) return;
    while (this.#held.length > 0 && !this.#xoff) {
      const head = this.#held[0];
      if ('markId' in head) {
        this.#held.shift();
        this.#command('MARK_MEDIA', head.markId);
        continue;
      }
      if (this.#aheadFrames >= MAX_AHEAD_FRAMES) return;
      this.#held.shift();
      this.#heldBytes -= head.bytes.length;
      if (this.#socket.bufferedAmount > MAX_BUFFERED_BYTES) {
        this.#dropped(head.bytes.length, 'Asterisk is not reading the socket');
        continue;
      }
      this.#socket.send(head.bytes, { binary: true });
      this.#aheadFrames += head.bytes.length / this.#frameBytes;
      this.bytesSent += head.bytes.length;
    }
  }

  #dropped(bytes: number, why: string): void {
    this.droppedBytes += bytes;
    if (!this.#warnedDrop) this.#log.warn({ why }, 'agent audio dropped');
    this.#warnedDrop = true;
  }

  #command(command: string, id?: string): void {
    if (this.#socket.readyState === this.#socket.OPEN)
      this.#socket.send(encodeCommand(this.#control, command, id));
  }

  #expireOldest(): void {
    const [id, oldest] = this.#pending.entries().next().value as [string, PendingMark];
    this.#pending.delete(id);
    oldest.resolve({ name: oldest.name, cleared: false });
  }

  #resolveAll(cleared: boolean): void {
    for (const pending of this.#pending.values()) pending.resolve({ name: pending.name, cleared });
    this.#pending.clear();
  }
}
