import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileWat, MODULE_PATH, moduleSource } from '../../src/audio/compile-wat.js';
import { designHalfbandPhaseQ14 } from '../../src/audio/halfband.js';
import { Upsampler8to16 } from '../../src/audio/upsampler.js';

describe('the WebAssembly SIMD kernel', () => {
  it('is exactly what halfband-simd.wat compiles to (run npm run build:wasm after editing it)', async () => {
    expect(readFileSync(MODULE_PATH, 'utf8')).toBe(moduleSource(await compileWat()));
  });

  it('computes every filtered sample as the plain integer sum of tap × sample, rounded from Q14', () => {
    const taps = designHalfbandPhaseQ14();
    let seed = 12345;
    const x = Int16Array.from({ length: 5000 }, () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 16) - 32768;
    });
    const out = new Upsampler8to16().pushPcm(x);
    const padded = new Int16Array(31 + x.length);
    padded.set(x, 31);
    let mismatches = 0;
    for (let k = 0; k < x.length; k++) {
      let acc = 0;
      for (let j = 0; j < 32; j++) acc += taps[j] * padded[k + j];
      const expected = Math.max(-32768, Math.min(32767, Math.floor((acc + 8192) / 16384)));
      if (out[2 * k] !== expected || out[2 * k + 1] !== padded[k + 16]) mismatches++;
    }
    expect(mismatches).toBe(0);
  });

  it('keeps separate upsamplers separate, though they share the kernel', () => {
    const a = new Upsampler8to16();
    const b = new Upsampler8to16();
    const loud = Int16Array.from({ length: 160 }, (_, i) => (i % 2 ? 20000 : -20000));
    const quiet = new Int16Array(160);
    const reference = new Upsampler8to16();
    reference.pushPcm(quiet);
    a.pushPcm(loud);
    b.pushPcm(quiet); // interleaved with a
    expect([...b.pushPcm(quiet)]).toEqual([...reference.pushPcm(quiet)]);
    expect(a.pushPcm(quiet).some((v) => v !== 0)).toBe(true); // a's history still rings
  });
});
