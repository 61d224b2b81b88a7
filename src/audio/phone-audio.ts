import { CARRIER_RATE_HZ } from './frame.js';
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
