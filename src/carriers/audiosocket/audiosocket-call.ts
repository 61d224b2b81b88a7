import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { Downsampler16to8 } from '../../audio/downsampler.js';
import { pcmToLittleEndian } from '../../audio/pcm16le.js';
import { StreamResampler } from '../../audio/stream-resampler.js';
import type { Call } from '../../calls/call.js';
import type { CallTransport } from '../carrier.js';
import type { EdgeContext } from '../edge-context.js';
import { PacedOutbound } from '../paced-outbound.js';
import { AUDIO_KIND_FOR_RATE, encodeFrame, KIND } from './frames.js';

/** A connection's side of a call: which leg it carries, and its place on the call clock. */
export interface AudioSocketLeg {
  readonly track: string;
  readonly socket: Socket;
  /** Samples (at the leg's rate) received so far, plus where on the call clock the leg started. */
  position: number;
}

/**
 * One AudioSocket call: one connection (the AudioSocket app, or a channel), or two when legs are
 * paired (ARI snoop in/out with one external media channel each). Ends when every connection it
 * had has closed; ending it from voxline's side sends a hangup frame on each and closes them.
 */
export class AudioSocketCall implements CallTransport {
  readonly key: string;
  readonly legs = new Map<string, AudioSocketLeg>();
  readonly createdAt = performance.now();
  call: Call | undefined;
  #open = 0;

  constructor(key: string) {
    this.key = key;
  }

  join(leg: AudioSocketLeg): void {
    this.legs.set(leg.track, leg);
    this.#open++;
  }

  /** A connection closed; true when it was the last. */
  leave(): boolean {
    this.#open--;
    return this.#open <= 0;
  }

  close(_code: number, reason: string): void {
    for (const leg of this.legs.values()) {
      if (leg.socket.destroyed) continue;
      leg.socket.end(encodeFrame(KIND.hangup));
      leg.socket.destroySoon?.();
    }
    this.call?.log.info({ reason }, 'AudioSocket call closed by voxline');
  }
}

/** Agent audio into an AudioSocket call, paced at 20 ms, at the rate Asterisk sends. */
export function audioSocketOutbound(
  ctx: EdgeContext,
  socket: Socket,
  rate: number,
  log: FastifyBaseLogger,
): PacedOutbound {
  const kind = AUDIO_KIND_FOR_RATE.get(rate) ?? 0x10;
  const down = rate === 8000 ? new Downsampler16to8() : undefined;
  const resampler = rate !== 8000 && rate !== 16_000 ? new StreamResampler(16_000, rate) : undefined;
  let backpressure = false;
  return new PacedOutbound(
    ctx.clock,
    (frame) => {
      if (!frame || socket.destroyed) return;
      const pcm = down ? down.pushPcm(frame) : resampler ? resampler.push(frame) : frame;
      if (socket.writableLength > 64 * 1024) {
        if (!backpressure) log.warn('AudioSocket peer is not reading: agent audio dropped');
        backpressure = true;
        return;
      }
      backpressure = false;
      socket.write(encodeFrame(kind, pcmToLittleEndian(pcm)));
    },
    (err) => {
      // Sending threw: this call ends (its connection closes), every other call goes on.
      ctx.metrics.ingress.failures.inc({ ingress: 'audiosocket' });
      log.error({ err }, 'AudioSocket audio out failed: ending the call');
      socket.destroy();
    },
  );
}
