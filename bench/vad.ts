/**
 * VAD cost per leg-second: the real LegTranscriber with Silero VAD v5 (onnxruntime-node, one
 * thread) over both legs of the support-call demo, frame by frame, into a stream that only
 * counts. Reports CPU per second of audio (model time, and the whole transcriber path), the share
 * of windows the silence gate answered without the model, and how many legs one core could segment.
 */
import pino from 'pino';
import { LegTranscriber } from '../src/asr/leg-transcriber.js';
import type { SttStream } from '../src/asr/stt.js';
import { newStats } from '../src/asr/stt.js';
import { SileroVad } from '../src/asr/vad/silero-vad.js';
import { Upsampler8to16 } from '../src/audio/upsampler.js';
import { demoLegs, machine } from './lib.js';

export interface VadCost {
  readonly audioSeconds: number;
  readonly cpuMsPerLegSecond: number;
  readonly modelMsPerLegSecond: number;
  readonly silentShare: number;
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
}

export async function benchVad(rounds = Number(process.env.ROUNDS ?? 5)): Promise<VadCost> {
  const vad = await SileroVad.load();
  const legs = demoLegs();
  const log = pino({ level: 'silent' });
  let audioMs = 0;
  let modelMs = 0;
  let windows = 0;
  let silent = 0;
  let sentMs = 0;
  const cpu = process.cpuUsage();
  for (let round = 0; round < rounds; round++) {
    for (const mulaw of [legs.caller, legs.agent]) {
      const stream = new CountingStream();
      const transcriber = new LegTranscriber(
        stream,
        vad,
        {
          segmenter: { threshold: 0.5, minSpeechMs: 96, minSilenceMs: 500, maxUtteranceMs: 60_000 },
          prerollMs: 300,
          finalTimeoutMs: 1_000,
        },
        log,
      );
      const upsampler = new Upsampler8to16();
      const pcm = new Int16Array(320);
      for (let at = 0; at + 160 <= mulaw.length; at += 160) {
        const chunk = mulaw.subarray(at, at + 160);
        upsampler.pushMulaw(chunk, pcm);
        transcriber.push({
          leg: 'caller',
          pcm,
          mulaw: chunk,
          startMs: at / 8,
          durationMs: 20,
          filled: false,
        });
        // Real time gives the VAD 20 ms per frame; yielding per frame keeps it from falling behind.
        await new Promise((resolve) => setImmediate(resolve));
      }
      transcriber.end();
      await transcriber.done;
      audioMs += mulaw.length / 8;
      modelMs += transcriber.stats.vadMs;
      windows += transcriber.stats.vadWindows + transcriber.stats.vadSilentWindows;
      silent += transcriber.stats.vadSilentWindows;
      sentMs += stream.sentMs;
    }
  }
  const used = process.cpuUsage(cpu);
  await vad.close();
  const cpuMs = (used.user + used.system) / 1000;
  const cpuMsPerLegSecond = cpuMs / (audioMs / 1000);
  return {
    audioSeconds: audioMs / 1000,
    cpuMsPerLegSecond,
    modelMsPerLegSecond: modelMs / (audioMs / 1000),
    silentShare: silent / windows,
    legsPerCore: 1000 / cpuMsPerLegSecond,
    sentShare: sentMs / audioMs,
  };
}

export function vadTable(r: VadCost): string {
  return [
    '| measure | result |',
    '|---|---|',
    `| VAD + segmentation, CPU per leg-second of audio | **${r.cpuMsPerLegSecond.toFixed(2)} ms** (≈ ${Math.floor(r.legsPerCore)} legs per core) |`,
    `| of which in the Silero model (wall time of its runs) | ${r.modelMsPerLegSecond.toFixed(2)} ms |`,
    `| windows answered by the silence gate, without the model | ${(100 * r.silentShare).toFixed(0)} % |`,
    `| audio sent to the engine (speech + pre-roll) | ${(100 * r.sentShare).toFixed(0)} % of the leg |`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`VAD cost (${machine()}), ${process.env.ROUNDS ?? 5} × both legs of media/demo/support-call`);
  console.log(vadTable(await benchVad()));
  process.exit(0);
}
