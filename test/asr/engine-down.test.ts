import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, mulawAs16k, pcm16Channel, playDemo } from '../helpers/media.js';

let gateway: Gateway | undefined;
let refuser: Server | undefined;

afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
  await new Promise((resolve) => refuser?.close(resolve));
  refuser = undefined;
});

/** A speech engine that is down: its port accepts TCP and hangs up at once. */
async function downEngine(): Promise<string> {
  refuser = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => refuser?.listen(0, '127.0.0.1', resolve));
  const address = refuser.address();
  if (!address || typeof address !== 'object') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

describe('a call while the speech engine is down', () => {
  it('each leg says once, in its transcript, that the engine cannot be reached and why; the log warns once per leg; retries are on backoff', async () => {
    gateway = await startGateway({ VLLM_URL: await downEngine() });
    const result = await playDemo(gateway, 'greeting', { pace: 'fast' });
    const transcript = await eventually(async () => {
      const { body } = await (gateway as Gateway).get(`/v1/calls/${result.callSid}/transcript`);
      expect(body.complete).toBe(true);
      return body as { errors: { speaker: string; code: string; message: string }[] };
    }, 30_000);
    const outages = transcript.errors.filter((e) => e.code === 'engine_unavailable');
    expect(outages.map((e) => e.speaker).sort()).toEqual(['agent', 'caller']);
    for (const e of outages) expect(e.message).toMatch(/cannot be reached \(vLLM socket closed \(code \d+\)/);
    expect(transcript.errors.map((e) => e.code)).toEqual(['engine_unavailable', 'engine_unavailable']);

    const forCall = gateway.logs.filter((l) => l.callSid === result.callSid);
    const warnings = forCall.filter((l) => (l.level as number) >= 40);
    const lost = warnings.filter((l) => l.msg === 'speech engine connection lost: reconnecting');
    expect(lost.map((l) => l.leg).sort()).toEqual(['agent', 'caller']);
    expect(warnings.filter((l) => String(l.msg).includes('socket error'))).toEqual([]);
    // Attempts per leg follow the backoff (base 100 ms doubling): a handful, not one per frame.
    for (const leg of ['caller', 'agent']) {
      const attempts = forCall.filter(
        (l) =>
          l.leg === leg &&
          (l.msg === 'speech engine still unreachable' || l === lost.find((w) => w.leg === leg)),
      ).length;
      expect(attempts).toBeGreaterThanOrEqual(2);
      expect(attempts).toBeLessThan(40);
    }
  }, 60_000);

  it('with REDACT on, the recording is masked over the speech no engine transcribed: it fails closed, unheard speech is never written', async () => {
    const token = 'engine-down-redaction-token-0123456789';
    gateway = await startGateway({
      VLLM_URL: await downEngine(),
      ADMIN_TOKEN: token,
      REDACT: 'card',
      RECORDING_FORMAT: 'pcm16',
    });
    const gw = gateway;
    const { callSid } = await playDemo(gw, 'greeting', { pace: 'fast' });
    const auth = { authorization: `Bearer ${token}` };
    const wav = await eventually(async () => {
      const response = await fetch(`${gw.baseUrl}/v1/calls/${callSid}/recording`, { headers: auth });
      expect(response.status).toBe(200);
      return Buffer.from(await response.arrayBuffer());
    }, 30_000);
    const loud = (pcm: Int16Array) => pcm.filter((s) => Math.abs(s) > 2_000).length;
    const spoken = demoCall('greeting');
    // Both legs spoke (thousands of loud samples each); neither leg's speech reached the file.
    for (const [channel, leg] of [
      [0, spoken.caller],
      [1, spoken.agent],
    ] as const) {
      expect(loud(mulawAs16k(leg))).toBeGreaterThan(1_000);
      const recorded = pcm16Channel(wav, channel);
      expect(recorded.length).toBeGreaterThan(16_000);
      expect(`channel ${channel}: ${loud(recorded)} loud samples`).toBe(`channel ${channel}: 0 loud samples`);
    }
    const { body } = await gw.get(`/v1/calls/${callSid}`, auth);
    expect(body.recording).toMatchObject({ format: 'pcm16' });
  }, 60_000);
});
