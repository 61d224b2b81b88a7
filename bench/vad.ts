/**
 * VAD cost per leg-second: the real LegTranscriber with Silero VAD v5 (onnxruntime-node, one
 * thread, windows batched across legs) over many legs of the support-call demo at once, frame by
 * frame, into streams that only count. Reports process CPU per second of audio, the mean batch,
 * the share of windows the silence gate answered, and how many legs one core could segment.
 */
import pino from 'pino';
import { LegTranscriber } from '../src/asr/leg-transcriber.js';
import type { SttStream } from '../src/asr/stt.js';
import { newStats } from '../src/asr/stt.js';
import { SileroVad } from '../src/asr/vad/silero-vad.js';
import { Upsampler8to16 } from '../src/audio/upsampler.js';
import { demoLegs, machine } from './lib.js';

export interface VadCost {
  readonly legs: number;
  readonly noise: number;
  readonly gateDbfs: number;
  /** The rate the Silero model ran at (VAD_SAMPLE_RATE). */
  readonly rate: 8000 | 16000;
  readonly audioSeconds: number;
  readonly cpuMsPerLegSecond: number;
  readonly meanBatch: number;
  readonly silentShare: number;
  /** Gated windows the model heard again when the level rose (its state kept as without the gate). */
  readonly replayedShare: number;
  readonly overrunShare: number;
  readonly legsPerCore: number;
  readonly sentShare: number;
}

class CountingStream implements SttStream {
  readonly stats = newStats();
  sentMs = 0;
  pushFrame(frame: { durationMs: number }): void {
    this.sentMs += frame.durationMs;
  }
  flush(): void {}
  endInput(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {}
  pendingFromMs(): undefined {
    return undefined;
  }
}

/**
 * `legs` legs at once, each fed a frame every 20 ms / `pace` (so windows of many legs meet in the
 * VAD's batches, as on a busy server), for `rounds` passes over the demo call.
 */
export async function benchVad(
  legs = Number(process.env.LEGS ?? 64),
  pace = Number(process.env.PACE ?? 4),
  rounds = Number(process.env.ROUNDS ?? 1),
  /** Uniform noise added to every sample, in LSB (128 ≈ −53 dBFS, a quiet phone line). */
  noise = Number(process.env.NOISE_LSB ?? 0),
  /** VAD_GATE_DBFS: between utterances, quieter windows skip the model (−60: digital silence only). */
  gateDbfs = Number(process.env.GATE_DBFS ?? -50),
  /** VAD_SAMPLE_RATE: RATE=8000 runs the model at 8 kHz on every other sample. */
  rate: 8000 | 16000 = process.env.RATE === '8000' ? 8000 : 16000,
): Promise<VadCost> {
  const vad = await SileroVad.load(undefined, { sampleRate: rate });
  const demo = demoLegs();
  const log = pino({ level: 'silent' });
  const options = {
    segmenter: { threshold: 0.5, minSpeechMs: 96, minSilenceMs: 500, maxUtteranceMs: 60_000 },
    prerollMs: 300,
    finalTimeoutMs: 1_000,
    gateDbfs,
  };
  const totals = {
    audioMs: 0,
    modelMs: 0,
    windows: 0,
    silent: 0,
    replayed: 0,
    overruns: 0,
    sentMs: 0,
  };
  const cpu = process.cpuUsage();
  for (let round = 0; round < rounds; round++) {
    const running = Array.from({ length: legs }, (_, i) => {
      const stream = new CountingStream();
      return {
        mulaw: i % 2 === 0 ? demo.caller : demo.agent,
        stream,
        transcriber: new LegTranscriber(stream, vad, options, log),
        upsampler: new Upsampler8to16(),
        pcm: new Int16Array(320),
      };
    });
    const frames = Math.floor(demo.caller.length / 160);
    const t0 = performance.now();
    for (let f = 0; f < frames; f++) {
      for (const leg of running) {
        const chunk = leg.mulaw.subarray(f * 160, f * 160 + 160);
        leg.upsampler.pushMulaw(chunk, leg.pcm);
        // A line's background noise keeps the silence gate from answering for the model.
        for (let k = 0; k < leg.pcm.length && noise > 0; k++)
          leg.pcm[k] += Math.round((Math.random() * 2 - 1) * noise);
        leg.transcriber.push({
          leg: 'caller',
          pcm: leg.pcm,
          mulaw: chunk,
          startMs: f * 20,
          durationMs: 20,
          filled: false,
        });
      }
      const wait = t0 + ((f + 1) * 20) / pace - performance.now();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
    }
    for (const leg of running) {
      leg.transcriber.end();
      await leg.transcriber.done;
      const st = leg.transcriber.stats;
      totals.audioMs += frames * 20;
      totals.modelMs += st.vadMs;
      totals.windows += st.vadWindows + st.vadSilentWindows + st.vadOverruns;
      totals.silent += st.vadSilentWindows;
      totals.replayed += st.vadReplayedWindows;
      totals.overruns += st.vadOverruns;
      totals.sentMs += leg.stream.sentMs;
    }
  }
  const used = process.cpuUsage(cpu);
  const batch = vad.counts.windows / Math.max(1, vad.counts.runs);
  await vad.close();
  const cpuMsPerLegSecond = (used.user + used.system) / 1000 / (totals.audioMs / 1000);
  return {
    legs,
    noise,
    gateDbfs,
    rate,
    audioSeconds: totals.audioMs / 1000,
    cpuMsPerLegSecond,
    meanBatch: batch,
    silentShare: totals.silent / totals.windows,
    replayedShare: totals.replayed / totals.windows,
    overrunShare: totals.overruns / totals.windows,
    legsPerCore: 1000 / cpuMsPerLegSecond,
    sentShare: totals.sentMs / totals.audioMs,
  };
}

export function vadTable(r: VadCost): string {
  return [
    '| measure | result |',
    '|---|---|',
    `| ${r.legs} legs at once${r.noise > 0 ? `, line noise ±${r.noise} LSB` : ', digital silence between words'}, gate ${r.gateDbfs} dBFS, model at ${r.rate / 1000} kHz: VAD + segmentation + conversion, CPU per leg-second of audio | **${r.cpuMsPerLegSecond.toFixed(2)} ms** (≈ ${Math.floor(r.legsPerCore)} legs per core) |`,
    `| windows per model run (batching across legs) | ${r.meanBatch.toFixed(1)} |`,
    `| windows answered by the level gate, without the model | ${(100 * r.silentShare).toFixed(0)} % (${(100 * r.replayedShare).toFixed(0)} % heard again when the level rose) |`,
    `| windows passed unexamined because the VAD fell behind | ${(100 * r.overrunShare).toFixed(1)} % |`,
    `| audio sent to the engine (speech + pre-roll) | ${(100 * r.sentShare).toFixed(0)} % of the leg |`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(
    `VAD cost (${machine()}): legs of media/demo/support-call at ${process.env.PACE ?? 4}× real time`,
  );
  console.log(vadTable(await benchVad()));
  process.exit(0);
}
