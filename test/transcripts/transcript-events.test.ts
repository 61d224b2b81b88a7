import { afterEach, describe, expect, it } from 'vitest';
import { simulateTwilioCall } from '../../src/simulator/twilio-call-simulator.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { AUTH_TOKEN, eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall } from '../helpers/media.js';

const greeting = demoCall('greeting');
let vllm: VllmRealtimeDouble;
let gateway: Gateway | undefined;

afterEach(async () => {
  await gateway?.close();
  await vllm.close();
});

interface SseEvent {
  id: string | undefined;
  event: string;
  data: Record<string, unknown>;
}

/** Reads a Server-Sent Events stream to its end. */
async function readEvents(url: string, headers: Record<string, string> = {}): Promise<SseEvent[]> {
  const response = await fetch(url, { headers });
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const text = await response.text();
  return text
    .split('\n\n')
    .filter((block) => block.trim() && !block.startsWith(':'))
    .map((block) => {
      const field = (name: string) =>
        block
          .split('\n')
          .find((l) => l.startsWith(`${name}: `))
          ?.slice(name.length + 2);
      return { id: field('id'), event: field('event') ?? 'message', data: JSON.parse(field('data') ?? '{}') };
    });
}

describe('GET /v1/calls/:callSid/events (Server-Sent Events)', () => {
  it('streams partials and finals live, speaker-labelled, then end; Last-Event-ID resumes after what was seen', async () => {
    vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
    await vllm.listen();
    gateway = await startGateway({ VLLM_URL: await vllm.url });
    const callSid = 'CA00000000000000000000000000000042';
    const playing = simulateTwilioCall({
      url: gateway.mediaUrl,
      authToken: AUTH_TOKEN,
      callSid,
      caller: greeting.caller,
      agent: greeting.agent,
      pace: 'realtime',
    });
    await eventually(() => expect(gateway?.app.registry.get(callSid)).toBeDefined()); // the call exists
    const events = await readEvents(`${gateway.baseUrl}/v1/calls/${callSid}/events`);
    await playing;

    expect(events.at(-1)?.event).toBe('end');
    const finals = events.filter((e) => e.event === 'final');
    expect(finals.map((e) => [e.data.leg, e.data.text])).toEqual(
      greeting.segments.map((s) => [s.leg, s.text]),
    );
    const partials = events.filter((e) => e.event === 'partial');
    expect(partials.length).toBeGreaterThan(5);
    expect(partials.some((p) => p.data.leg === 'caller' && String(p.data.text).startsWith('he was'))).toBe(
      true,
    );
    const ids = events.flatMap((e) => (e.id ? [Number(e.id)] : []));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));

    const firstFinal = finals[0].id as string;
    const resumed = await readEvents(`${gateway.baseUrl}/v1/calls/${callSid}/events`, {
      'Last-Event-ID': firstFinal,
    });
    expect(resumed.map((e) => e.event)).toEqual(['final', 'end']);
    expect(resumed[0].data.text).toBe(finals[1].data.text);
  }, 30_000);

  it('answers 404 for an unknown call', async () => {
    vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([]) });
    gateway = await startGateway();
    const response = await fetch(`${gateway.baseUrl}/v1/calls/CAnope/events`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('VL_ERR_CALL_NOT_FOUND');
  });
});
