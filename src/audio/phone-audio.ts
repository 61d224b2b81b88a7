import { CARRIER_RATE_HZ, PCM_RATE_HZ } from './frame.js';
import { pcmToMulaw } from './g711.js';
import { resample, toInt16 } from './resample.js';
import { decodeWav, downmix } from './wav.js';

/** A WAV file at any rate and channel count → mono PCM16 at 8 kHz (resampled with anti-aliasing). */
export function wavToPcm8k(wav: Uint8Array): Int16Array {
  const audio = decodeWav(wav);
  return toInt16(resample(downmix(audio), audio.sampleRate, CARRIER_RATE_HZ));
}

/** A WAV file at any rate → what a phone carrier sends: μ-law at 8 kHz. */
export function wavToMulaw8k(wav: Uint8Array): Uint8Array {
  return pcmToMulaw(wavToPcm8k(wav));
}

/** Mono samples (16-bit units) at any rate → PCM16 at 16 kHz, the core's format. */
export function toPcm16k(samples: Float64Array, sampleRate: number): Int16Array {
  return toInt16(sampleRate === PCM_RATE_HZ ? samples : resample(samples, sampleRate, PCM_RATE_HZ));
}

/** A WAV file at any rate and channel count → mono PCM16 at 16 kHz. */
export function wavToPcm16k(wav: Uint8Array): Int16Array {
  const audio = decodeWav(wav);
  return toPcm16k(downmix(audio), audio.sampleRate);
}
