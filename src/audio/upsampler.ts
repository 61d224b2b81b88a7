import { MULAW_DECODE_TABLE } from './g711.js';
import { designHalfbandPhaseQ14, HALF_TAPS } from './halfband.js';
import { HALFBAND_SIMD_WASM } from './halfband-simd.wasm.js';

const HISTORY = HALF_TAPS - 1;
/** Largest piece converted per call into the kernel; longer inputs are cut (output unchanged). */
const MAX_PIECE = 4096;

/*
 * One compiled kernel (halfband-simd.wat) serves every upsampler. Its memory is scratch only:
 * each conversion copies the leg's history in and out, and runs synchronously, so upsamplers
 * never see each other's data. Layout, as Int16 offsets, each area 16-byte aligned:
 */
const align8 = (int16Offset: number) => Math.ceil(int16Offset / 8) * 8;
const TAPS_AT = 0;
const INPUT_AT = align8(TAPS_AT + HALF_TAPS); // history, then the piece
const OUTPUT_AT = align8(INPUT_AT + HISTORY + MAX_PIECE); // two samples out per sample in
const TABLE_AT = align8(OUTPUT_AT + 2 * MAX_PIECE); // the μ-law decoding table
const SAVED_AT = align8(TABLE_AT + 256); // the history the kernel leaves for the next chunk
const BYTES_AT = 2 * align8(SAVED_AT + HISTORY); // a byte offset: the μ-law bytes to decode
if (BYTES_AT + MAX_PIECE > 65536) throw new Error('upsampler scratch layout exceeds one 64 KiB page');

/** The slice of the WebAssembly API used here (@types/node 20 declares none of it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}
const { Module, Instance } = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
const kernel = new Instance(new Module(HALFBAND_SIMD_WASM)).exports as {
  memory: { buffer: ArrayBuffer };
  upsample(n: number, inputByte: number, outputByte: number, savedByte: number): void;
  decode_mulaw(n: number, sourceByte: number, targetByte: number, tableByte: number): void;
};
const scratch = new Int16Array(kernel.memory.buffer);
const scratchBytes = new Uint8Array(kernel.memory.buffer);
scratch.set(designHalfbandPhaseQ14(), TAPS_AT);
scratch.set(MULAW_DECODE_TABLE, TABLE_AT);
// Views made once, so converting a 20 ms frame allocates nothing.
const historyIn = scratch.subarray(INPUT_AT, INPUT_AT + HISTORY);
const historyOut = scratch.subarray(SAVED_AT, SAVED_AT + HISTORY);
const outputViews = new Map<number, Int16Array>();
function outputView(samples: number): Int16Array {
  let view = outputViews.get(samples);
  if (!view) {
    view = scratch.subarray(OUTPUT_AT, OUTPUT_AT + samples);
    if (outputViews.size < 64) outputViews.set(samples, view);
  }
  return view;
}

/**
 * Streaming 8 kHz → 16 kHz converter for one leg. It keeps the last 31 input samples between
 * calls, so feeding a signal in 20 ms chunks gives exactly the samples a single call would
 * (test/audio/upsampler.test.ts). Filter response and delay: see halfband.ts.
 *
 * Every odd output sample is an input sample copied through unchanged (the half-band centre tap);
 * every even one is a 32-tap symmetric FIR in Q14 fixed point, run in WebAssembly SIMD (eight
 * multiply-adds per instruction): this is the hottest loop in the gateway.
 */
export class Upsampler8to16 {
  readonly #history = new Int16Array(HISTORY);

  /** Converts μ-law bytes at 8 kHz (decoding them on the way in) to PCM16 at 16 kHz, into `out`. */
  pushMulaw(mulaw: Uint8Array, out: Int16Array = new Int16Array(mulaw.length * 2)): Int16Array {
    for (let done = 0; done < mulaw.length; done += MAX_PIECE) {
      const n = Math.min(MAX_PIECE, mulaw.length - done);
      scratchBytes.set(done === 0 && n === mulaw.length ? mulaw : mulaw.subarray(done, done + n), BYTES_AT);
      kernel.decode_mulaw(n, BYTES_AT, 2 * (INPUT_AT + HISTORY), 2 * TABLE_AT);
      this.#run(n, out, 2 * done);
    }
    return out;
  }

  /** Converts PCM16 at 8 kHz to PCM16 at 16 kHz. */
  pushPcm(pcm: Int16Array, out: Int16Array = new Int16Array(pcm.length * 2)): Int16Array {
    for (let done = 0; done < pcm.length; done += MAX_PIECE) {
      const n = Math.min(MAX_PIECE, pcm.length - done);
      scratch.set(pcm.subarray(done, done + n), INPUT_AT + HISTORY);
      this.#run(n, out, 2 * done);
    }
    return out;
  }

  /** Converts `samples` of digital silence (used to fill gaps). */
  pushSilence(samples: number, out: Int16Array = new Int16Array(samples * 2)): Int16Array {
    for (let done = 0; done < samples; done += MAX_PIECE) {
      const n = Math.min(MAX_PIECE, samples - done);
      scratch.fill(0, INPUT_AT + HISTORY, INPUT_AT + HISTORY + n);
      this.#run(n, out, 2 * done);
    }
    return out;
  }

  /** Forgets the history, as if freshly constructed. */
  reset(): void {
    this.#history.fill(0);
  }

  /** The piece is in place after the history slot: add the history, convert, keep the new history. */
  #run(n: number, out: Int16Array, outAt: number): void {
    historyIn.set(this.#history);
    kernel.upsample(n, 2 * INPUT_AT, 2 * OUTPUT_AT, 2 * SAVED_AT);
    out.set(outputView(2 * n), outAt);
    this.#history.set(historyOut);
  }
}
