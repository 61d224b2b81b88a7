import { existsSync, readdirSync, readFileSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LegTranscriber, type TranscriberStats } from '../../../src/asr/leg-transcriber.js';
import { SileroVad, VAD_WINDOW_SAMPLES } from '../../../src/asr/vad/silero-vad.js';
import { wavToMulaw8k } from '../../../src/audio/phone-audio.js';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { pushPaced, sttDouble } from '../../helpers/leg-feed.js';
import { demoCall } from '../../helpers/media.js';

/**
 * The VAD's level gate (VAD_GATE_DBFS) skips the model on quiet windows between utterances. It
 * must cost no speech: on the demo calls and on real recorded prompts (Debian's
 * asterisk-core-sounds-en-wav, 8 kHz), clean and on a line with a −53 dBFS noise floor, the
 * utterances found with the gate at −50 dBFS start and end where they do without it (±1 window),
 * while on the noisy line most windows between utterances never reach the model.
 */

const PROMPTS = '/usr/share/asterisk/sounds/en';
const havePrompts = existsSync(`${PROMPTS}/hello-world.wav`);
if (!havePrompts && process.env.VOXLINE_REQUIRE_ASTERISK_SOUNDS === '1')
  throw new Error(`${PROMPTS} is missing: apt-get install asterisk-core-sounds-en-wav`);

const WINDOW_MS = (VAD_WINDOW_SAMPLES / 16_000) * 1000;
const log = pino({ level: 'silent' });
let vad: SileroVad;
beforeAll(async () => {
  vad = await SileroVad.load();
});
afterAll(async () => {
  await vad.close();
});

interface Utterance {
  startMs: number;
  endMs: number;
}

/** Runs one leg's 16 kHz audio through a transcriber, paced so the VAD never falls behind. */
async function utterances(
  pcm: Int16Array,
  gateDbfs: number | undefined,
): Promise<{ found: Utterance[]; stats: TranscriberStats }> {
  const found: Utterance[] = [];
  const stt = sttDouble();
  // Where the VAD says speech starts and ends (the pre-roll and the frames sent follow from these).
  const onSpeech = (type: 'start' | 'end', atMs: number) => {
    if (type === 'start') found.push({ startMs: atMs, endMs: Number.NaN });
    else {
      const open = found.at(-1);
      if (open) open.endMs = atMs;
    }
  };
  const transcriber = new LegTranscriber(
    stt,
    vad,
    {
      segmenter: { threshold: 0.5, minSpeechMs: 96, minSilenceMs: 500, maxUtteranceMs: 60_000 },
      prerollMs: 300,
      finalTimeoutMs: 1_000,
      onSpeech,
      ...(gateDbfs !== undefined ? { gateDbfs } : {}),
    },
    log,
  );
  const { stats } = transcriber;
  await pushPaced(transcriber, pcm);
  transcriber.end();
  await transcriber.done;
  expect(stats.vadOverruns).toBe(0);
  const last = found.at(-1);
  if (last && Number.isNaN(last.endMs)) last.endMs = pcm.length / 16; // speech to the end of the leg
  return { found, stats };
}

/** Deterministic Gaussian noise at `dbfs` RMS, added to `pcm` (a copy). */
function withNoise(pcm: Int16Array, dbfs: number, seed: number): Int16Array {
  const sigma = 32768 * 10 ** (dbfs / 20);
  let state = seed >>> 0 || 1;
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 1) / 4294967297;
  };
  const out = new Int16Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) {
    const gauss = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    out[i] = Math.max(-32768, Math.min(32767, Math.round(pcm[i] + sigma * gauss)));
  }
  return out;
}

/** 8 kHz μ-law as 16 kHz PCM, with a second of silence either side (a pause on the line). */
function asLeg(mulaw: Uint8Array): Int16Array {
  const speech = new Upsampler8to16().pushMulaw(mulaw);
  const out = new Int16Array(speech.length + 32_000);
  out.set(speech, 16_000);
  return out;
}

function expectSameBoundaries(gated: Utterance[], ungated: Utterance[], name: string): void {
  expect(gated.length, `${name}: utterance count`).toBe(ungated.length);
  gated.forEach((u, i) => {
    expect(Math.abs(u.startMs - ungated[i].startMs), `${name} #${i} start`).toBeLessThanOrEqual(WINDOW_MS);
    expect(Math.abs(u.endMs - ungated[i].endMs), `${name} #${i} end`).toBeLessThanOrEqual(WINDOW_MS);
  });
}

const demoLegs = ['greeting', 'support-call'].flatMap((id) => {
  const call = demoCall(id);
  return [
    { name: `${id}.caller`, pcm: asLeg(call.caller) },
    { name: `${id}.agent`, pcm: asLeg(call.agent) },
  ];
});

/** Thirty prompts spread over the alphabet (one speaker, studio recordings, 8 kHz PCM). */
function prompts(): { name: string; pcm: Int16Array }[] {
  const files = readdirSync(PROMPTS)
    .filter((f) => f.endsWith('.wav'))
    .sort();
  const step = Math.max(1, Math.floor(files.length / 30));
  return files
    .filter((_, i) => i % step === 0)
    .slice(0, 30)
    .map((f) => ({ name: f, pcm: asLeg(wavToMulaw8k(readFileSync(`${PROMPTS}/${f}`))) }));
}

async function compare(legs: { name: string; pcm: Int16Array }[], noiseDbfs: number | undefined) {
  let modelRunsWithout = 0;
  let modelRunsGated = 0;
  let utteranceCount = 0;
  for (const [i, leg] of legs.entries()) {
    const pcm = noiseDbfs === undefined ? leg.pcm : withNoise(leg.pcm, noiseDbfs, i + 1);
    const without = await utterances(pcm, undefined);
    const gated = await utterances(pcm, -50);
    expectSameBoundaries(gated.found, without.found, leg.name);
    expect(gated.found.length, `${leg.name}: some speech found`).toBeGreaterThan(0);
    utteranceCount += gated.found.length;
    modelRunsWithout += without.stats.vadWindows + without.stats.vadReplayedWindows;
    modelRunsGated += gated.stats.vadWindows + gated.stats.vadReplayedWindows;
  }
  // The model runs the gate saves, net of the gated windows it hears again at each rise in level.
  return { saved: 1 - modelRunsGated / modelRunsWithout, utteranceCount };
}

describe('the VAD level gate drops no speech', () => {
  it('demo calls, clean and on a −53 dBFS line: the same utterances ±1 window; on the noisy line the gate skips the model on much of the audio', async () => {
    await compare(demoLegs, undefined);
    const noisy = await compare(demoLegs, -53);
    // Without the gate no window of the noisy line is below digital silence; with it, the pauses are skipped.
    expect(noisy.saved).toBeGreaterThan(0.25);
  }, 120_000);

  it.skipIf(!havePrompts)(
    'thirty recorded Asterisk prompts, clean and on a −53 dBFS line: the same utterances ±1 window',
    async () => {
      const legs = prompts();
      expect(legs).toHaveLength(30);
      const clean = await compare(legs, undefined);
      const noisy = await compare(legs, -53);
      expect(clean.utteranceCount).toBeGreaterThanOrEqual(30);
      expect(noisy.utteranceCount).toBe(clean.utteranceCount);
      expect(noisy.saved).toBeGreaterThan(0.25);
    },
    300_000,
  );
});
