import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { LoadSample, LoadSampler } from '../../src/calls/load-governor.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { invite, newCallId, SipPeer } from '../doubles/sip-peer.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import {
  AUTH_TOKEN,
  eventually,
  type Gateway,
  mediaMessage,
  openMediaSocket,
  startGateway,
  startMessage,
} from '../helpers/gateway.js';
import { demoCall, playDemo } from '../helpers/media.js';
import { SECRET, TestReceiver } from '../helpers/webhooks.js';

/**
 * Graceful overload, end to end: a real voxline whose load governor reads a sampler this test
 * drives. While it says overloaded, new calls are refused on every edge (503 + Retry-After before
 * the upgrade, 1013 after it, SIP 503 + Retry-After) and the call already live goes on untouched,
 * transcribed, recorded and sent to webhooks; once the load falls, calls are taken again.
 */

const TOKEN = 'overload-admin-token-0123456789';
const BEARER = { authorization: `Bearer ${TOKEN}` };
const CALM: LoadSample = { lagMs: 3, cpuPercent: 20, rssMb: 300 };
const greeting = demoCall('greeting');

let gateway: Gateway | undefined;
let vllm: VllmRealtimeDouble | undefined;
let receiver: TestReceiver | undefined;
let peer: SipPeer | undefined;

afterEach(async () => {
  peer?.close();
  await gateway?.close();
  await Promise.all([vllm?.close(), receiver?.close()]);
  gateway = vllm = receiver = peer = undefined;
});

/** The upgrade's HTTP answer when it was refused (the socket never opened). */
function refusedUpgrade(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once('open', () => {
      socket.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.on('end', () => {
        const retryAfter = response.headers['retry-after'];
        resolve({ status: response.statusCode ?? 0, retryAfter, body });
        socket.terminate();
      });
    });
    socket.on('error', () => undefined);
  });
}

async function metric(gw: Gateway, series: string): Promise<number> {
  const text = (await gw.get('/metrics')).body as string;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('graceful overload', () => {
  it(
    'refuses new calls on every edge while overloaded, keeps the live call intact, and takes calls again once the load falls',
    { timeout: 30_000 },
    async () => {
      let load = CALM;
      const sampler: LoadSampler = { sample: () => load };
      vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
      await vllm.listen();
      receiver = new TestReceiver();
      const gw = await startGateway(
        {
          ADMIN_TOKEN: TOKEN,
          VLLM_URL: vllm.url,
          WEBHOOK_URL: await receiver.listen(),
          WEBHOOK_SECRET: SECRET,
          OVERLOAD_MAX_LAG_MS: '100',
          OVERLOAD_MAX_CPU_PERCENT: '90',
          OVERLOAD_RETRY_AFTER_S: '9',
          SIP_PORT: '0',
          SIP_BIND: '127.0.0.1',
          SIP_RTP_PORTS: '44000-44098',
          SHUTDOWN_DRAIN_MS: '1000', // a failure here leaves the live call open: close quickly
        },
        [],
        { loadSampler: sampler },
      );
      gateway = gw;
      const { governor } = gw.app;
      /** What the timer would do every 0.5 s, done now (the timer runs too, reading the same load). */
      const sampleTimes = (n: number) => {
        for (let i = 0; i < n; i++) governor.sample();
      };

      // A call is live, half its audio in.
      const callSid = 'CA0000000000000000000000000000ld01';
      const live = await openMediaSocket(gw);
      live.send(startMessage(callSid));
      const frames = greeting.durationMs / 20;
      let sequence = 1;
      const sendFrames = (from: number, to: number) => {
        for (let i = from; i < to; i++) {
          for (const [track, audio] of [
            ['inbound', greeting.caller],
            ['outbound', greeting.agent],
          ] as const) {
            const payload = new Uint8Array(160).fill(0xff);
            payload.set(audio.subarray(i * 160, (i + 1) * 160));
            live.send(mediaMessage(callSid, ++sequence, track, i * 20, payload));
          }
        }
      };
      const half = Math.floor(frames / 2);
      sendFrames(0, half);
      await eventually(() => expect(gw.tap.frames(callSid, 'caller').length).toBe(half));
      // A stream upgraded before the overload, whose `start` comes after it.
      const upgradedEarly = await openMediaSocket(gw);
      expect(upgradedEarly.socket.readyState).toBe(WebSocket.OPEN);

      // The load passes its limit for two samples in a row: overloaded.
      load = { ...CALM, lagMs: 250 };
      sampleTimes(2);
      expect(governor.state).toMatchObject({ overloaded: true, reason: 'event_loop_lag' });
      // Liveness stays 200 (a restart would cut the live call); readiness says no new calls.
      expect(await gw.get('/healthz')).toEqual({
        status: 200,
        body: {
          status: 'ok',
          liveCalls: 1,
          overload: { overloaded: true, reason: 'event_loop_lag', since: expect.any(String), retryAfterS: 9 },
        },
      });
      expect(await gw.get('/readyz')).toMatchObject({
        status: 503,
        body: {
          ready: false,
          reason: 'overloaded',
          overload: {
            reason: 'event_loop_lag',
            sample: { lagMs: 250 },
            limits: { maxLagMs: 100, maxCpuPercent: 90, maxRssMb: 0 },
          },
        },
      });
      expect(await metric(gw, 'voxline_overloaded{reason="event_loop_lag"}')).toBe(1);

      // A new Twilio stream: 503 with Retry-After, before the upgrade.
      const twilio = await refusedUpgrade(gw.mediaUrl, {
        'x-twilio-signature': getExpectedTwilioSignature(AUTH_TOKEN, gw.mediaUrl, {}),
      });
      expect(twilio).toMatchObject({ status: 503, retryAfter: '9' });
      expect(JSON.parse(twilio.body).error).toMatchObject({ code: 'VL_ERR_OVERLOADED' });
      // A browser call: the same.
      const browser = await refusedUpgrade(`${gw.baseUrl.replace(/^http/, 'ws')}/browser/call`, BEARER);
      expect(browser).toMatchObject({ status: 503, retryAfter: '9' });
      // The stream upgraded earlier sends its start now: closed 1013 (try again later).
      upgradedEarly.send(startMessage('CA0000000000000000000000000000ld02'));
      expect(await upgradedEarly.closed).toMatchObject({
        code: 1013,
        reason: expect.stringMatching(/^overloaded: .*event_loop_lag over its limit, retry in 9 s$/),
      });
      // A SIP INVITE: 503 with Retry-After, before any port is taken or the phone rings.
      peer = await SipPeer.open(gw.edgePorts.sip as number);
      const sipCallId = newCallId();
      peer.send(invite({ callId: sipCallId, peer }));
      const sipRefusal = await peer.response(sipCallId);
      expect(sipRefusal.status).toBe(503);
      expect(sipRefusal.headers.get('retry-after')).toBe('9');
      expect(sipRefusal.headers.get('warning')).toMatch(/overloaded \(event_loop_lag\)/);

      // The live call was never touched: the rest of its audio, then stop; it ends as any call does.
      sendFrames(half, frames);
      live.send({
        event: 'stop',
        sequenceNumber: String(++sequence),
        streamSid: `MZ${callSid.slice(2)}`,
        stop: { accountSid: 'ACtest', callSid },
      });
      expect((await live.closed).code).toBe(1000);
      const snapshot = (await gw.get(`/v1/calls/${callSid}`, BEARER)).body;
      expect(snapshot).toMatchObject({ state: 'ended', endReason: 'stop' });
      for (const leg of snapshot.legs)
        expect(leg).toMatchObject({ framesReceived: frames, gapFilledMs: 0, framesDropped: 0 });
      expect(gw.tap.frames(callSid, 'caller')).toHaveLength(frames);
      expect(gw.tap.legs.get(`${callSid}/caller`)?.ended).toBe(true);
      const transcript = await eventually(async () => {
        const { body } = await gw.get(`/v1/calls/${callSid}/transcript`, BEARER);
        expect(body.complete).toBe(true);
        return body;
      }, 15_000);
      expect(
        transcript.utterances
          .filter((u: { speaker: string }) => u.speaker === 'caller')
          .map((u: { text: string }) => u.text)
          .join(' '),
      ).toBe('he was not an ill disposed young man');
      const events = await eventually(() => {
        const types = (receiver?.events ?? []).filter((e) => e.callSid === callSid).map((e) => e.type);
        expect(types).toContain('call.ended');
        return types;
      }, 10_000);
      expect(events).toEqual(expect.arrayContaining(['call.started', 'transcript.final', 'call.ended']));
      await eventually(async () =>
        expect((await gw.get(`/v1/calls/${callSid}/recording`, BEARER)).status).toBe(200),
      );

      // Every refusal counted, under the measure that caused it and at its edge.
      expect(await metric(gw, 'voxline_overload_refusals_total{reason="event_loop_lag"}')).toBe(4);
      expect(await metric(gw, 'voxline_overload_refusals_total{reason="cpu"}')).toBe(0);
      expect(await metric(gw, 'voxline_calls_refused_total{reason="VL_ERR_OVERLOADED"}')).toBe(2);
      expect(
        await metric(gw, 'voxline_ingress_refused_total{ingress="browser",reason="VL_ERR_OVERLOADED"}'),
      ).toBe(1);
      expect(
        await metric(gw, 'voxline_ingress_refused_total{ingress="sip",reason="VL_ERR_OVERLOADED"}'),
      ).toBe(1);

      // Under the limit but not under 80 % of it: still refusing.
      load = { ...CALM, lagMs: 90 };
      sampleTimes(6);
      expect(governor.state.overloaded).toBe(true);
      // Calm for four samples: calls are taken again.
      load = CALM;
      sampleTimes(4);
      expect(governor.state.overloaded).toBe(false);
      expect(await gw.get('/readyz')).toMatchObject({ status: 200, body: { ready: true } });
      expect((await gw.get('/healthz')).body.overload).toEqual({ overloaded: false });
      const next = await playDemo(gw, 'greeting');
      expect(next.refused).toBeUndefined();
      expect(next.closeCode).toBe(1000);
      expect((await gw.get(`/v1/calls/${next.callSid}`, BEARER)).body).toMatchObject({
        state: 'ended',
        endReason: 'stop',
      });
      expect(await metric(gw, 'voxline_overloaded{reason="event_loop_lag"}')).toBe(0);
      expect(await metric(gw, 'voxline_overload_refusals_total{reason="event_loop_lag"}')).toBe(4);
    },
  );
});
