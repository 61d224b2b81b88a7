import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildConsole } from '../../src/console/build-console.js';
import { LlmDouble } from '../doubles/llm-double.js';
import { MistralBatchDouble, type ReceivedTranscription } from '../doubles/mistral-batch-double.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, playDemo } from '../helpers/media.js';

/*
 * What the console shows after a call, in Debian's Chromium (playwright-core) against a real
 * gateway: the refined transcript beside the live one, the recording with its transcript as a
 * WebVTT <track> (cues loaded with the session cookie, the cue under the playhead in the caption
 * line), and the analysis. The batch engine (Mistral's multipart wire) and the LLM (chat
 * completions with structured output) are doubles, set up as test/postcall/postcall-call.test.ts
 * does. And a gateway with post-call off: the page says there is none, and nothing breaks.
 */

const ADMIN_TOKEN = 'postcall-console-admin-token-0123456789';
const KEY = 'mk-test-batch-key';
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'console');
const CHROMIUM = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => existsSync(p));
const required = process.env.VOXLINE_REQUIRE_CHROMIUM === '1';
const call = demoCall('support-call');
const sorted = [...call.segments].sort((a, b) => a.startMs - b.startMs);

/** The double's answer: the manifest's segments of the channel in the file, two voices on the caller's. */
function segmentsFor(request: ReceivedTranscription) {
  const file = request.parts.find((p) => p.name === 'file');
  const leg = file?.fileName?.includes('-caller-') ? 'caller' : 'agent';
  return {
    kind: 'transcription' as const,
    segments: call.segments
      .filter((s) => s.leg === leg)
      .map((s) => ({
        text: ` ${s.text}`,
        start: s.startMs / 1000,
        end: s.endMs / 1000,
        speaker_id: leg === 'caller' && s.startMs > 15_000 ? 'speaker_2' : 'speaker_1',
      })),
  };
}

// Markup in the operator's own field: the page must show it as text.
const HOSTILE = '<img src=x onerror="window.__pwned=1">';
const ANALYSIS = {
  summary: 'A caller waited on hold and was connected.',
  reason: 'to reach a person',
  outcome: 'resolved',
  sentiment: [
    { speaker: 'agent', sentiment: 'positive', score: 0.6 },
    { speaker: 'caller', sentiment: 'neutral', score: 0 },
  ],
  actionItems: [{ owner: 'agent', text: 'call back tomorrow' }],
  custom: { product: 'headset', escalate: false, note: HOSTILE },
};

let browser: Browser;
let bundle: string;
let page: Page | undefined;
let cleanups: (() => Promise<void>)[] = [];

async function postcallGateway(): Promise<Gateway> {
  const vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([call]) });
  await vllm.listen();
  const batch = new MistralBatchDouble(KEY);
  batch.answerBy(segmentsFor);
  await batch.listen();
  const llm = new LlmDouble(() => ({ json: ANALYSIS }));
  await llm.listen();
  const schemaFile = join(mkdtempSync(join(tmpdir(), 'voxline-analysis-')), 'fields.json');
  writeFileSync(
    schemaFile,
    JSON.stringify({
      type: 'object',
      properties: { product: { type: 'string' }, escalate: { type: 'boolean' }, note: { type: 'string' } },
      required: ['product', 'escalate', 'note'],
      additionalProperties: false,
    }),
  );
  const gateway = await startGateway(
    {
      ADMIN_TOKEN,
      VLLM_URL: vllm.url,
      RECORDING_FORMAT: 'pcm16',
      POSTCALL_ENGINE: 'mistral',
      POSTCALL_BASE_URL: batch.url,
      POSTCALL_API_KEY: KEY,
      ANALYSIS_LLM_BASE_URL: llm.url,
      ANALYSIS_LLM_API_KEY: 'llm-key',
      ANALYSIS_LLM_MODEL: 'analysis-model',
      ANALYSIS_SCHEMA_FILE: schemaFile,
    },
    [],
    { consoleBundleDir: bundle },
  );
  cleanups.push(
    () => gateway.close(),
    () => Promise.all([vllm.close(), batch.close(), llm.close()]).then(() => undefined),
  );
  return gateway;
}

async function plainGateway(): Promise<Gateway> {
  const vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([call]) });
  await vllm.listen();
  const gateway = await startGateway({ ADMIN_TOKEN, VLLM_URL: vllm.url, RECORDING_FORMAT: 'pcm16' }, [], {
    consoleBundleDir: bundle,
  });
  cleanups.push(
    () => gateway.close(),
    () => vllm.close(),
  );
  return gateway;
}

/** A signed-in tab, recording what the browser console and uncaught errors say. */
async function signedIn(gateway: Gateway) {
  const context: BrowserContext = await browser.newContext();
  cleanups.push(() => context.close());
  const tab = await context.newPage();
  page = tab;
  const consoleErrors: { text: string; url: string }[] = [];
  const pageErrors: string[] = [];
  tab.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push({ text: m.text(), url: m.location().url });
  });
  tab.on('pageerror', (e) => pageErrors.push(e.message));
  await tab.goto(`${gateway.baseUrl}/console`);
  await tab.getByLabel('Admin token').fill(ADMIN_TOKEN);
  await tab.getByRole('button', { name: 'Sign in' }).click();
  await tab.getByRole('heading', { name: 'Calls' }).waitFor();
  return { tab, consoleErrors, pageErrors };
}

/*
 * The DOM as these tests read it (test files compile without the DOM library). Functions given to
 * evaluate() run in the page: they only cast to these, and call nothing of this file.
 */
interface Cue {
  readonly startTime: number;
  readonly endTime: number;
  readonly text: string;
}
interface TrackElement {
  readonly readyState: number;
  readonly label: string;
  readonly kind: string;
  getAttribute(name: string): string | null;
  readonly track: { readonly mode: string; readonly cues: Iterable<Cue> | null };
}
interface AudioElement {
  readonly readyState: number;
  currentTime: number;
  muted: boolean;
  play(): Promise<void>;
  pause(): void;
  addEventListener(type: string, listener: () => void, options?: { once?: boolean }): void;
}

/** The recording's <track> as the page has it: load state, cues, and what the caption line says. */
async function trackState(tab: Page) {
  return tab.getByTestId('recording-subtitles').evaluate((element) => {
    const track = element as unknown as TrackElement;
    const cues = [...(track.track.cues ?? [])];
    return {
      readyState: track.readyState,
      label: track.label,
      kind: track.kind,
      src: track.getAttribute('src'),
      mode: track.track.mode,
      cues: cues.map((c) => ({ start: c.startTime, end: c.endTime, text: c.text })),
    };
  });
}

async function seekAudio(tab: Page, seconds: number): Promise<void> {
  await tab.getByTestId('recording-audio').evaluate(
    (element, at) =>
      new Promise<void>((resolve) => {
        const audio = element as unknown as AudioElement;
        audio.addEventListener('seeked', () => resolve(), { once: true });
        audio.currentTime = at;
      }),
    seconds,
  );
}

describe.skipIf(!CHROMIUM && !required)('after a call, in the console', { timeout: 90_000 }, () => {
  beforeAll(async () => {
    bundle = mkdtempSync(join(tmpdir(), 'voxline-console-'));
    await buildConsole(bundle);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 60_000);

  afterEach(async (context) => {
    if (context.task.result?.state === 'fail' && page) {
      mkdirSync(ARTIFACTS, { recursive: true });
      const name = context.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 80);
      await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true }).catch(() => undefined);
    }
    page = undefined;
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups = [];
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('shows the refined transcript with its diarized voices and the WER, plays its cues in the caption line, and shows the analysis', async () => {
    const gateway = await postcallGateway();
    const { tab, pageErrors } = await signedIn(gateway);
    const { callSid } = await playDemo(gateway, 'support-call');
    await tab.goto(`${gateway.baseUrl}/console#/calls/${callSid}`);

    // The refined view: every utterance in order, its speaker, its diarized voice, its text.
    await expect
      .poll(() => tab.getByTestId('refined-state').textContent(), { timeout: 30_000 })
      .toBe('complete');
    const rows = await tab.locator('.refined li.utterance').evaluateAll((items) =>
      items.map((li) => ({
        who: li.querySelector('.who')?.firstChild?.textContent,
        sub: li.querySelector('.sub-speaker')?.textContent ?? null,
        text: li.querySelector('.text')?.textContent,
        startMs: Number(li.querySelector('[data-start-ms]')?.getAttribute('data-start-ms')),
      })),
    );
    expect(rows.map((r) => [r.who, r.text, r.startMs])).toEqual(
      sorted.map((s) => [s.leg, s.text, s.startMs]),
    );
    expect(rows.filter((r) => r.who === 'caller').map((r) => r.sub)).toEqual([
      'caller.1',
      'caller.1',
      'caller.2',
    ]);
    // One voice on the agent's channel: no sub-speaker shown.
    expect(rows.filter((r) => r.who === 'agent').every((r) => r.sub === null)).toBe(true);
    // Live and refined agree word for word on this call (the doubles hear the same words).
    expect(await tab.getByTestId('refined-wer').textContent()).toBe(
      'live vs refined: 0.0 % word error rate (caller 0.0 %, agent 0.0 %)',
    );
    // The live transcript is still there, beside it.
    await expect.poll(() => tab.getByTestId('transcript-state').textContent()).toBe('complete');
    expect(await tab.locator('.live-transcript .utterance.final').count()).toBeGreaterThan(0);

    // The recording's track: the refined WebVTT, loaded (2), hidden so that the page draws it.
    const audio = tab.getByTestId('recording-audio');
    await expect
      .poll(() => audio.evaluate((a) => (a as unknown as AudioElement).readyState), { timeout: 15_000 })
      .toBeGreaterThanOrEqual(1);
    await expect
      .poll(
        async () => {
          const t = await trackState(tab);
          return `${t.label}:${t.readyState}`;
        },
        { timeout: 15_000 },
      )
      .toBe('Refined:2');
    const track = await trackState(tab);
    expect(track).toMatchObject({
      kind: 'subtitles',
      mode: 'hidden',
      src: `/v1/calls/${callSid}/transcript?version=refined&format=vtt`,
    });
    expect(track.cues.length).toBeGreaterThanOrEqual(rows.length);
    expect(track.cues[0]?.start).toBeCloseTo(sorted[0]!.startMs / 1000, 3);
    expect(track.cues[0]?.text).toBe(`<v agent>${sorted[0]!.text}</v>`);
    // The cues came with the session cookie: the same URL without it is refused.
    const cookieless = await fetch(`${gateway.baseUrl}${track.src}`);
    expect(cookieless.status).toBe(401);

    // Seeking into a cue shows its text and voice in the caption line, and moving on replaces it.
    const caption = tab.getByTestId('caption');
    const third = sorted.filter((s) => s.leg === 'caller')[1]!; // caller.1, 8.4–11.69 s
    await seekAudio(tab, (third.startMs + 500) / 1000);
    await expect.poll(() => caption.locator('.cue .text').allTextContents()).toEqual([third.text]);
    expect(await caption.locator('.who').allTextContents()).toEqual(['caller.1']);
    const lastCaller = sorted.filter((s) => s.leg === 'caller')[2]!; // caller.2, 15.3–20.6 s
    await seekAudio(tab, (lastCaller.startMs + 500) / 1000);
    await expect.poll(() => caption.locator('.cue .text').allTextContents()).toEqual([lastCaller.text]);
    expect(await caption.locator('.who').allTextContents()).toEqual(['caller.2']);
    // Between utterances, nothing is said.
    await seekAudio(tab, 0.1);
    await expect.poll(() => caption.locator('.cue').count()).toBe(0);
    // Playing (muted) moves through the cues by itself: cuechange as time passes.
    await seekAudio(tab, (sorted[1]!.startMs - 150) / 1000);
    await audio.evaluate((a) => {
      const element = a as unknown as AudioElement;
      element.muted = true;
      return element.play();
    });
    await expect
      .poll(() => caption.locator('.cue .text').allTextContents(), { timeout: 5_000 })
      .toEqual([sorted[1]!.text]);
    await audio.evaluate((a) => (a as unknown as AudioElement).pause());

    // The analysis: summary, reason, outcome, sentiment per speaker, action items, custom fields.
    await expect
      .poll(() => tab.getByTestId('analysis-summary').textContent(), { timeout: 30_000 })
      .toBe(ANALYSIS.summary);
    expect(await tab.getByTestId('analysis-source').textContent()).toBe(
      'analysis-model, from the refined transcript',
    );
    expect(await tab.getByTestId('analysis-reason').textContent()).toBe(ANALYSIS.reason);
    expect(await tab.getByTestId('analysis-outcome').textContent()).toBe('resolved');
    expect(await tab.getByTestId('analysis-sentiment').allTextContents()).toEqual([
      'positive (+0.60)',
      'neutral (+0.00)',
    ]);
    expect(await tab.getByTestId('analysis-actions').textContent()).toBe('agent: call back tomorrow');
    const fields = await tab
      .getByTestId('analysis-custom')
      .evaluate((dl) =>
        [...dl.querySelectorAll('dt')].map((dt) => [dt.textContent, dt.nextElementSibling?.textContent]),
      );
    expect(fields).toEqual([
      ['product', '"headset"'],
      ['escalate', 'false'],
      ['note', JSON.stringify(HOSTILE)],
    ]);
    // The field's markup stayed text: no element made of it, no script run.
    expect(await tab.getByTestId('analysis-custom').locator('img').count()).toBe(0);
    expect(await tab.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(pageErrors).toEqual([]);
  });

  it('with post-call off, says there is no refined transcript and no analysis, captions from the live transcript, and logs no errors', async () => {
    const gateway = await plainGateway();
    const { tab, consoleErrors, pageErrors } = await signedIn(gateway);
    const { callSid } = await playDemo(gateway, 'support-call');
    await tab.goto(`${gateway.baseUrl}/console#/calls/${callSid}`);
    await expect
      .poll(() => tab.getByTestId('transcript-state').textContent(), { timeout: 15_000 })
      .toBe('complete');

    // The recording plays with the live transcript as its subtitles while there is no refined one.
    await expect
      .poll(
        async () => {
          const t = await trackState(tab);
          return `${t.label}:${t.readyState}`;
        },
        { timeout: 15_000 },
      )
      .toBe('Live:2');
    const track = await trackState(tab);
    expect(track.src).toBe(`/v1/calls/${callSid}/transcript?version=live&format=vtt`);
    expect(track.cues.length).toBeGreaterThan(0);
    await seekAudio(tab, track.cues[0]!.start + 0.2);
    await expect.poll(() => tab.getByTestId('caption').locator('.cue').count()).toBeGreaterThan(0);

    // Post-call is off (the session says so): one look, then "none" in both panels, with a way to ask again.
    await expect.poll(() => tab.getByTestId('refined-state').textContent(), { timeout: 40_000 }).toBe('none');
    await tab.getByTestId('refined-none').waitFor();
    await tab.getByTestId('analysis-none').waitFor({ timeout: 10_000 });
    expect(await tab.getByRole('alert').count()).toBe(0);
    expect(await tab.getByRole('button', { name: 'Check again' }).count()).toBe(2);

    // The only console errors are Chrome's own lines for the 404s the page expected and handled,
    // and for the favicon Chrome asks for by itself (the console's HTML names none).
    const expected404 = (url: string) =>
      url.includes(`/v1/calls/${callSid}/transcript?version=refined`) ||
      url.endsWith(`/v1/calls/${callSid}/analysis`) ||
      url.endsWith('/favicon.ico');
    const unexpected = consoleErrors.filter((e) => !(e.text.includes('404') && expected404(e.url)));
    expect(consoleErrors.length).toBeGreaterThan(0); // the listener works: the polls' 404s were seen
    expect(unexpected).toEqual([]);
    expect(pageErrors).toEqual([]);

    // "Check again" asks the server again (and, post-call being off, says none again).
    const asked = tab.waitForRequest((request) => request.url().includes('/transcript?version=refined'));
    await tab.getByTestId('refined-none').getByRole('button', { name: 'Check again' }).click();
    await asked;
    await expect.poll(() => tab.getByTestId('refined-state').textContent()).toBe('none');
  });
});
