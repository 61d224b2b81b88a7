/**
 * Speech duty cycle per leg of the demo calls, and what VAD gating saves a GPU: the real
 * LegTranscriber with Silero (paced so the VAD never falls behind) decides what goes to the engine;
 * the manifest's reference segments say how much of each leg is speech. A realtime engine serves a
 * leg only while its audio flows, so the audio sent is the GPU stream-time the leg costs.
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { LegTranscriber } from '../src/asr/leg-transcriber.js';
import { newStats, type SttStream } from '../src/asr/stt.js';
import { SileroVad, VAD_WINDOW_SAMPLES } from '../src/asr/vad/silero-vad.js';
import { wavToMulaw8k } from '../src/audio/phone-audio.js';
import { Upsampler8to16 } from '../src/audio/upsampler.js';
import { machine } from './lib.js';

interface LegDuty {
  readonly leg: string;
  readonly durationMs: number;
  readonly speechMs: number;
  readonly sentMs: number;
  readonly utterances: number;
}

const MEDIA = new URL('../media/demo/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('manifest.json', MEDIA), 'utf8')) as {
  calls: {
    id: string;
    durationMs: number;
    legs: Record<'caller' | 'agent', { file: string }>;
    segments: { leg: 'caller' | 'agent'; startMs: number; endMs: number }[];
  }[];
};

async function sent(vad: SileroVad, mulaw: Uint8Array): Promise<{ sentMs: number; utterances: number }> {
  let sentMs = 0;
  let utterances = 0;
  const stt: SttStream = {
    stats: newStats(),
    pushFrame: (frame) => {
      sentMs += frame.durationMs;
    },
    flush: () => {
      utterances++;
    },
    endInput: async () => undefined,
    close: () => undefined,
    pendingFromMs: () => undefined,
  };
  const transcriber = new LegTranscriber(
    stt,
    vad,
    {
      segmenter: { threshold: 0.5, minSpeechMs: 96, minSilenceMs: 500, maxUtteranceMs: 60_000 },
      prerollMs: 300,
      finalTimeoutMs: 1_000,
      gateDbfs: -50,
    },
    pino({ level: 'silent' }),
  );
  const pcm = new Upsampler8to16().pushMulaw(mulaw);
  const { stats } = transcriber;
  for (let at = 0; at + 320 <= pcm.length; at += 320) {
    transcriber.push({
      leg: 'caller',
      pcm: pcm.subarray(at, at + 320),
      mulaw: new Uint8Array(160),
      startMs: at / 16,
      durationMs: 20,
      filled: false,
    });
    const windows = Math.floor((at + 320) / VAD_WINDOW_SAMPLES);
    while (stats.vadWindows + stats.vadSilentWindows + stats.vadOverruns < windows)
      await new Promise((resolve) => setImmediate(resolve));
  }
  transcriber.end();
  await transcriber.done;
  return { sentMs, utterances: Math.max(utterances, sentMs > 0 ? 1 : 0) };
}

export async function benchDutyCycle(): Promise<LegDuty[]> {
  const vad = await SileroVad.load();
  const rows: LegDuty[] = [];
  for (const call of manifest.calls) {
    for (const leg of ['caller', 'agent'] as const) {
      const mulaw = wavToMulaw8k(readFileSync(new URL(call.legs[leg].file, MEDIA)));
      const speechMs = call.segments
        .filter((s) => s.leg === leg)
        .reduce((ms, s) => ms + s.endMs - s.startMs, 0);
      rows.push({
        leg: `${call.id}.${leg}`,
        durationMs: call.durationMs,
        speechMs,
        ...(await sent(vad, mulaw)),
      });
    }
  }
  await vad.close();
  return rows;
}

export function dutyCycleTable(rows: readonly LegDuty[]): string {
  const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(0)} %`;
  const total = rows.reduce((t, r) => ({ d: t.d + r.durationMs, s: t.s + r.speechMs, x: t.x + r.sentMs }), {
    d: 0,
    s: 0,
    x: 0,
  });
  // Per call-minute, two legs: stream-seconds on the engine gated by the VAD, or streamed throughout.
  const gated = (120 * total.x) / total.d;
  return [
    '| leg | length | speech (reference) | sent to the engine (speech + pre-roll) | utterances |',
    '|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.leg} | ${(r.durationMs / 1000).toFixed(0)} s | ${pct(r.speechMs, r.durationMs)} | ${pct(r.sentMs, r.durationMs)} | ${r.utterances} |`,
    ),
    `| **all legs** | ${(total.d / 1000).toFixed(0)} s | ${pct(total.s, total.d)} | ${pct(total.x, total.d)} | |`,
    '',
    `Engine stream-seconds per two-leg call-minute: **${gated.toFixed(0)} s** with the VAD, 120 s streaming every leg throughout (${(120 / gated).toFixed(1)}× as many live calls per GPU for the same stream capacity).`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`speech duty cycle of the demo calls (${machine()})`);
  console.log(dutyCycleTable(await benchDutyCycle()));
  process.exit(0);
}
