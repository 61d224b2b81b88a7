import type { DemoCall, DemoWord } from '../helpers/media.js';

/** A word the double "recognises", placed relative to the start of the audio it was sent. */
export interface HeardWord {
  readonly word: string;
  readonly atMs: number;
}

interface ReferenceLeg {
  /** The leg as 8 kHz linear PCM (Int16 little-endian bytes), decoded here per G.711. */
  readonly pcm8k: Buffer;
  readonly mulaw8k: Buffer;
  readonly words: readonly DemoWord[];
}

/** Bytes of an 80 ms piece used to find where received audio sits in a reference leg. */
const PROBE_MS = 80;

/**
 * What the speech-server doubles "recognise": they find the received audio in a known recording
 * (exact samples) and replay the manifest's words at the times the manifest says they were spoken.
 * Audio that matches nothing is heard as silence.
 *
 * 16 kHz audio is found without voxline's converter: a half-band interpolator passes every input
 * sample through unchanged as every other output sample (docs/audio.md), so one of the two sample
 * phases of what voxline sends is the 8 kHz leg itself, which this file decodes on its own.
 */
export class ReferenceAudio {
  readonly #legs: ReferenceLeg[] = [];
  /** Legs known only at 16 kHz (a wideband codec's decoding): found sample for sample. */
  readonly #wideband: { readonly pcm16k: Buffer; readonly words: readonly DemoWord[] }[] = [];

  constructor(calls: readonly DemoCall[]) {
    for (const call of calls) {
      for (const leg of ['caller', 'agent'] as const) {
        const mulaw = call[leg];
        this.#legs.push({
          pcm8k: decodeMulaw(mulaw),
          mulaw8k: Buffer.from(mulaw),
          words: call.words.filter((w) => w.leg === leg),
        });
      }
    }
  }

  /** A leg as the gateway must hand it on at 16 kHz (e.g. G.722 decoded), with its words. */
  addWideband(pcm16k: Int16Array, words: readonly DemoWord[]): void {
    const bytes = Buffer.alloc(pcm16k.length * 2);
    for (let i = 0; i < pcm16k.length; i++) bytes.writeInt16LE(pcm16k[i] as number, 2 * i);
    this.#wideband.push({ pcm16k: bytes, words });
  }

  /**
   * Where `received` (the audio of one utterance so far) starts in a reference leg, in ms, and the
   * words of that leg; undefined while it holds no distinctive 80 ms piece.
   */
  locate(
    received: Buffer,
    encoding: 'pcm16k' | 'mulaw8k',
  ): { startMs: number; words: readonly DemoWord[] } | undefined {
    return encoding === 'pcm16k' ? this.#locatePcm16k(received) : this.#locateMulaw(received);
  }

  #locateMulaw(received: Buffer): { startMs: number; words: readonly DemoWord[] } | undefined {
    const probe = PROBE_MS * 8;
    for (let at = 0; at + probe <= received.length; at += probe) {
      const piece = received.subarray(at, at + probe);
      if (piece.every((b) => b === 0xff)) continue;
      for (const leg of this.#legs) {
        const found = leg.mulaw8k.indexOf(piece);
        if (found >= 0) return { startMs: (found - at) / 8, words: leg.words };
      }
      return undefined;
    }
    return undefined;
  }

  #locatePcm16k(received: Buffer): { startMs: number; words: readonly DemoWord[] } | undefined {
    const samples = received.length >> 1;
    const probe = PROBE_MS * 16; // 16 kHz samples
    for (let at = 0; at + probe <= samples; at += probe) {
      let silent = true;
      for (let i = at; i < at + probe && silent; i++) silent = received.readInt16LE(2 * i) === 0;
      if (silent) continue;
      // A wideband codec's idle noise is the same on every leg that starts quiet: not distinctive.
      if (this.#wideband.length > 0 && peak(received, at, probe) < QUIET) continue;
      // Either phase may be the passed-through one, depending on where the utterance began.
      for (const phase of [0, 1]) {
        const piece = everyOther(received, at + phase, probe / 2);
        for (const leg of this.#legs) {
          const found = findAligned(leg.pcm8k, piece, 2);
          if (found < 0) continue;
          // 16 kHz sample `at + phase` is 8 kHz sample found/2 (less the converter's fixed
          // 31-sample delay, under 2 ms, which the ±160 ms word bound does not see).
          return { startMs: (found / 2 - (at + phase) / 2) / 8, words: leg.words };
        }
      }
      const piece = received.subarray(2 * at, 2 * (at + probe));
      for (const leg of this.#wideband) {
        const found = findAligned(leg.pcm16k, piece, 2);
        if (found >= 0) return { startMs: (found / 2 - at) / 16, words: leg.words };
      }
      return undefined;
    }
    return undefined;
  }
}

/** Below this peak, a probe of wideband audio is too quiet to tell legs apart. */
const QUIET = 512;

function peak(pcm: Buffer, from: number, count: number): number {
  let max = 0;
  for (let i = from; i < from + count; i++) max = Math.max(max, Math.abs(pcm.readInt16LE(2 * i)));
  return max;
}

/** `count` Int16 samples of `pcm`, from sample `from`, taking every second one. */
function everyOther(pcm: Buffer, from: number, count: number): Buffer {
  const out = Buffer.alloc(count * 2);
  for (let i = 0; i < count; i++) out.writeInt16LE(pcm.readInt16LE(2 * (from + 2 * i)), 2 * i);
  return out;
}

/** G.711 μ-law to 16-bit linear, from the ITU-T G.711 expansion rule (not voxline's table). */
function decodeMulaw(mulaw: Uint8Array): Buffer {
  const out = Buffer.alloc(mulaw.length * 2);
  for (let i = 0; i < mulaw.length; i++) {
    const u = ~mulaw[i] & 0xff;
    const magnitude = ((((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 0x07)) - 0x84;
    out.writeInt16LE(u & 0x80 ? -magnitude : magnitude, 2 * i);
  }
  return out;
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
