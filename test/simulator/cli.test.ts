import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeWav } from '../../src/audio/wav.js';
import { LlmDouble } from '../doubles/llm-double.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { runCli } from '../helpers/cli.js';
import { AUTH_TOKEN, freePort, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall } from '../helpers/media.js';

/** Runs the simulator CLI as `npm run simulate` does (tsx src/simulator/cli.ts …), in our environment. */
const simulate = (args: string[], env: Record<string, string> = {}) =>
  runCli('src/simulator/cli.ts', args, { env: { ...process.env, ...env } });

const GREETING = ['--caller', 'media/demo/greeting.caller.wav', '--agent', 'media/demo/greeting.agent.wav'];

describe('npm run simulate', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway();
  });
  afterAll(() => gateway.close());

  it('plays a two-leg demo call from media/ and points at its details', async () => {
    const { code, stdout } = await simulate(
      [...GREETING, '--url', gateway.mediaUrl, '--fast', '--dtmf', '5@1000'],
      { TWILIO_AUTH_TOKEN: AUTH_TOKEN },
    );
    expect(code).toBe(0);
    const summary = JSON.parse(stdout);
    expect(summary).toMatchObject({ audioSeconds: 5, closeCode: 1000, damage: { inbound: { dropped: 0 } } });
    expect(summary.details).toBe(`${gateway.baseUrl}/v1/calls/${summary.callSid}`);
    const details = await gateway.call(summary.callSid);
    expect(details.legs.map((leg) => [leg.label, leg.audioSeconds, leg.gapFilledMs])).toEqual([
      ['caller', 5, 0],
      ['agent', 5, 0],
    ]);
    expect(details.dtmf.map((d) => d.digit)).toEqual(['5']);
  }, 30_000);

  it('applies seeded loss, and voxline counts exactly the frames it reports dropping', async () => {
    const { stdout } = await simulate([
      ...GREETING,
      '--url',
      gateway.mediaUrl,
      '--fast',
      '--loss',
      '0.05',
      '--seed',
      '9',
      '--auth-token',
      AUTH_TOKEN,
    ]);
    const summary = JSON.parse(stdout);
    expect(summary.damage.inbound.dropped).toBeGreaterThan(3);
    const { legs } = await gateway.call(summary.callSid);
    const frames = 250; // 5 s of 20 ms frames
    for (const [i, track] of (['inbound', 'outbound'] as const).entries()) {
      const lost: number[] = summary.damage[track].droppedFrames;
      expect(lost).toHaveLength(summary.damage[track].dropped);
      // A lost frame leaves a filled gap only inside the timeline: after the first frame that
      // arrived and before the last one (lost frames at either end leave no gap).
      const arrived = [...Array(frames).keys()].filter((f) => !lost.includes(f));
      const inside = lost.filter((f) => f > arrived[0] && f < arrived.at(-1)!);
      expect(legs[i].gapFilledMs).toBe(20 * inside.length);
      expect(legs[i].audioSeconds).toBe(5 - (lost.length * 20) / 1000);
    }
  }, 30_000);

  it('says how to use it, and fails clearly on a signature the server refuses', async () => {
    const help = await simulate([]);
    expect(help.code).toBe(2);
    expect(help.stdout).toContain('--caller FILE');
    const refused = await simulate([
      '--caller',
      'media/demo/greeting.caller.wav',
      '--url',
      gateway.mediaUrl,
      '--fast',
      '--auth-token',
      'wrong-token',
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe(''); // no summary that looks like a call
    expect(refused.stderr).toMatch(
      /^simulate: refused: HTTP 403 \(signature\): --auth-token or TWILIO_AUTH_TOKEN/,
    );
  }, 30_000);

  it('says plainly when nothing listens at the URL, and exits 1', async () => {
    const port = await freePort();
    const down = await simulate([
      '--caller',
      'media/demo/greeting.caller.wav',
      '--url',
      `ws://127.0.0.1:${port}/twilio/media`,
    ]);
    expect(down).toMatchObject({ code: 1, stdout: '' });
    expect(down.stderr).toBe(
      `simulate: connection refused: nothing is listening at ws://127.0.0.1:${port}/twilio/media (is voxline running?)\n`,
    );
  }, 30_000);
});

describe('npm run simulate against a voice agent', () => {
  it('talks to the agent and saves what it said as a WAV', async () => {
    const vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([demoCall('greeting')]) });
    await vllm.listen();
    const llm = new LlmDouble(() => ({ text: 'Nice to meet you.' }));
    await llm.listen();
    const gateway = await startGateway({
      VLLM_URL: vllm.url,
      LLM_BASE_URL: llm.url,
      LLM_API_KEY: 'sk-test',
      AGENT_GREETING: 'Hello.',
    });
    const out = join(mkdtempSync(join(tmpdir(), 'voxline-sim-')), 'agent.wav');
    const { code, stdout } = await simulate(
      [
        '--caller',
        'media/demo/greeting.caller.wav',
        '--param',
        'voxlineMode=agent',
        '--tail',
        '2500',
        '--save',
        out,
        '--url',
        gateway.mediaUrl,
      ],
      { TWILIO_AUTH_TOKEN: AUTH_TOKEN },
    );
    expect(code).toBe(0);
    const summary = JSON.parse(stdout);
    expect(summary.audioSeconds).toBe(7.5);
    expect(summary.received).toMatchObject({ clears: 0, savedTo: out });
    const saved = decodeWav(readFileSync(out));
    expect(saved.sampleRate).toBe(8000);
    expect(saved.channels[0].length).toBe(summary.received.bytes);
    expect(saved.channels[0].length / 8000).toBeGreaterThan(1.5); // "Hello." and the reply
    const transcript = (await gateway.get(`/v1/calls/${summary.callSid}/transcript`)).body;
    expect(
      transcript.utterances
        .filter((u: { speaker: string }) => u.speaker === 'agent')
        .map((u: { text: string }) => u.text),
    ).toEqual(['Hello.', 'Nice to meet you.']);
    await gateway.close();
    await Promise.all([vllm.close(), llm.close()]);
  }, 30_000);
});
