import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ALAW_SILENCE,
  alawToPcm,
  MULAW_SILENCE,
  mulawToPcm,
  pcmToAlaw,
  pcmToMulaw,
} from '../../src/audio/g711.js';

const ALL_CODES = Uint8Array.from({ length: 256 }, (_, i) => i);
const ALL_SAMPLES = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);

/** SHA-256 of a table, Int16 values serialized little-endian so the hash is the same everywhere. */
function sha256(table: Uint8Array | Int16Array): string {
  let bytes: Buffer;
  if (table instanceof Int16Array) {
    bytes = Buffer.alloc(table.length * 2);
    for (let i = 0; i < table.length; i++) bytes.writeInt16LE(table[i], i * 2);
  } else {
    bytes = Buffer.from(table);
  }
  return createHash('sha256').update(bytes).digest('hex');
}

/*
 * Golden hashes: the tables produced by the ITU-T G.191 reference code (g711.c: ulaw_expand,
 * ulaw_compress, alaw_expand, alaw_compress), compiled and run over every code and every 16-bit
 * input. Encode tables are indexed by input −32768…32767; decode tables are Int16 LE.
 */
const G191 = {
  mulawDecode: '3dab54339e520bb2c924826e3b72a917a2b612e9fd12fc867500f1d983a75827',
  mulawEncode: '90c29de505fb68e766118303bd552a16005dcf810873698bee1d8f3b247ce28c',
  alawDecode: 'e04788d110e58ff8c70c93b8480190d973e3b67876b6119abbaec766cc75c174',
  alawEncode: '38488f6fd710f4686360edc4d38639f96c491595ef93f8eb8d62d5e07ca6ce7b',
};

describe('μ-law (G.711)', () => {
  it('decodes all 256 codes exactly as the G.191 reference', () => {
    expect(sha256(mulawToPcm(ALL_CODES))).toBe(G191.mulawDecode);
  });

  it('encodes all 65,536 inputs exactly as the G.191 reference', () => {
    expect(sha256(pcmToMulaw(ALL_SAMPLES))).toBe(G191.mulawEncode);
  });

  it('has the values G.711 table 2a gives at the ends of the scale', () => {
    const pcm = mulawToPcm(Uint8Array.of(0x00, 0x7f, 0x80, 0xfe, 0xff));
    expect([...pcm]).toEqual([-32124, 0, 32124, 8, 0]);
    expect(mulawToPcm(Uint8Array.of(MULAW_SILENCE))[0]).toBe(0);
  });

  it('round-trips every code except negative zero (0x7f), which decodes to the same 0 as 0xff', () => {
    const back = pcmToMulaw(mulawToPcm(ALL_CODES));
    const differing = [...ALL_CODES].filter((code) => back[code] !== code);
    expect(differing).toEqual([0x7f]);
  });

  it('quantizes monotonically: a louder input never decodes quieter', () => {
    const decoded = mulawToPcm(pcmToMulaw(ALL_SAMPLES));
    const firstDrop = decoded.findIndex((value, i) => i > 0 && value < decoded[i - 1]);
    expect(firstDrop).toBe(-1);
  });
});

describe('A-law (G.711)', () => {
  it('decodes and encodes exactly as the G.191 reference', () => {
    expect(sha256(alawToPcm(ALL_CODES))).toBe(G191.alawDecode);
    expect(sha256(pcmToAlaw(ALL_SAMPLES))).toBe(G191.alawEncode);
  });

  it('round-trips every code', () => {
    expect([...pcmToAlaw(alawToPcm(ALL_CODES))]).toEqual([...ALL_CODES]);
    expect(alawToPcm(Uint8Array.of(ALAW_SILENCE))[0]).toBe(8);
  });
});
