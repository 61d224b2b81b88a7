import { Downsampler16to8 } from '../../audio/downsampler.js';
import { pcmToAlaw, pcmToMulaw } from '../../audio/g711.js';
import { G722Encoder } from '../../audio/g722.js';
import type { SdpCodec } from './sdp.js';

const SILENCE_20MS = new Int16Array(320);

/**
 * 20 ms frames of 16 kHz PCM (undefined: silence) → the negotiated codec's 160 bytes. G.711 is
 * downsampled first; G.722 encodes at 16 kHz, and its silence goes through the encoder too, so
 * the far end's decoder state follows ours across the pauses.
 */
export function rtpFrameEncoder(codec: SdpCodec): (frame: Int16Array | undefined) => Uint8Array {
  if (codec === 'g722') {
    const encoder = new G722Encoder();
    return (frame) => encoder.encode(frame ?? SILENCE_20MS);
  }
  const down = new Downsampler16to8();
  const alaw = codec === 'pcma';
  const silence = new Uint8Array(160).fill(alaw ? 0xd5 : 0xff);
  return (frame) => {
    if (!frame) return silence;
    const narrow = down.pushPcm(frame);
    return alaw ? pcmToAlaw(narrow) : pcmToMulaw(narrow);
  };
}
