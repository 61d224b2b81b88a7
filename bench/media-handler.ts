/**
 * Cost per Twilio media message of voxline's handler, as a ratio to the floor: JSON.parse plus
 * base64 decode of the same messages (what any handler must do). Both run in the same process,
 * alternating, on the same Buffers ws would deliver; medians over many rounds.
 *
 *   protocol: the real parse/validate/decode (codec) and alignment path, conversion excluded;
 *   full:     a real TwilioMediaSession fed through its socket 'message' handler, including
 *             μ-law decoding, the 8→16 kHz upsampler and AudioFrame delivery to a consumer.
 */
import { EventEmitter } from 'node:events';
import pino from 'pino';
import type { WebSocket } from 'ws';
import { LegAligner } from '../src/audio/leg-aligner.js';
import { CallRegistry } from '../src/calls/call-registry.js';
import { parseTwilioMessage } from '../src/carriers/twilio/codec.js';
import { TwilioMediaSession } from '../src/carriers/twilio/media-session.js';
import { loadConfig } from '../src/config.js';
import { GatewayMetrics } from '../src/observability/metrics.js';
import { demoLegs, machine, median, nowNs, startMessage, twilioMediaMessages } from './lib.js';

const ROUNDS = Number(process.env.ROUNDS ?? 300);

export interface MediaHandlerResult {
  messages: number;
  floorNs: number;
  protocolNs: number;
  fullNs: number;
  protocolRatio: number;
  fullRatio: number;
}

export function benchMediaHandler(): MediaHandlerResult {
  const legs = demoLegs();
  const messages = twilioMediaMessages('CAbench', legs);
  const log = pino({ level: 'silent' });
  const config = loadConfig({ TWILIO_VALIDATE: 'false', MAX_LIVE_CALLS: '1000000', CALL_HISTORY_LIMIT: '0' });
  const aligner = { reorderWindow: 480, maxFill: 80_000, maxQueued: 64 };
  let framesOut = 0;
  const countFrames = () => ({ push: () => void framesOut++, end: () => undefined });
  const registry = new CallRegistry({
    maxLiveCalls: 1e6,
    historyLimit: 0,
    idleTimeoutMs: 60_000,
    timing: { reorderWindowMs: 60, maxFillMs: 10_000, maxQueued: 64 },
    consumers: [countFrames],
    log,
  });
  const metrics = new GatewayMetrics(() => registry);
  let sink = 0;

  const floor = () => {
    for (const message of messages) {
      const parsed = JSON.parse(message.toString('utf8'));
      sink += Buffer.from(parsed.media.payload, 'base64').length;
    }
  };
  const protocol = () => {
    const out = { audio: () => undefined, gap: () => undefined };
    const legsByTrack = new Map([
      ['inbound', new LegAligner(aligner, out)],
      ['outbound', new LegAligner(aligner, out)],
    ]);
    for (const message of messages) {
      const parsed = parseTwilioMessage(message);
      if (parsed.event !== 'media') throw new Error('unexpected');
      legsByTrack.get(parsed.track)?.push(parsed.timestampMs * 8, parsed.payload);
    }
  };
  const start = startMessage('CAbench'); // each round's call has ended before the next starts
  const full = () => {
    const socket = Object.assign(new EventEmitter(), { close: () => undefined }) as unknown as WebSocket;
    const { twilio, legs, media } = config;
    new TwilioMediaSession(socket, { mode: twilio.mode, legs, media, registry, metrics, log });
    socket.emit('message', start, false);
    for (const message of messages) socket.emit('message', message, false);
    socket.emit('close', 1000, Buffer.alloc(0));
  };

  const time = (fn: () => void) => {
    const start = nowNs();
    fn();
    return Number(nowNs() - start) / messages.length;
  };
  for (let i = 0; i < 30; i++) {
    floor();
    protocol();
    full();
  } // warm-up: let V8 optimize all three
  const samples = { floor: [] as number[], protocol: [] as number[], full: [] as number[] };
  for (let i = 0; i < ROUNDS; i++) {
    samples.floor.push(time(floor));
    samples.protocol.push(time(protocol));
    samples.full.push(time(full));
  }
  if (sink === 0) throw new Error('nothing decoded');
  // Every message must have come out as an AudioFrame: otherwise the handler was measured dropping them.
  if (framesOut !== messages.length * (30 + ROUNDS))
    throw new Error(`${framesOut} frames out of ${messages.length * (30 + ROUNDS)}`);
  const floorNs = median(samples.floor);
  const protocolNs = median(samples.protocol);
  const fullNs = median(samples.full);
  return {
    messages: messages.length,
    floorNs,
    protocolNs,
    fullNs,
    protocolRatio: protocolNs / floorNs,
    fullRatio: fullNs / floorNs,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = benchMediaHandler();
  console.log(`media handler (${machine()}), ${r.messages} messages × ${ROUNDS} rounds, median ns/message:`);
  console.log(`  floor (JSON.parse + base64)           ${r.floorNs.toFixed(0)} ns`);
  console.log(
    `  protocol (parse, validate, align)     ${r.protocolNs.toFixed(0)} ns  = ${r.protocolRatio.toFixed(2)}× floor`,
  );
  console.log(
    `  full session path incl. conversion    ${r.fullNs.toFixed(0)} ns  = ${r.fullRatio.toFixed(2)}× floor`,
  );
}
