import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateTwilioCall } from '../../src/simulator/twilio-call-simulator.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { demoCall } from '../helpers/media.js';
import { hasPostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { type Instance, startInstance } from './instance.js';

/*
 * Two voxline processes on one PostgreSQL database behind no load balancer at all: a call taken
 * by A is answered for by B, while it runs (GET /v1/calls, the live SSE transcript) and after
 * (record and transcript), with A named as its holder.
 */

interface SseEvent {
  readonly id?: string;
  readonly event: string;
  readonly data: unknown;
}

/** Reads an SSE stream to its `end` event. */
async function readSse(url: string): Promise<SseEvent[]> {
  const response = await fetch(url);
  if (!response.ok || !response.body) throw new Error(`SSE ${url}: HTTP ${response.status}`);
  const events: SseEvent[] = [];
  let buffered = '';
  const decoder = new TextDecoder();
  for await (const chunk of response.body) {
    buffered += decoder.decode(chunk as Uint8Array, { stream: true });
    for (let at = buffered.indexOf('\n\n'); at >= 0; at = buffered.indexOf('\n\n')) {
      const block = buffered.slice(0, at);
      buffered = buffered.slice(at + 2);
      const fields = Object.fromEntries(
        block
          .split('\n')
          .filter((line) => line && !line.startsWith(':'))
          .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
      );
      if (!fields.event) continue;
      events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data) });
      if (fields.event === 'end') return events;
    }
  }
  return events;
}

async function until<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!hasPostgres)('a call on one instance, seen from another', { timeout: 180_000 }, () => {
  let postgres: TestPostgres;
  let vllm: VllmRealtimeDouble;
  const instances: Instance[] = [];
  beforeAll(async () => {
    postgres = await startPostgres();
    vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([demoCall('greeting')]) });
    await vllm.listen();
  }, 120_000);
  afterAll(async () => {
    await Promise.all(instances.map((i) => i.kill('SIGKILL')));
    await vllm?.close();
    await postgres?.stop();
  });

  it('B lists it live with A as its holder, streams its transcript as A writes it, and has it all once it ended', async () => {
    const env = {
      DATABASE_URL: await postgres.database(),
      VLLM_URL: vllm.url,
      TWILIO_VALIDATE: 'false',
      RECORDING_FORMAT: 'mulaw',
    };
    const a = await startInstance({ ...env, INSTANCE_ID: 'voxline-a' });
    const b = await startInstance({ ...env, INSTANCE_ID: 'voxline-b' });
    instances.push(a, b);
    const at = (i: Instance, path: string) => `http://127.0.0.1:${i.port}${path}`;
    const get = async (i: Instance, path: string) => {
      const response = await fetch(at(i, path));
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const call = demoCall('greeting');
    const callSid = 'CAvisible1';
    // At real-time pace, so the call is live for seconds while B is asked about it.
    const played = simulateTwilioCall({
      url: a.mediaUrl,
      callSid,
      caller: call.caller,
      agent: call.agent,
      pace: 'realtime',
    });
    const listed = await until(async () => {
      const { body } = await get(b, '/v1/calls?state=live');
      return (body.calls as { callSid: string; instance: { id: string } }[]).find(
        (c) => c.callSid === callSid,
      );
    }, 'B to list the live call');
    expect(listed.instance.id).toBe('voxline-a');
    // Its recording is not there yet, and B says so rather than "no recording".
    expect((await get(b, `/v1/calls/${callSid}/recording`)).body).toMatchObject({
      error: { code: 'VL_ERR_RECORDING_NOT_READY' },
    });
    const stream = readSse(at(b, `/v1/calls/${callSid}/events`));
    expect((await played).refused).toBeUndefined();
    const streamed = await stream;

    const fromA = await until(async () => {
      const { body } = await get(a, `/v1/calls/${callSid}/transcript`);
      return body.complete ? body : undefined;
    }, 'A to complete the transcript');
    const fromB = await until(async () => {
      const { body } = await get(b, `/v1/calls/${callSid}/transcript`);
      return body.complete ? body : undefined;
    }, 'B to see the transcript complete');
    expect((fromA.utterances as unknown[]).length).toBeGreaterThan(0);
    expect(fromB.utterances).toEqual(fromA.utterances);
    expect(fromB.state).toBe('ended');
    // B's live stream carried every final A made, in order, and then the end.
    const finals = streamed.filter((e) => e.event === 'final').map((e) => (e.data as { text: string }).text);
    expect(finals).toEqual(
      (fromA.utterances as { text: string; seq: number }[]).sort((x, y) => x.seq - y.seq).map((u) => u.text),
    );
    expect(streamed.at(-1)?.event).toBe('end');

    const record = await get(b, `/v1/calls/${callSid}`);
    expect(record.status).toBe(200);
    expect(record.body).toMatchObject({ callSid, state: 'ended', instance: { id: 'voxline-a' } });
    expect((await get(b, '/v1/calls/CAnowhere')).status).toBe(404);

    // The recording's record, from B: A has the file (no bucket here), with its sha256.
    const recording = await until(async () => {
      const { body } = await get(b, `/v1/calls/${callSid}`);
      return (body as { recording: Record<string, unknown> | null }).recording ?? undefined;
    }, 'B to see the recording');
    expect(recording).toMatchObject({
      format: 'mulaw',
      instance: 'voxline-a',
      objectUrl: null,
      uploaded: false,
    });
    const wav = Buffer.from(await (await fetch(at(a, `/v1/calls/${callSid}/recording`))).arrayBuffer());
    expect(wav.length).toBe(recording.bytes);
    expect(createHash('sha256').update(wav).digest('hex')).toBe(recording.sha256);
    expect((await get(a, `/v1/calls/${callSid}`)).body).toMatchObject({ recording });
    const elsewhere = await get(b, `/v1/calls/${callSid}/recording`);
    expect(elsewhere.status).toBe(409);
    expect(elsewhere.body).toMatchObject({
      error: { code: 'VL_ERR_RECORDING_ELSEWHERE', message: expect.stringContaining('voxline-a') },
    });
  });
});
