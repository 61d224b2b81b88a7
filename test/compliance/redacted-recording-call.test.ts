import { afterEach, describe, expect, it } from 'vitest';
import { BrowserCaller } from '../doubles/browser-caller.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, mulawAs16k, pcm16Channel } from '../helpers/media.js';
import { SECRET, schemaValidator, TestReceiver } from '../helpers/webhooks.js';

const TOKEN = 'redacted-recording-token-0123456789';
const BEARER = { authorization: `Bearer ${TOKEN}` };
const greeting = demoCall('greeting');
const SCRIPT = [
  'my card number is 4111 1111 1111 1111 thanks',
  'and that was all I wanted to say',
  'the code is seven three seven',
];
/** Masks reach this far beyond the words' times (MASK_MARGIN_MS) and the key presses' moments. */
const MARGIN_MS = 200;
const DTMF_BEFORE_MS = 500 + MARGIN_MS;
const DTMF_AFTER_MS = 300 + MARGIN_MS;

let gateway: Gateway | undefined;
let vllm: VllmRealtimeDouble | undefined;
let receiver: TestReceiver | undefined;

afterEach(async () => {
  await gateway?.close();
  await Promise.all([vllm?.close(), receiver?.close()]);
  gateway = vllm = receiver = undefined;
});

interface Word {
  word: string;
  startMs: number;
  endMs: number;
}

describe('REDACT=all with REDACT_AUDIO=silence: the recording of a call that reads out a card and types a PIN', () => {
  it(
    'is silent over each redacted word, key press and key-press tone, and sample for sample what was said everywhere else',
    { timeout: 60_000 },
    async () => {
      vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]), script: SCRIPT });
      await vllm.listen();
      receiver = new TestReceiver();
      gateway = await startGateway({
        ADMIN_TOKEN: TOKEN,
        VLLM_URL: vllm.url,
        WEBHOOK_URL: await receiver.listen(),
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_EVENTS: 'transcript.final,dtmf,call.ended,recording.ready',
        RECORDING_FORMAT: 'pcm16',
        REDACT: 'all',
      });
      const gw = gateway;
      const page = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
      const { callSid } = await page.start({ mode: 'transcribe', channels: 1 });

      // Three utterances of real speech, a second apart; a PIN typed in the silence after them.
      const speech = mulawAs16k(greeting.caller).subarray(16_000 * 1.9, 16_000 * 4.9);
      const gap = 16_000;
      const sent = new Int16Array(SCRIPT.length * (speech.length + gap) + 2 * gap);
      for (let i = 0; i < SCRIPT.length; i++) sent.set(speech, i * (speech.length + gap));
      // Two key presses as tones in the audio itself, in the gap after the second utterance: a
      // phone that sends no key events. Only the tone detector can find them.
      const tones = [2 * speech.length + gap + 3_200, 2 * speech.length + gap + 6_400].map((from, k) => {
        const [low, high] = k === 0 ? [852, 1477] : [697, 1209]; // 9, then 1
        for (let i = 0; i < 1_280; i++)
          sent[from + i] = Math.round(
            6_000 *
              (Math.sin((2 * Math.PI * low * i) / 16_000) + Math.sin((2 * Math.PI * high * i) / 16_000)),
          );
        return [from, from + 1_280] as const;
      });
      const pinAt = SCRIPT.length * (speech.length + gap);
      await page.sendPcmPaced(sent.subarray(0, pinAt), 1, { leadMs: 1500 });
      for (const digit of ['4', '8', '1', '5']) page.sendJson({ type: 'dtmf', digit });
      await page.sendPcmPaced(sent.subarray(pinAt), 1);
      page.hangUp();
      await page.closed;

      const transcript = await eventually(async () => {
        const { body } = await gw.get(`/v1/calls/${callSid}/transcript`, BEARER);
        expect(body.complete).toBe(true);
        return body;
      }, 20_000);
      expect(transcript.utterances.map((u: { text: string }) => u.text)).toEqual([
        'my card number is [CARD_NUMBER] thanks',
        'and that was all I wanted to say',
        'the code is [CVV]',
      ]);
      const snapshot = (await gw.get(`/v1/calls/${callSid}`, BEARER)).body;
      const presses = snapshot.dtmf as { digit: string; atMs: number }[];
      expect(presses.map((d) => d.digit)).toEqual(['*', '*', '*', '*']);

      // Where the recording must be silent: each placeholder's words, each key press.
      const words: Word[] = transcript.utterances.flatMap((u: { words: Word[] }) => u.words);
      const placeholders = words.filter((w) => /^\[[A-Z_]+\]$/.test(w.word));
      expect(placeholders.map((w) => w.word)).toEqual(['[CARD_NUMBER]', '[CVV]']);
      const spans = [
        ...placeholders.map((w) => [w.startMs - MARGIN_MS, w.endMs + MARGIN_MS]),
        ...presses.map((d) => [d.atMs - DTMF_BEFORE_MS, d.atMs + DTMF_AFTER_MS]),
      ].map(([from, to]) => [Math.floor(from * 16), Math.ceil(to * 16)] as const);
      // A tone is masked from within a 10 ms block of its edges, plus the margin.
      const slack = (MARGIN_MS + 10) * 16;
      const maybe = (i: number) => tones.some(([from, to]) => i >= from - slack && i < to + slack);
      const masked = (i: number) => spans.some(([from, to]) => i >= from && i < to);

      const wav = await eventually(async () => {
        const response = await fetch(`${gw.baseUrl}/v1/calls/${callSid}/recording`, { headers: BEARER });
        expect(response.status).toBe(200);
        return Buffer.from(await response.arrayBuffer());
      }, 10_000);
      const caller = pcm16Channel(wav, 0);
      expect(caller.length).toBeGreaterThanOrEqual(sent.length);
      const wrong: string[] = [];
      for (let i = 0; i < caller.length && wrong.length < 5; i++) {
        const expected = masked(i) || i >= sent.length ? 0 : sent[i];
        if (caller[i] !== expected && !(maybe(i) && caller[i] === 0))
          wrong.push(`sample ${i} (${i / 16} ms): ${caller[i]}, expected ${expected}`);
      }
      expect(wrong).toEqual([]);
      for (const [from, to] of tones)
        expect(caller.subarray(from - MARGIN_MS * 8, to + MARGIN_MS * 8).every((s) => s === 0)).toBe(true);
      // What was masked was speech: the card's words were really in the audio sent.
      const [cardFrom, cardTo] = spans[0];
      expect(sent.subarray(cardFrom, cardTo).some((s) => Math.abs(s) > 1000)).toBe(true);

      const events = await eventually(() => {
        const list = receiver?.events.filter((e) => e.callSid === callSid) ?? [];
        expect(list.map((e) => e.type)).toContain('recording.ready');
        return list;
      }, 15_000);
      const validate = schemaValidator();
      for (const event of events) expect(validate(event)).toEqual([]);
      const ready = events.find((e) => e.type === 'recording.ready')?.data;
      // Every word was final before the recording closed: nothing was withheld unjudged.
      expect(ready.redaction.withheldMs).toBe(0);
      expect(ready.redaction.maskedMs).toBeGreaterThan(1_000);
    },
  );
});
