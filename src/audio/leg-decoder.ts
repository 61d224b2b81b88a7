import { Downsampler16to8 } from './downsampler.js';
import { CARRIER_RATE_HZ, PCM_RATE_HZ } from './frame.js';
import { alawToPcm, pcmToMulaw } from './g711.js';
import { G722Decoder } from './g722.js';
import { StreamResampler } from './stream-resampler.js';
import { Upsampler8to16 } from './upsampler.js';

/**
 * How a leg's audio arrives: G.711 bytes at 8 kHz, G.722 bytes (one per two 16 kHz samples, so
 * 8000 a second, as its RTP clock counts), or linear PCM16 (host order) at `sampleRate`.
 */
export type LegCodec = 'pcmu' | 'pcma' | 'g722' | 'l16';

/**
 * One chunk converted for the core. The object and both arrays are lent until the next call
 * (one per decoder, reused: no allocation per frame on the media path).
 */
export interface DecodedChunk {
  /** PCM16 at 16 kHz. */
  pcm: Int16Array;
  /** The same audio as μ-law at 8 kHz (for engines and recorders that take phone audio). */
  mulaw: Uint8Array;
}

function chunk(): DecodedChunk {
  return { pcm: new Int16Array(0), mulaw: new Uint8Array(0) };
}

/**
 * Converts one leg's carrier samples, in timeline order, to the core's format. Stateful (filter
 * history), so one per leg. `T` is what the carrier sends: bytes for G.711, Int16Array for PCM.
 */
export interface LegDecoder<T extends Uint8Array | Int16Array> {
  readonly sampleRate: number;
  decode(payload: T): DecodedChunk;
  /** `samples` of silence at the carrier rate, as the carrier would send it. */
  silence(samples: number): T;
}

/** Reusable output buffers: one allocation per leg, grown when a longer chunk comes. */
class Lender {
  #pcm = new Int16Array(320);
  #mulaw = new Uint8Array(160);
  #pcm8k = new Int16Array(160);

  pcm(n: number): Int16Array {
    if (this.#pcm.length < n) this.#pcm = new Int16Array(n);
    return this.#pcm.length === n ? this.#pcm : this.#pcm.subarray(0, n);
  }

  mulaw(n: number): Uint8Array {
    if (this.#mulaw.length < n) this.#mulaw = new Uint8Array(n);
    return this.#mulaw.length === n ? this.#mulaw : this.#mulaw.subarray(0, n);
  }

  pcm8k(n: number): Int16Array {
    if (this.#pcm8k.length < n) this.#pcm8k = new Int16Array(n);
    return this.#pcm8k.length === n ? this.#pcm8k : this.#pcm8k.subarray(0, n);
  }
}

const SILENCE_BYTES = { pcmu: 0xff, pcma: 0xd5 } as const;

/** G.711 μ-law: the Twilio and most SIP path; the bytes pass through as the frame's μ-law. */
class MulawDecoder implements LegDecoder<Uint8Array> {
  readonly sampleRate = CARRIER_RATE_HZ;
  readonly #up = new Upsampler8to16();
  readonly #lend = new Lender();

  readonly #out = chunk();

  decode(payload: Uint8Array): DecodedChunk {
    this.#out.pcm = this.#up.pushMulaw(payload, this.#lend.pcm(payload.length * 2));
    this.#out.mulaw = payload;
    return this.#out;
  }

  silence(samples: number): Uint8Array {
    return new Uint8Array(samples).fill(SILENCE_BYTES.pcmu);
  }
}

/** G.711 A-law: decoded exactly to linear, then re-encoded as μ-law for the frame. */
class AlawDecoder implements LegDecoder<Uint8Array> {
  readonly sampleRate = CARRIER_RATE_HZ;
  readonly #up = new Upsampler8to16();
  readonly #lend = new Lender();

  readonly #out = chunk();

  decode(payload: Uint8Array): DecodedChunk {
    const linear = alawToPcm(payload, this.#lend.pcm8k(payload.length));
    this.#out.pcm = this.#up.pushPcm(linear, this.#lend.pcm(payload.length * 2));
    this.#out.mulaw = pcmToMulaw(linear, this.#lend.mulaw(payload.length));
    return this.#out;
  }

  silence(samples: number): Uint8Array {
    return new Uint8Array(samples).fill(SILENCE_BYTES.pcma);
  }
}

/**
 * G.722 (64 kbit/s): decoded exactly to 16 kHz, so no resampling; the timeline counts bytes.
 * A filled gap is silence, not decoded bytes: no byte decodes to silence, and the codec's state
 * carries on from the last real audio, as after any lost packet.
 */
class G722LegDecoder implements LegDecoder<Uint8Array> {
  readonly sampleRate = CARRIER_RATE_HZ;
  readonly #codec = new G722Decoder();
  readonly #down = new Downsampler16to8();
  #silence = new Uint8Array(0);
  readonly #lend = new Lender();
  readonly #out = chunk();

  decode(payload: Uint8Array): DecodedChunk {
    const pcm = this.#lend.pcm(payload.length * 2);
    if (payload.buffer === this.#silence.buffer) pcm.fill(0);
    else this.#codec.decode(payload, pcm);
    this.#out.pcm = pcm;
    this.#out.mulaw = pcmToMulaw(this.#down.pushPcm(pcm), this.#lend.mulaw(payload.length));
    return this.#out;
  }

  /** The leg's own silence buffer, recognised by `decode` (the aligner passes views of it). */
  silence(samples: number): Uint8Array {
    if (this.#silence.length < samples) this.#silence = new Uint8Array(samples);
    return this.#silence.subarray(0, samples);
  }
}

/** Linear PCM at 8 kHz (AudioSocket's slin). */
class Pcm8kDecoder implements LegDecoder<Int16Array> {
  readonly sampleRate = CARRIER_RATE_HZ;
  readonly #up = new Upsampler8to16();
  readonly #lend = new Lender();

  readonly #out = chunk();

  decode(payload: Int16Array): DecodedChunk {
    this.#out.pcm = this.#up.pushPcm(payload, this.#lend.pcm(payload.length * 2));
    this.#out.mulaw = pcmToMulaw(payload, this.#lend.mulaw(payload.length));
    return this.#out;
  }

  silence(samples: number): Int16Array {
    return new Int16Array(samples);
  }
}

/** Linear PCM at 16 kHz (passed through) or any other rate (resampled to 16 kHz). */
class PcmDecoder implements LegDecoder<Int16Array> {
  readonly sampleRate: number;
  readonly #resampler: StreamResampler | undefined;
  readonly #down = new Downsampler16to8();
  readonly #lend = new Lender();
  readonly #out = chunk();

  constructor(sampleRate: number) {
    this.sampleRate = sampleRate;
    this.#resampler = sampleRate === PCM_RATE_HZ ? undefined : new StreamResampler(sampleRate, PCM_RATE_HZ);
  }

  decode(payload: Int16Array): DecodedChunk {
    const pcm = this.#resampler ? this.#resampler.push(payload) : payload;
    const narrow = this.#down.pushPcm(pcm);
    // An odd-length chunk leaves its last sample in the downsampler: the μ-law is one short.
    const mulaw = this.#lend.mulaw(pcm.length >> 1);
    mulaw.fill(SILENCE_BYTES.pcmu);
    pcmToMulaw(narrow.subarray(0, mulaw.length), mulaw);
    this.#out.pcm = pcm;
    this.#out.mulaw = mulaw;
    return this.#out;
  }

  silence(samples: number): Int16Array {
    return new Int16Array(samples);
  }
}

export function createLegDecoder(codec: 'pcmu' | 'pcma' | 'g722'): LegDecoder<Uint8Array>;
export function createLegDecoder(codec: 'l16', sampleRate: number): LegDecoder<Int16Array>;
export function createLegDecoder(
  codec: LegCodec,
  sampleRate?: number,
): LegDecoder<Uint8Array> | LegDecoder<Int16Array>;
export function createLegDecoder(
  codec: LegCodec,
  sampleRate = CARRIER_RATE_HZ,
): LegDecoder<Uint8Array> | LegDecoder<Int16Array> {
  if (codec === 'pcmu') return new MulawDecoder();
  if (codec === 'pcma') return new AlawDecoder();
  if (codec === 'g722') return new G722LegDecoder();
  if (!Number.isInteger(sampleRate) || sampleRate < 8000 || sampleRate > 192_000) {
    throw new RangeError(`unsupported PCM sample rate ${sampleRate}`);
  }
  return sampleRate === CARRIER_RATE_HZ ? new Pcm8kDecoder() : new PcmDecoder(sampleRate);
}
