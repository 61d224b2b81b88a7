/**
 * The README's console screenshot: a real gateway with the vLLM double, the support-call demo
 * played in, the call's page in Chromium. `npx tsx test/console/screenshot.ts docs/images/console.png`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { buildConsole } from '../../src/console/build-console.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { startGateway } from '../helpers/gateway.js';
import { demoCall, playDemo } from '../helpers/media.js';

const out = process.argv[2] ?? 'console.png';
const token = 'screenshot-admin-token';
const bundle = mkdtempSync(join(tmpdir(), 'voxline-console-'));
await buildConsole(bundle);
const vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([demoCall('support-call')]) });
await vllm.listen();
const gateway = await startGateway({ ADMIN_TOKEN: token, VLLM_URL: vllm.url }, [], {
  consoleBundleDir: bundle,
});
const { callSid } = await playDemo(gateway, 'support-call', {
  pace: 'realtime',
  dtmf: [{ atMs: 9000, digit: '4' }],
});
const browser = await chromium.launch({
  executablePath: '/usr/lib/chromium/chromium',
  args: ['--no-sandbox'],
});
const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
await page.goto(`${gateway.baseUrl}/console`);
await page.getByLabel('Admin token').fill(token);
await page.getByRole('button', { name: 'Sign in' }).click();
await page.goto(`${gateway.baseUrl}/console#/calls/${callSid}`);
await page.getByTestId('recording-audio').waitFor({ timeout: 20_000 });
await page.getByText('complete').waitFor({ timeout: 20_000 });
await page.locator('.utterance.final button.word').nth(6).click();
await page.locator('.word.active').waitFor();
await page.screenshot({ path: out, fullPage: false });
await browser.close();
await gateway.close();
await vllm.close();
