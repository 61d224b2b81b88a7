import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import {
  eventually,
  type Gateway,
  mediaMessage,
  openMediaSocket,
  startGateway,
  startMessage,
} from '../helpers/gateway.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { demoCall, playDemo } from '../helpers/media.js';
import { type Event, SECRET, schemaValidator, TestReceiver } from '../helpers/webhooks.js';

/*
 * Live alerts on whole calls: ALERT_RULES_FILE read by a real voxline, the demo support call
 * transcribed by the vLLM double (which streams a delta per 80 ms step, so partials come before
 * each final), and every transcript.alert delivered, signed and schema-valid, to a real receiver.
 * Disclosure deadlines run on the call's timers: the gateway is given a ManualClock, the call is
 * kept open past the deadline, and time is moved by hand.
 */

const call = demoCall('support-call');
/** Said by the agent in "Please hold while we try to connect you." (12 300–14 725 ms). */
const PHRASE = 'hold while we';
const WE = call.words.find((w) => w.word === 'we' && w.startMs > 12_300) as (typeof call.words)[number];
/**
 * The piece of the call around it, played at Twilio's pace: the VAD keeps up with real time, so
 * each utterance is its own. Played faster, the VAD falls behind and a leg's speech goes out as
 * one long utterance (see the vLLM end-to-end test), so this one's final would hold other phrases.
 */
const PIECE = { fromMs: 11_800, toMs: 15_000 };
const NEVER_SAID = 'this call may be recorded';
const MISSED_WITHIN_MS = 30_000;
const SAID_WITHIN_MS = 10_000;

const RULES = {
  rules: [
    { id: 'hold', kind: 'phrase', phrases: [PHRASE], speakers: ['agent'], severity: 'info' },
    {
      id: 'recording-notice',
      kind: 'disclosure',
      phrases: [NEVER_SAID],
      speakers: ['agent'],
      withinMs: MISSED_WITHIN_MS,
      severity: 'critical',
    },
    // Said at 500–1 740 ms by the agent: satisfied, so it never fires.
    {
      id: 'thanks',
      kind: 'disclosure',
      phrases: ['thank you for your patience'],
      speakers: ['agent'],
      withinMs: SAID_WITHIN_MS,
    },
  ],
};

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

function rulesFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'voxline-alerts-')), 'rules.json');
  writeFileSync(file, JSON.stringify(RULES));
  return file;
}

async function setUp(env: Record<string, string> = {}, clock?: ManualClock) {
  const vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([call]) });
  await vllm.listen();
  const receiver = new TestReceiver();
  const gateway = await startGateway(
    {
      VLLM_URL: vllm.url,
      WEBHOOK_URL: await receiver.listen(),
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_EVENTS: 'transcript.final,transcript.alert,call.ended',
      ALERT_RULES_FILE: rulesFile(),
      ...env,
    },
    [],
    clock ? { clock } : {},
  );
  cleanups.push(
    () => gateway.close(),
    async () => {
      await Promise.all([vllm.close(), receiver.close()]);
    },
  );
  return { gateway, receiver };
}

function ofCall(receiver: TestReceiver, callSid: string): Event[] {
  return receiver.events.filter((e) => e.callSid === callSid).sort((a, b) => a.seq - b.seq);
}

/** Waits (on the real clock: real sockets) until the receiver has the call's alert that `match` picks. */
async function delivered(receiver: TestReceiver, callSid: string, match: (alert: Event) => boolean) {
  await eventually(
    () =>
      expect(ofCall(receiver, callSid).filter((e) => e.type === 'transcript.alert' && match(e))).toHaveLength(
        1,
      ),
    10_000,
  );
}

async function alertCount(gateway: Gateway, kind: string): Promise<number> {
  const metrics = (await gateway.get('/metrics')).body as string;
  const line = new RegExp(`voxline_transcript_alerts_total\\{kind="${kind}",severity="\\w+"\\} (\\d+)`);
  return Number(line.exec(metrics)?.[1] ?? 0);
}

/**
 * A Twilio media stream left open: the agent's `agent` audio and a silent caller, 20 ms a frame,
 * sent at once; `hangUp` sends stop and waits for voxline to close the socket.
 */
async function openCall(gateway: Gateway, callSid: string, agent: Uint8Array) {
  const media = await openMediaSocket(gateway);
  media.send({ event: 'connected', protocol: 'Call', version: '1.0.0' });
  media.send(startMessage(callSid));
  let sequence = 2;
  const silence = new Uint8Array(160).fill(0xff);
  for (let i = 0; i * 160 < agent.length; i++) {
    const frame = silence.slice();
    frame.set(agent.subarray(i * 160, (i + 1) * 160));
    media.send(mediaMessage(callSid, sequence++, 'inbound', i * 20, silence));
    media.send(mediaMessage(callSid, sequence++, 'outbound', i * 20, frame));
  }
  return {
    hangUp: async () => {
      media.send({
        event: 'stop',
        sequenceNumber: String(sequence),
        streamSid: `MZ${callSid.slice(2)}`,
        stop: { accountSid: 'ACtest', callSid },
      });
      await media.closed;
    },
  };
}

/**
 * Nothing in flight: every event stored so far delivered and acknowledged. Time is moved only
 * then, or a webhook still on the wire would see its deadline (on the same clock) pass at once.
 */
async function quiet(gateway: Gateway, receiver: TestReceiver): Promise<void> {
  await eventually(async () => {
    const metrics = (await gateway.get('/metrics')).body as string;
    const stored = [...metrics.matchAll(/^voxline_webhook_events_total\{[^}]*\} (\d+)$/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
    expect(receiver.events).toHaveLength(stored);
    expect(metrics).not.toMatch(/^voxline_webhook_deliveries\{[^}]*status="pending"\} [1-9]/m);
  }, 10_000);
}

describe('live alerts on a call (ALERT_RULES_FILE)', () => {
  it(
    'a phrase said by the agent raises one transcript.alert from a partial, inside the utterance, before its final',
    { timeout: 60_000 },
    async () => {
      const { gateway, receiver } = await setUp();
      const piece = (audio: Uint8Array) => audio.subarray(PIECE.fromMs * 8, PIECE.toMs * 8);
      const { callSid } = await playDemo(gateway, 'support-call', {
        caller: piece(call.caller),
        agent: piece(call.agent),
        pace: 'realtime',
      });
      await eventually(
        () => expect(ofCall(receiver, callSid).map((e) => e.type)).toContain('call.ended'),
        30_000,
      );
      const events = ofCall(receiver, callSid);
      const validate = schemaValidator();
      for (const event of events) expect(validate(event)).toEqual([]);

      const alerts = events.filter((e) => e.type === 'transcript.alert');
      // The phrase alone: both disclosure deadlines (10 s and 30 s on the real clock) are cleared
      // with the call, which ends after 3.2 s.
      expect(alerts.map((a) => a.data.ruleId)).toEqual(['hold']);
      const [alert] = alerts as [Event];
      expect(alert.data).toMatchObject({
        kind: 'phrase',
        severity: 'info',
        speaker: 'agent',
        phrase: PHRASE,
        source: 'partial',
      });
      expect(alert.data.text.toLowerCase()).toContain(PHRASE);

      // The final of the utterance that said it: the alert came first, and its time is inside
      // that utterance, no earlier than the phrase's last word was spoken.
      const final = events.find(
        (e) =>
          e.type === 'transcript.final' &&
          e.data.speaker === 'agent' &&
          e.data.utteranceId === alert.data.utteranceId,
      );
      expect(final, 'the final of the alert’s utterance').toBeDefined();
      expect(final?.data.text).toBe('Please hold while we try to connect you.');
      expect(alert.seq).toBeLessThan(final?.seq as number);
      expect(alert.data.atMs).toBeGreaterThanOrEqual(WE.startMs - PIECE.fromMs);
      expect(alert.data.atMs).toBeGreaterThanOrEqual(final?.data.startMs);
      expect(alert.data.atMs).toBeLessThanOrEqual(final?.data.endMs);
      expect(await alertCount(gateway, 'phrase')).toBe(1);
    },
  );

  it(
    'a disclosure never said fires once at its deadline on the call’s clock; one said in time raises nothing',
    { timeout: 60_000 },
    async () => {
      // Its wall clock is now: receivers refuse signatures more than 5 minutes off.
      const clock = new ManualClock(0, Date.now());
      // The call is silent (its audio was sent at once) while time is moved: no idle hang-up.
      const { gateway, receiver } = await setUp({ MEDIA_IDLE_TIMEOUT_MS: '600000' }, clock);
      const callSid = `CA${'a1'.repeat(16)}`;
      // The agent's first utterance (500–2 092 ms), the disclosure of the "thanks" rule, then silence.
      const live = await openCall(gateway, callSid, call.agent.subarray(0, 4_000 * 8));
      // Heard, and its final delivered, before time moves.
      await eventually(
        () =>
          expect(ofCall(receiver, callSid).map((e) => [e.type, e.data.text])).toEqual([
            ['transcript.final', 'Thank you for your patience'],
          ]),
        30_000,
      );
      await quiet(gateway, receiver);

      await clock.advance(MISSED_WITHIN_MS - 1);
      expect(await alertCount(gateway, 'missed_disclosure')).toBe(0); // the "thanks" deadline passed too
      await clock.advance(1);
      expect(await alertCount(gateway, 'missed_disclosure')).toBe(1);
      await delivered(receiver, callSid, (e) => e.data.kind === 'missed_disclosure');
      await quiet(gateway, receiver);
      await clock.advance(60_000);
      expect(await alertCount(gateway, 'missed_disclosure')).toBe(1); // once
      await live.hangUp();
      await eventually(
        () => expect(ofCall(receiver, callSid).map((e) => e.type)).toContain('call.ended'),
        30_000,
      );

      const events = ofCall(receiver, callSid);
      const validate = schemaValidator();
      for (const event of events) expect(validate(event)).toEqual([]);
      const missed = events.filter(
        (e) => e.type === 'transcript.alert' && e.data.kind === 'missed_disclosure',
      );
      expect(missed.map((e) => e.data)).toEqual([
        {
          ruleId: 'recording-notice',
          kind: 'missed_disclosure',
          severity: 'critical',
          speaker: null,
          phrase: null,
          text: '',
          utteranceId: null,
          atMs: MISSED_WITHIN_MS,
          source: 'deadline',
        },
      ]);
      expect(events.some((e) => e.type === 'transcript.alert' && e.data.ruleId === 'thanks')).toBe(false);
      // Signed as Standard Webhooks: every request that carried an event had a v1 signature.
      expect(receiver.requests.every((r) => /^v1,/.test(r.signature))).toBe(true);
    },
  );
});
