import { Upsampler8to16 } from '../../src/audio/upsampler.js';
import type { DemoCall, DemoWord } from '../helpers/media.js';

/** A word the double "recognises", placed relative to the start of the audio it was sent. */
export interface HeardWord {
  readonly word: string;
  readonly atMs: number;
}

interface ReferenceLeg {
  readonly pcm16k: Buffer;
  readonly mulaw8k: Buffer;
  readonly words: readonly DemoWord[];
}

/** Bytes of an 80 ms piece used to find where received audio sits in a reference leg. */
const PROBE_MS = 80;

/**
 * What the speech-server doubles "recognise": they find the received audio in a known recording
 * (exact bytes, as voxline's conversion is deterministic) and replay the manifest's words at the
 * times the manifest says they were spoken. Audio that matches nothing is heard as silence.
 */
export class ReferenceAudio {
  readonly #legs: ReferenceLeg[] = [];

  constructor(calls: readonly DemoCall[]) {
    for (const call of calls) {
      for (const leg of ['caller', 'agent'] as const) {
        const mulaw = call[leg];
        const pcm = new Upsampler8to16().pushMulaw(mulaw);
        this.#legs.push({
          pcm16k: Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength),
          mulaw8k: Buffer.from(mulaw),
          words: call.words.filter((w) => w.leg === leg),
        });
      }
    }
  }

  /**
   * Where `received` (the audio of one utterance so far) starts in a reference leg, in ms, and the
   * words of that leg; undefined while it holds no distinctive 80 ms piece.
   */
  locate(
    received: Buffer,
    encoding: 'pcm16k' | 'mulaw8k',
  ): { startMs: number; words: readonly DemoWord[] } | undefined {
    const bytesPerMs = encoding === 'pcm16k' ? 32 : 8;
    const probe = PROBE_MS * bytesPerMs;
    const silence = encoding === 'pcm16k' ? 0 : 0xff;
    for (let at = 0; at + probe <= received.length; at += probe) {
      const piece = received.subarray(at, at + probe);
      if (piece.every((b) => b === silence)) continue;
      for (const leg of this.#legs) {
        const found = findAligned(leg[encoding], piece, encoding === 'pcm16k' ? 2 : 1);
        if (found >= 0) return { startMs: (found - at) / bytesPerMs, words: leg.words };
      }
      return undefined;
    }
    return undefined;
  }
}

function findAligned(haystack: Buffer, needle: Buffer, alignment: number): number {
  for (let from = 0; ; ) {
    const at = haystack.indexOf(needle, from);
    if (at < 0 || at % alignment === 0) return at;
    from = at + 1;
  }
}

/**
 * The words of a located utterance, relative to its first received byte: those whose start falls
 * within the audio received.
 */
export function wordsHeard(
  located: { startMs: number; words: readonly DemoWord[] },
  receivedMs: number,
): HeardWord[] {
  return located.words
    .map((w) => ({ word: w.word, atMs: w.startMs - located.startMs }))
    .filter((w) => w.atMs >= 0 && w.atMs < receivedMs);
}
