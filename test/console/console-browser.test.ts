import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildConsole } from '../../src/console/build-console.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, playDemo } from '../helpers/media.js';
import { SECRET, TestReceiver } from '../helpers/webhooks.js';

/**
 * The console in a real browser: Debian's Chromium driven by playwright-core, against a real
 * gateway with the vLLM double and a real webhook receiver. Failing tests leave a screenshot in
 * test-artifacts/console/.
 */

const ADMIN_TOKEN = 'console-test-admin-token-0123456789';
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'console');
const CHROMIUM = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => existsSync(p));
const required = process.env.VOXLINE_REQUIRE_CHROMIUM === '1';

let browser: Browser;
let gateway: Gateway;
let vllm: VllmRealtimeDouble;
let receiver: TestReceiver;
let page: Page;

describe.skipIf(!CHROMIUM && !required)('the console in Chromium', { timeout: 45_000 }, () => {
  beforeAll(async () => {
    const bundle = mkdtempSync(join(tmpdir(), 'voxline-console-'));
    await buildConsole(bundle);
    vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([demoCall('greeting')]) });
    await vllm.listen();
    receiver = new TestReceiver();
    // The receiver answers 410 Gone at first: the first events are dead-lettered at once.
    receiver.respond = (n) => ({ status: n <= 1 ? 410 : 204 });
    gateway = await startGateway(
      {
        ADMIN_TOKEN,
        VLLM_URL: vllm.url,
        WEBHOOK_URL: await receiver.listen(),
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_EVENTS: 'call.started,call.ended',
      },
      [],
      { consoleBundleDir: bundle },
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await (await browser.newContext()).newPage();
  }, 60_000);

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
    await receiver?.close();
  });

  it('refuses a wrong token, signs in with the right one into an HttpOnly SameSite=Strict cookie, and keeps the token out of URLs', async () => {
    await page.goto(`${gateway.baseUrl}/console`);
    await page.getByLabel('Admin token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not the admin token');
    expect((await page.context().cookies()).length).toBe(0);

    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Calls' }).waitFor();
    expect(page.url()).not.toContain(ADMIN_TOKEN);
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'voxline_session', httpOnly: true, sameSite: 'Strict' });
    expect(cookie.value).not.toContain(ADMIN_TOKEN);
    const html = await page.content();
    expect(html).not.toContain(ADMIN_TOKEN);
    const headers = (await page.request.get(`${gateway.baseUrl}/console`)).headers();
    expect(headers['content-security-policy']).toContain("script-src 'self'");
    expect(headers['x-frame-options']).toBe('SAMEORIGIN');
  });

  it('lets the session read the API but not change anything without its CSRF token', async () => {
    const outcome = await page.evaluate(async () => {
      const read = await fetch('/v1/calls');
      const write = await fetch('/v1/webhooks/deliveries/1/retry', { method: 'POST' });
      return { read: read.status, write: write.status };
    });
    expect(outcome).toEqual({ read: 200, write: 401 });
  });

  it('shows a simulated Twilio call while live, its words with the right speakers, then plays the recording from a clicked word', async () => {
    await page.goto(`${gateway.baseUrl}/console#/calls`);
    const played = playDemo(gateway, 'greeting', { pace: 'realtime' });
    const row = page.locator('tr.live[data-call-sid]');
    await row.waitFor({ timeout: 10_000 });
    const callSid = (await row.getAttribute('data-call-sid')) as string;
    expect(await row.textContent()).toContain('twilio');
    await row.getByRole('link').click();

    // Live: partials arrive greyed, then finals replace them, each with its speaker.
    await page.locator('.utterance.partial').first().waitFor({ timeout: 10_000 });
    await played;
    await expect
      .poll(() => page.getByTestId('transcript-state').textContent(), { timeout: 15_000 })
      .toBe('complete');
    const finals = await page.locator('.utterance.final').evaluateAll((items) =>
      items.map((li) => ({
        who: li.querySelector('.who')?.textContent,
        text: [...li.querySelectorAll('.word')].map((w) => w.textContent).join(' '),
      })),
    );
    const greeting = demoCall('greeting');
    for (const leg of ['caller', 'agent'] as const) {
      const expected = greeting.words.filter((w) => w.leg === leg).map((w) => w.word.toLowerCase());
      const said = finals
        .filter((f) => f.who === leg)
        .map((f) => f.text.toLowerCase())
        .join(' ');
      expect(said.split(' ').filter(Boolean)).toEqual(expected);
    }
    expect(await page.locator('.utterance.partial').count()).toBe(0);
    await expect.poll(() => page.getByTestId('talk-time').textContent()).toMatch(/caller \d/);

    // Ended: the recording, a waveform per leg; a click on a word seeks the audio to its start.
    const audio = page.getByTestId('recording-audio');
    await audio.waitFor({ timeout: 15_000 });
    await page.getByRole('img', { name: 'caller waveform' }).waitFor();
    await page.getByRole('img', { name: 'agent waveform' }).waitFor();
    await expect
      .poll(() => audio.evaluate((a) => (a as unknown as { readyState: number }).readyState), {
        timeout: 10_000,
      })
      .toBeGreaterThanOrEqual(1);
    const word = page.locator('.utterance.final button.word').nth(2);
    const startMs = Number(await word.getAttribute('data-start-ms'));
    await word.click();
    await expect
      .poll(() =>
        audio.evaluate((a) => Math.round((a as unknown as { currentTime: number }).currentTime * 1000)),
      )
      .toBe(startMs);
    await expect.poll(() => word.getAttribute('class')).toContain('active');
    expect(callSid).toMatch(/^CA/);
  });

  it('retries a dead-lettered delivery from the Webhooks page, and the receiver gets it', async () => {
    await eventually(async () => {
      const { body } = await gateway.get('/v1/webhooks/deliveries?status=failed', {
        authorization: `Bearer ${ADMIN_TOKEN}`,
      });
      expect(body.deliveries.length).toBeGreaterThan(0);
    });
    await page.goto(`${gateway.baseUrl}/console#/webhooks`);
    const retry = page.getByRole('button', { name: /^Retry delivery/ }).first();
    await retry.waitFor();
    const row = page.locator('tr[data-delivery-id]').first();
    expect(await row.locator('.last-error').textContent()).toContain('410');
    const delivered = receiver.events.length;
    await retry.click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('queued again');
    await expect.poll(() => receiver.events.length, { timeout: 10_000 }).toBeGreaterThan(delivered);
  });

  it('is navigable by keyboard, with labelled landmarks and controls', async () => {
    // A fresh tab, so that focus starts at the top of the page.
    page = await page.context().newPage();
    await page.goto(`${gateway.baseUrl}/console#/calls`);
    await page.getByRole('heading', { name: 'Calls' }).waitFor();
    const nav = await page.getByRole('navigation', { name: 'Console' }).ariaSnapshot();
    for (const name of ['Calls', 'Make a call', 'Webhooks', 'Health'])
      expect(nav).toContain(`link "${name}"`);
    // From the top of the page: the skip link first, then the pages in order; Enter on "Health" opens it.
    await page.keyboard.press('Tab');
    expect(await page.locator(':focus').textContent()).toBe('Skip to content');
    const visited: (string | null)[] = [];
    while (visited.length < 7 && visited.at(-1) !== 'Health') {
      await page.keyboard.press('Tab');
      visited.push(await page.locator(':focus').textContent());
    }
    expect(visited).toEqual(['Calls', 'Make a call', 'Webhooks', 'Health']);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Health' }).waitFor();
    await expect.poll(() => page.getByTestId('engine-ready').textContent()).toContain('vllm');
    const filters = await page.getByRole('main').ariaSnapshot();
    expect(filters).toContain('heading "Health"');
  });
});
