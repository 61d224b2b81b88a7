import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BrowserCaller } from '../doubles/browser-caller.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, mulawAs16k } from '../helpers/media.js';
import { SECRET, schemaValidator, TestReceiver } from '../helpers/webhooks.js';

const TOKEN = 'redaction-admin-token-0123456789';
const BEARER = { authorization: `Bearer ${TOKEN}` };
const greeting = demoCall('greeting');

/** What the caller "says", one line per utterance: a card read across two, its expiry, an email. */
const SCRIPT = [
  'my card number is 4111 1111',
  '1111 1111 and it expires twelve twenty six',
  'the security code is seven three seven',
  'email me at ana dot lopez at example dot com',
  'mi tarjeta es cinco cinco cero cero, cero cero cero cero, cero cero cero cero, cero cero cero cuatro',
];
/**
 * Nothing of these may be left anywhere voxline writes or sends. The digit groups are looked for
 * as the model wrote them (with their spaces) and run together: a bare "1111" also turns up by
 * chance in timestamps and binary pages of the database (it did, once in CI).
 */
const SECRETS = [
  'is 4111',
  '4111 1111',
  '1111 1111',
  '41111111',
  '11111111',
  'twelve twenty six',
  'seven three seven',
  'lopez',
  'example dot',
  'cinco cinco',
  'cero cero',
];

let gateway: Gateway | undefined;
let vllm: VllmRealtimeDouble | undefined;
let receiver: TestReceiver | undefined;

afterEach(async () => {
  await gateway?.close();
  await Promise.all([vllm?.close(), receiver?.close()]);
  gateway = vllm = receiver = undefined;
});

function leaks(where: string, text: string): string[] {
  const lower = text.toLowerCase();
  return SECRETS.filter((s) => lower.includes(s)).map((s) => {
    const at = lower.indexOf(s);
    return `${where}: ${s} in ${JSON.stringify(text.slice(Math.max(0, at - 40), at + s.length + 40))}`;
  });
}

describe('REDACT=all: a call that reads out a card, its expiry and CVV, an email, and types a PIN', () => {
  it(
    'leaves no trace of any of them in webhooks, the transcript API, SSE, the stored rows or the log',
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
        WEBHOOK_EVENTS: 'call.started,transcript.partial,transcript.final,dtmf,call.ended',
        REDACT: 'all',
      });
      const gw = gateway;
      const page = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
      const { callSid } = await page.start({ mode: 'transcribe', channels: 1 });

      // SSE from the start, as a console page would read it.
      const sse = fetch(`${gw.baseUrl}/v1/calls/${callSid}/events`, { headers: BEARER }).then((r) =>
        r.text(),
      );

      // Five utterances of real speech (the script says what they "say"), 1 s apart, then a PIN.
      const speech = mulawAs16k(greeting.caller).subarray(16_000 * 1.9, 16_000 * 4.9);
      const gap = 16_000;
      const audio = new Int16Array(SCRIPT.length * (speech.length + gap));
      for (let i = 0; i < SCRIPT.length; i++) audio.set(speech, i * (speech.length + gap));
      await page.sendPcmPaced(audio, 1, { leadMs: 1500 });
      for (const digit of ['4', '8', '1', '5']) page.sendJson({ type: 'dtmf', digit });
      await page.sendPcmPaced(new Int16Array(gap), 1);
      page.hangUp();
      await page.closed;

      const transcript = await eventually(async () => {
        const { body } = await gw.get(`/v1/calls/${callSid}/transcript`, BEARER);
        expect(body.complete).toBe(true);
        return body;
      }, 20_000);
      const said = transcript.utterances.map((u: { text: string }) => u.text);
      expect(said).toEqual([
        'my card number is [CARD_NUMBER]',
        '[CARD_NUMBER] and it expires [EXPIRY]',
        'the security code is [CVV]',
        'email me at [EMAIL]',
        'mi tarjeta es [CARD_NUMBER]',
      ]);
      // Word times stay: the placeholder spans the words it replaced.
      const card = transcript.utterances[0].words.at(-1);
      expect(card.word).toBe('[CARD_NUMBER]');
      expect(card.endMs).toBeGreaterThan(card.startMs);

      const events = await eventually(() => {
        const list = receiver?.events.filter((e) => e.callSid === callSid) ?? [];
        expect(list.map((e) => e.type)).toContain('call.ended');
        return list;
      }, 15_000);
      const validate = schemaValidator();
      for (const event of events) expect(validate(event)).toEqual([]);
      expect(events.filter((e) => e.type === 'dtmf').map((e) => e.data.digit)).toEqual(['*', '*', '*', '*']);
      expect(events.some((e) => e.type === 'transcript.partial')).toBe(true);

      const snapshot = (await gw.get(`/v1/calls/${callSid}`, BEARER)).body;
      expect(snapshot.dtmf.map((d: { digit: string }) => d.digit)).toEqual(['*', '*', '*', '*']);

      const found = [
        ...leaks('webhooks', (receiver?.requests ?? []).map((r) => r.body).join('\n')),
        ...leaks('transcript API', JSON.stringify(transcript)),
        ...leaks('SSE', await sse),
        ...leaks('call snapshot', JSON.stringify(snapshot)),
        ...leaks('log', JSON.stringify(gw.logs)),
      ];
      await gw.close();
      gateway = undefined;
      // The stored rows: every file in DATA_DIR's databases (and their WAL), read as bytes.
      const dataDir = gw.config.dataDir;
      for (const file of readdirSync(dataDir).filter((f) => /\.db(-wal)?$/.test(f))) {
        found.push(...leaks(`stored ${file}`, readFileSync(join(dataDir, file)).toString('latin1')));
      }
      expect(found).toEqual([]);
      // The digits typed are nowhere either: the PIN 4815 as a whole is in no webhook, API or log.
      expect(`${JSON.stringify(gw.logs)}${JSON.stringify(snapshot)}`).not.toMatch(/"digit":"[0-9]"/);
    },
  );
});
