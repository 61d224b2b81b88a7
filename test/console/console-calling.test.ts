import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildConsole } from '../../src/console/build-console.js';
import { LlmDouble } from '../doubles/llm-double.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, mulawAs16k, padded } from '../helpers/media.js';
import { SECRET, schemaValidator, TestReceiver } from '../helpers/webhooks.js';

/**
 * Calls from the console page in Debian's Chromium: its fake microphone (fed from a WAV made of
 * media/'s greeting call) into the voice agent, whose voice plays in the page until the caller
 * barges in; and a stereo WAV file streamed into a call, recorded sample for sample.
 */

const ADMIN_TOKEN = 'calling-test-admin-token-0123456789';
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'console');
const CHROMIUM = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => existsSync(p));
const required = process.env.VOXLINE_REQUIRE_CHROMIUM === '1';
const BEARER = { authorization: `Bearer ${ADMIN_TOKEN}` };
const MIC_WORDS = ['hello', 'from', 'the', 'browser'];
const greeting = demoCall('greeting');

/** A 16 kHz PCM16 WAV of one or two channels. */
function wav(channels: Int16Array[]): Buffer {
  const frames = Math.max(...channels.map((c) => c.length));
  const data = Buffer.alloc(frames * channels.length * 2);
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels.length; c++)
      data.writeInt16LE(channels[c][i] ?? 0, (i * channels.length + c) * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels.length, 22);
  header.writeUInt32LE(16_000, 24);
  header.writeUInt32LE(16_000 * 2 * channels.length, 28);
  header.writeUInt16LE(2 * channels.length, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

let browser: Browser;
let gateway: Gateway;
let vllm: VllmRealtimeDouble;
let llm: LlmDouble;
let receiver: TestReceiver;
let page: Page;

describe.skipIf(!CHROMIUM && !required)(
  'calls from the console page, in Chromium',
  { timeout: 60_000 },
  () => {
    beforeAll(async () => {
      const dir = mkdtempSync(join(tmpdir(), 'voxline-calling-'));
      await buildConsole(join(dir, 'bundle'));
      // The microphone: 1.5 s of silence (the agent's greeting has begun), then the caller speaks over it.
      const caller = mulawAs16k(greeting.caller);
      const mic = new Int16Array(24_000 + caller.length + 48_000);
      mic.set(caller, 24_000);
      const micWav = join(dir, 'microphone.wav');
      writeFileSync(micWav, wav([mic]));
      // Chromium resamples the fake microphone: the double cannot find it in the reference, so it
      // hears MIC_WORDS in it; the file call's exact samples it recognises word for word.
      vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]), unmatchedWords: MIC_WORDS });
      await vllm.listen();
      llm = new LlmDouble(() => ({
        text: 'Goodbye.',
        toolCalls: [{ name: 'end_call', arguments: { reason: 'done' } }],
      }));
      await llm.listen();
      receiver = new TestReceiver();
      gateway = await startGateway(
        {
          ADMIN_TOKEN,
          WEBHOOK_URL: await receiver.listen(),
          WEBHOOK_SECRET: SECRET,
          VLLM_URL: vllm.url,
          LLM_BASE_URL: llm.url,
          LLM_API_KEY: 'sk-test',
          AGENT_GREETING:
            'Hello, this is voxline. I can help with your account, your bill, your order, or anything else you need today.',
        },
        [],
        { consoleBundleDir: join(dir, 'bundle') },
      );
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--use-fake-ui-for-media-stream',
          '--use-fake-device-for-media-stream',
          `--use-file-for-fake-audio-capture=${micWav}%noloop`,
          '--autoplay-policy=no-user-gesture-required',
        ],
      });
      page = await (await browser.newContext()).newPage();
      await page.goto(`${gateway.baseUrl}/console`);
      await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Calls' }).waitFor();
    }, 90_000);

    afterEach(async (context) => {
      if (context.task.result?.state !== 'fail' || !page) return;
      mkdirSync(ARTIFACTS, { recursive: true });
      const name = context.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 80);
      await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true }).catch(() => undefined);
    });

    afterAll(async () => {
      await browser?.close();
      await gateway?.close();
      await vllm?.close();
      await llm?.close();
      await receiver?.close();
    });

    it('the microphone into the voice agent: its voice plays in the page, the caller barges in (playback stops on `clear`), and the call is an ordinary call', async () => {
      await page.getByRole('link', { name: /make a call/i }).click();
      await page.getByRole('heading', { name: 'Call from the browser' }).waitFor();
      await page.getByLabel('talk to the voice agent').check();
      await page.getByRole('button', { name: 'Call', exact: true }).click();
      const status = page.getByTestId('call-status');
      await expect.poll(() => status.getAttribute('data-status'), { timeout: 10_000 }).toBe('live');
      const agentAudio = page.getByTestId('agent-audio');
      // The greeting arrives and plays through the page's AudioWorklet.
      await expect
        .poll(async () => Number(await agentAudio.getAttribute('data-played-ms')), { timeout: 10_000 })
        .toBeGreaterThan(200);
      // The caller speaks 1.5 s in, over the greeting: the server says `clear` and the page stops.
      await expect
        .poll(async () => Number(await agentAudio.getAttribute('data-clears')), { timeout: 15_000 })
        .toBe(1);
      await expect.poll(() => agentAudio.getAttribute('data-playing'), { timeout: 5_000 }).toBe('false');
      const receivedAtClear = Number(await agentAudio.getAttribute('data-received-ms'));
      // The greeting was far longer than what played: the rest was never sent.
      expect(receivedAtClear).toBeLessThan(6_000);
      // The agent answers the caller's words with end_call: the page shows the call ended.
      await expect.poll(() => status.getAttribute('data-status'), { timeout: 20_000 }).toBe('ended');
      const callSid = (await page.getByTestId('call-link').textContent()) as string;
      expect(callSid).toMatch(/^BR[0-9a-f]{32}$/);

      const snapshot = await eventually(async () => {
        const body = (await gateway.get(`/v1/calls/${callSid}`, BEARER)).body;
        expect(body.state).toBe('ended');
        return body;
      });
      expect(snapshot).toMatchObject({
        ingress: 'browser',
        mode: 'agent',
        endReason: 'agent_end_call',
        participants: [{ role: 'caller', name: 'microphone' }],
        legs: [{ label: 'caller', codec: 'l16', sampleRate: 16_000 }],
      });
      expect(snapshot.agent.bargeIns).toHaveLength(1);
      const transcript = await eventually(async () => {
        const body = (await gateway.get(`/v1/calls/${callSid}/transcript`, BEARER)).body;
        expect(body.complete).toBe(true);
        return body;
      }, 10_000);
      const said = (speaker: string) =>
        transcript.utterances
          .filter((u: { speaker: string }) => u.speaker === speaker)
          .map((u: { text: string }) => u.text);
      expect(said('caller')[0]).toBe(MIC_WORDS.join(' '));
      expect(
        transcript.utterances.some(
          (u: { speaker: string; interrupted?: boolean }) => u.speaker === 'agent' && u.interrupted,
        ),
      ).toBe(true);
      // The page showed the same words live.
      await expect
        .poll(() => page.locator('.utterance.final').allTextContents())
        .toContainEqual(expect.stringContaining('browser'));
      // The webhooks are those of any call: signed, schema-valid, with the caller's words.
      const events = await eventually(() => {
        const list = receiver.events.filter((e) => e.callSid === callSid);
        expect(list.map((e) => e.type)).toContain('call.ended');
        return list;
      }, 10_000);
      const validate = schemaValidator();
      for (const event of events) expect(validate(event)).toEqual([]);
      expect(events[0]).toMatchObject({ type: 'call.started', data: { ingress: 'browser', mode: 'agent' } });
      expect(
        events.find((e) => e.type === 'transcript.final' && e.data.speaker === 'caller')?.data.text,
      ).toBe(MIC_WORDS.join(' '));
    });

    it('a stereo WAV streamed into a call: caller left, agent right, each leg recorded sample for sample and transcribed', async () => {
      await page.goto(`${gateway.baseUrl}/console#/dial`);
      await page.getByLabel('transcribe').check();
      const caller = mulawAs16k(greeting.caller);
      const agent = mulawAs16k(greeting.agent);
      await page.getByLabel(/Call with a file/).setInputFiles({
        name: 'greeting.wav',
        mimeType: 'audio/wav',
        buffer: wav([caller, agent]),
      });
      await page.getByRole('button', { name: 'Play file into a call' }).click();
      const status = page.getByTestId('call-status');
      await expect.poll(() => status.getAttribute('data-status'), { timeout: 10_000 }).toBe('live');
      // Streamed at real-time pace: the call lasts as long as the file (5 s), then hangs up.
      await expect.poll(() => status.getAttribute('data-status'), { timeout: 20_000 }).toBe('ended');
      const callSid = (await page.getByTestId('call-link').textContent()) as string;
      const transcript = await eventually(async () => {
        const body = (await gateway.get(`/v1/calls/${callSid}/transcript`, BEARER)).body;
        expect(body.complete).toBe(true);
        return body;
      }, 10_000);
      const words = (speaker: string) =>
        transcript.utterances
          .filter((u: { speaker: string }) => u.speaker === speaker)
          .map((u: { text: string }) => u.text)
          .join(' ');
      expect(words('caller')).toBe('he was not an ill disposed young man');
      expect(words('agent')).toBe('Hello world.');
      const n = Math.max(caller.length, agent.length);
      expect(gateway.tap.pcm(callSid, 'caller')).toEqual(padded(caller, n));
      expect(gateway.tap.pcm(callSid, 'agent')).toEqual(padded(agent, n));
      const snapshot = (await gateway.get(`/v1/calls/${callSid}`, BEARER)).body;
      expect(snapshot).toMatchObject({
        ingress: 'browser',
        mode: 'transcribe',
        participants: [{ name: 'greeting.wav' }],
      });
    });
  },
);
