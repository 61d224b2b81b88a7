import { COLUMNS_HZ, DIGITS, ROWS_HZ } from './dtmf-block.js';

export interface KeyTiming {
  /** Tone per key: 100 ms, as phones send (ITU-T Q.24 asks at least 40 ms). */
  readonly toneMs: number;
  /** Silence after each key, so the far end hears repeated keys apart (Q.24: at least 40 ms). */
  readonly gapMs: number;
}

const PHONE_TIMING: KeyTiming = { toneMs: 100, gapMs: 60 };
/** Peak of a 0 dBm0 sine in 16-bit linear PCM (G.711's 3.14 dBm0 overload point is full scale). */
const ZERO_DBM0 = 32767 * 10 ** (-3.14 / 20);
/** The low (row) tone at −9 dBm0 and the high (column) tone at −7 dBm0: 2 dB of twist, as phones send. */
const ROW_AMPLITUDE = ZERO_DBM0 * 10 ** (-9 / 20);
const COLUMN_AMPLITUDE = ZERO_DBM0 * 10 ** (-7 / 20);
/** Rise and fall of each tone, so its edges do not click across the band. */
const RAMP_MS = 2;

/**
 * In-band DTMF: `keys` (0-9 * # A-D) as PCM, each key its row and column sines, then a gap.
 * For carriers whose streams carry only audio (Twilio, Telnyx, Exotel, ...): G.711 carries the
 * tones as well as it carries speech. Pure; throws RangeError on a key outside the keypad.
 */
export function dtmfTones(keys: string, sampleRate: 8000 | 16000 = 16000, timing = PHONE_TIMING): Int16Array {
  const tone = Math.round((sampleRate * timing.toneMs) / 1000);
  const step = tone + Math.round((sampleRate * timing.gapMs) / 1000);
  const ramp = Math.round((sampleRate * RAMP_MS) / 1000);
  const out = new Int16Array(step * keys.length);
  for (let k = 0; k < keys.length; k++) {
    const index = DIGITS.indexOf(keys[k].toUpperCase());
    if (index < 0) throw new RangeError(`not a keypad key: ${JSON.stringify(keys[k])}`);
    const row = (2 * Math.PI * ROWS_HZ[Math.floor(index / 4)]) / sampleRate;
    const column = (2 * Math.PI * COLUMNS_HZ[index % 4]) / sampleRate;
    for (let n = 0; n < tone; n++) {
      const envelope = Math.min(1, (n + 1) / ramp, (tone - n) / ramp);
      const value = ROW_AMPLITUDE * Math.sin(row * n) + COLUMN_AMPLITUDE * Math.sin(column * n);
      out[k * step + n] = Math.round(envelope * value);
    }
  }
  return out;
}
