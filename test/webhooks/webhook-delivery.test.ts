import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createReceiver, type ReceivedEvent } from '../../webhooks/example-receiver.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, playDemo } from '../helpers/media.js';
import { type Event, OLD_SECRET, SECRET, schemaValidator, TestReceiver } from '../helpers/webhooks.js';

const greeting = demoCall('greeting');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function engine(): Promise<string> {
  const vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
  cleanups.push(() => vllm.close());
  return vllm.listen();
}

async function gatewayWith(env: Record<string, string>): Promise<Gateway> {
  const gateway = await startGateway({ WEBHOOK_RETRY_BASE_MS: '50', WEBHOOK_RETRY_MAX_MS: '200', ...env });
  cleanups.push(() => gateway.close());
  return gateway;
}

function expectCompleteSequence<E extends { type: string; seq: number; callSid: string }>(
  events: E[],
  callSid: string,
): E[] {
  const ofCall = events.filter((e) => e.callSid === callSid);
  expect(ofCall.map((e) => e.seq)).toEqual(ofCall.map((_, i) => i + 1)); // gapless, in order
  expect(ofCall[0].type).toBe('call.started');
  expect(ofCall.at(-1)?.type).toBe('call.ended');
  return ofCall;
}

describe('webhooks: a two-leg call from media/ at a real receiver', () => {
  it('delivers a complete, valid, signed, ordered event sequence (verified by the standardwebhooks example receiver)', async () => {
    const received: ReceivedEvent[] = [];
    const receiver = createReceiver({ secret: SECRET, onEvent: (e) => received.push(e) });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => receiver.close(() => resolve())));
    const port = (receiver.address() as { port: number }).port;
    const gateway = await gatewayWith({
      VLLM_URL: await engine(),
      WEBHOOK_URL: `http://127.0.0.1:${port}/hooks`,
      WEBHOOK_SECRET: SECRET,
    });
    const result = await playDemo(gateway, 'greeting', {
      pace: 'realtime',
      dtmf: [{ digit: '5', atMs: 2_500 }],
    });
    await eventually(() => expect(received.at(-1)?.type).toBe('call.ended'), 15_000);

    const events = expectCompleteSequence(received, result.callSid);
    const validate = schemaValidator();
    for (const event of events) expect(validate(event)).toEqual([]);
    expect(events.map((e) => e.type)).toEqual([
      'call.started',
      'transcript.final',
      'dtmf',
      'transcript.final',
      'recording.ready',
      'call.ended',
    ]);
    const finals = events.filter((e) => e.type === 'transcript.final');
    expect(finals.map((e) => [e.data.speaker, e.data.text])).toEqual(
      greeting.segments.map((s) => [s.leg, s.text]),
    );
    const ended = events.at(-1)?.data as {
      transcript: { speaker: string }[];
      talkTimeMs: Record<string, number>;
    };
    expect(ended.transcript.map((u) => u.speaker)).toEqual(['agent', 'caller']);
    expect(ended.talkTimeMs.caller).toBeGreaterThan(2_500);
    expect(events.find((e) => e.type === 'dtmf')?.data).toMatchObject({ digit: '5', speaker: 'caller' });
  }, 30_000);

  it('signs with both secrets during a rotation; a receiver holding either one accepts', async () => {
    const current = new TestReceiver(SECRET);
    const old = new TestReceiver(OLD_SECRET);
    for (const r of [current, old]) cleanups.push(() => r.close());
    const file = join(mkdtempSync(join(tmpdir(), 'voxline-hooks-')), 'webhooks.yaml');
    writeFileSync(
      file,
      `endpoints:\n  - id: current\n    url: ${await current.listen()}\n    secrets: [${SECRET}, ${OLD_SECRET}]\n  - id: old\n    url: ${await old.listen()}\n    secrets: [${SECRET}, ${OLD_SECRET}]\n    events: [call.started]\n`,
    );
    const gateway = await gatewayWith({ WEBHOOKS_FILE: file, RECORDING_FORMAT: 'none' });
    await playDemo(gateway, 'greeting');
    await eventually(() => expect(current.events.at(-1)?.type).toBe('call.ended'));
    await eventually(() => expect(old.events.map((e) => e.type)).toEqual(['call.started']));
    expect(current.requests[0].signature.split(' ')).toHaveLength(2);
  });
});

describe('webhooks: receivers that fail', () => {
  it('a receiver answering 500 for a while gets every event once it recovers, in per-call order; retries share their webhook-id', async () => {
    const receiver = new TestReceiver();
    receiver.respond = (n) => ({ status: n <= 4 ? 500 : 204 });
    cleanups.push(() => receiver.close());
    const gateway = await gatewayWith({ WEBHOOK_URL: await receiver.listen(), WEBHOOK_SECRET: SECRET });
    const first = await playDemo(gateway, 'greeting');
    const second = await playDemo(gateway, 'greeting');
    await eventually(
      () => expect(receiver.events.filter((e) => e.type === 'call.ended')).toHaveLength(2),
      10_000,
    );

    for (const call of [first, second]) expectCompleteSequence(receiver.events, call.callSid);
    const failed = receiver.requests.filter((r) => r.status === 500);
    expect(failed).toHaveLength(4);
    for (const attempt of failed)
      expect(receiver.requests.some((r) => r.id === attempt.id && r.status === 204)).toBe(true);
  }, 20_000);

  it('a slow endpoint does not delay another', async () => {
    const slow = new TestReceiver();
    slow.respond = () => ({ status: 204, delayMs: 1_500 });
    const fast = new TestReceiver();
    for (const r of [slow, fast]) cleanups.push(() => r.close());
    const file = join(mkdtempSync(join(tmpdir(), 'voxline-hooks-')), 'webhooks.json');
    writeFileSync(
      file,
      JSON.stringify({
        endpoints: [
          { id: 'slow', url: await slow.listen(), secret: SECRET },
          { id: 'fast', url: await fast.listen(), secret: SECRET },
        ],
      }),
    );
    const gateway = await gatewayWith({ WEBHOOKS_FILE: file });
    const started = Date.now();
    await playDemo(gateway, 'greeting');
    await eventually(() => expect(fast.events.at(-1)?.type).toBe('call.ended'));
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(slow.events.length).toBeLessThanOrEqual(1);
    await eventually(() => expect(slow.events.at(-1)?.type).toBe('call.ended'), 15_000);
    expect(slow.events.map((e) => e.seq)).toEqual(fast.events.map((e) => e.seq));
  }, 20_000);

  it('dead-letters after the maximum age; the admin API lists it and retries it on request', async () => {
    const receiver = new TestReceiver();
    let up = false;
    receiver.respond = () => ({ status: up ? 204 : 503 });
    cleanups.push(() => receiver.close());
    const gateway = await gatewayWith({
      WEBHOOK_URL: await receiver.listen(),
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_EVENTS: 'call.started',
      WEBHOOK_MAX_AGE_MS: '1000',
    });
    const result = await playDemo(gateway, 'greeting');
    const failed = await eventually(async () => {
      const { body } = await gateway.get('/v1/webhooks/deliveries?status=failed');
      expect(body.deliveries).toHaveLength(1);
      return body.deliveries[0];
    }, 5_000);
    expect(failed).toMatchObject({
      type: 'call.started',
      callSid: result.callSid,
      status: 'failed',
      endpoint: 'env',
    });
    expect(failed.lastError).toMatch(/HTTP 503; gave up after \d+ attempts/);

    up = true;
    const retry = await fetch(`${gateway.baseUrl}/v1/webhooks/deliveries/${failed.id}/retry`, {
      method: 'POST',
    });
    expect(retry.status).toBe(202);
    await eventually(() => expect(receiver.events.map((e: Event) => e.type)).toEqual(['call.started']));
    const again = await fetch(`${gateway.baseUrl}/v1/webhooks/deliveries/${failed.id}/retry`, {
      method: 'POST',
    });
    expect(again.status).toBe(409);
  }, 15_000);
});
