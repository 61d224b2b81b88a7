/**
 * Rebuilds media/demo/ from Debian packages (run as root on Debian 12):
 *   apt-get install asterisk-core-sounds-en-wav asterisk-core-sounds-en pocketsphinx-testdata \
 *     pocketsphinx pocketsphinx-en-us sox
 *   npm run media:build
 * Each demo call is two 8 kHz 16-bit WAV files (one per leg) plus entries in manifest.json that
 * say which leg says what, and when, on the call clock, down to each word (forced alignment of the
 * reference transcript with pocketsphinx).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { wavToPcm8k } from '../src/audio/phone-audio.js';
import { encodeWavPcm16 } from '../src/audio/wav.js';

const ALLISON = '/usr/share/asterisk/sounds/en_US_f_Allison';
const ALLISON_TEXT = '/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz';
const LIBRIVOX = '/usr/share/pocketsphinx/test/data/librivox';
const OUT = new URL('./demo/', import.meta.url).pathname;

interface Clip {
  readonly leg: 'caller' | 'agent';
  readonly startMs: number;
  readonly source: string;
}

const allisonText = new Map(
  gunzipSync(readFileSync(ALLISON_TEXT))
    .toString('utf8')
    .split('\n')
    .map((line) => /^([\w/-]+): (.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1], m[2].trim()]),
);
const librivoxText = new Map(
  readFileSync(join(LIBRIVOX, 'transcription'), 'utf8')
    .split('\n')
    .map((line) => /^<s> (.*) <\/s> \((.*)\)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[2], m[1]]),
);

function load(source: string): { pcm: Int16Array; text: string; path: string; licence: string } {
  const [set, name] = source.split(':');
  if (set === 'allison') {
    const path = join(ALLISON, `${name}.wav`);
    return {
      pcm: wavToPcm8k(readFileSync(path)),
      text: allisonText.get(name) ?? '',
      path,
      licence: 'CC-BY-SA-3.0',
    };
  }
  const path = join(LIBRIVOX, `${name}.wav`);
  return {
    pcm: wavToPcm8k(readFileSync(path)),
    text: librivoxText.get(name) ?? '',
    path,
    licence: 'public domain',
  };
}

/**
 * Word times within a recording, by forced alignment: pocketsphinx decodes with a grammar that
 * allows only the reference sentence and prints each word's span (10 ms resolution).
 */
function alignWords(path: string, text: string): { word: string; startMs: number; endMs: number }[] {
  const words = text.split(/\s+/).filter(Boolean);
  const spoken = words.map((w) => w.toLowerCase().replace(/[^a-z']/g, ''));
  const dir = mkdtempSync(join(tmpdir(), 'align-'));
  try {
    const wav16k = join(dir, 'in.wav');
    execFileSync('sox', [path, '-r', '16000', '-c', '1', '-b', '16', wav16k]);
    writeFileSync(join(dir, 'g.gram'), `#JSGF V1.0;\ngrammar g;\npublic <s> = ${spoken.join(' ')};\n`);
    const out = execFileSync(
      'pocketsphinx_continuous',
      ['-infile', wav16k, '-jsgf', join(dir, 'g.gram'), '-time', 'yes', '-logfn', '/dev/null'],
      { encoding: 'utf8' },
    );
    const spans = out
      .split('\n')
      .map((line) => /^([^<\s]\S*) ([\d.]+) ([\d.]+) /.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ startMs: Math.round(Number(m[2]) * 1000), endMs: Math.round(Number(m[3]) * 1000) }));
    if (spans.length !== words.length) throw new Error(`alignment of ${path} found ${spans.length} words`);
    return words.map((word, i) => ({ word, ...spans[i] }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function build(id: string, durationMs: number, clips: readonly Clip[]) {
  const samples = durationMs * 8;
  const legs = { caller: new Int16Array(samples), agent: new Int16Array(samples) };
  const segments = clips.map((clip) => {
    const { pcm, text, path, licence } = load(clip.source);
    const at = clip.startMs * 8;
    if (at + pcm.length > samples) throw new Error(`${clip.source} runs past the end of ${id}`);
    legs[clip.leg].set(pcm, at);
    if (!text) throw new Error(`no transcript for ${clip.source}`);
    return {
      leg: clip.leg,
      startMs: clip.startMs,
      endMs: Math.round(clip.startMs + pcm.length / 8),
      text,
      words: alignWords(path, text).map((w) => ({
        word: w.word,
        startMs: clip.startMs + w.startMs,
        endMs: clip.startMs + w.endMs,
      })),
      source: path,
      licence,
    };
  });
  for (const leg of ['caller', 'agent'] as const) {
    writeFileSync(join(OUT, `${id}.${leg}.wav`), encodeWavPcm16(8000, [legs[leg]]));
  }
  return {
    id,
    durationMs,
    legs: {
      caller: { file: `${id}.caller.wav`, track: 'inbound' },
      agent: { file: `${id}.agent.wav`, track: 'outbound' },
    },
    segments,
  };
}

const calls = [
  build('greeting', 5000, [
    { leg: 'agent', startMs: 300, source: 'allison:hello-world' },
    { leg: 'caller', startMs: 1900, source: 'librivox:sense_and_sensibility_01_austen_64kb-0880' },
  ]),
  build('support-call', 23000, [
    { leg: 'agent', startMs: 500, source: 'allison:queue-thankyou' },
    { leg: 'caller', startMs: 2600, source: 'librivox:sense_and_sensibility_01_austen_64kb-0880' },
    { leg: 'agent', startMs: 6200, source: 'allison:one-moment-please' },
    { leg: 'caller', startMs: 8400, source: 'librivox:sense_and_sensibility_01_austen_64kb-0930' },
    { leg: 'agent', startMs: 12300, source: 'allison:pls-hold-while-try' },
    { leg: 'caller', startMs: 15300, source: 'librivox:sense_and_sensibility_01_austen_64kb-0890' },
    // The agent talks over the end of the caller's sentence: an overlap of about 0.8 s.
    { leg: 'agent', startMs: 19800, source: 'allison:im-sorry' },
    { leg: 'agent', startMs: 21400, source: 'allison:goodbye' },
  ]),
];

writeFileSync(join(OUT, 'manifest.json'), `${JSON.stringify({ sampleRate: 8000, calls }, null, 2)}\n`);
console.log(`wrote ${calls.length} demo calls to ${OUT}`);
