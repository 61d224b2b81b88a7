import { readFileSync } from 'node:fs';
import { wavToMulaw8k } from '../../src/audio/phone-audio.js';
import {
  type SimulatedCallOptions,
  type SimulatedCallResult,
  simulateTwilioCall,
} from '../../src/simulator/twilio-call-simulator.js';
import { AUTH_TOKEN, type Gateway } from './gateway.js';

export interface DemoSegment {
  readonly leg: 'caller' | 'agent';
  readonly startMs: number;
  readonly endMs: number;
  readonly text: string;
}

export interface DemoWord {
  readonly leg: 'caller' | 'agent';
  readonly word: string;
  /** On the call clock, from forced alignment of the reference transcript (media/README.md). */
  readonly startMs: number;
  readonly endMs: number;
}

export interface DemoCall {
  readonly id: string;
  readonly durationMs: number;
  readonly caller: Uint8Array;
  readonly agent: Uint8Array;
  readonly segments: readonly DemoSegment[];
  readonly words: readonly DemoWord[];
}

const MEDIA = new URL('../../media/demo/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('manifest.json', MEDIA), 'utf8')) as {
  calls: {
    id: string;
    durationMs: number;
    legs: Record<'caller' | 'agent', { file: string }>;
    segments: (DemoSegment & { words: Omit<DemoWord, 'leg'>[] })[];
  }[];
};

/** A demo call from media/, both legs as μ-law 8 kHz (what Twilio sends). */
export function demoCall(id: string): DemoCall {
  const entry = manifest.calls.find((call) => call.id === id);
  if (!entry) throw new Error(`no demo call ${id}`);
  const leg = (name: 'caller' | 'agent') => wavToMulaw8k(readFileSync(new URL(entry.legs[name].file, MEDIA)));
  return {
    id,
    durationMs: entry.durationMs,
    caller: leg('caller'),
    agent: leg('agent'),
    segments: entry.segments,
    words: entry.segments.flatMap((s) => s.words.map((w) => ({ ...w, leg: s.leg }))),
  };
}

/**
 * Plays a demo call from media/ into a gateway with the simulator, signed, as fast as the socket
 * allows, both legs (overrides change any of that: pace, agent, impairments, parameters…).
 */
export function playDemo(
  gateway: Gateway,
  id = 'greeting',
  overrides: Partial<SimulatedCallOptions> = {},
): Promise<SimulatedCallResult> {
  const call = demoCall(id);
  return simulateTwilioCall({
    url: gateway.mediaUrl,
    authToken: AUTH_TOKEN,
    caller: call.caller,
    agent: call.agent,
    pace: 'fast',
    ...overrides,
  });
}

/**
 * μ-law 8 kHz as the 16 kHz PCM a browser page would send: each 8 kHz sample kept as every odd
 * sample, a midpoint between (G.711 decoded here, not by voxline's converter). The reference
 * audio of the speech doubles finds it, as it does voxline's own 8 → 16 kHz output.
 */
export function mulawAs16k(mulaw: Uint8Array): Int16Array {
  const out = new Int16Array(mulaw.length * 2);
  let previous = 0;
  for (let i = 0; i < mulaw.length; i++) {
    const u = ~mulaw[i] & 0xff;
    const magnitude = ((((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 0x07)) - 0x84;
    const x = u & 0x80 ? -magnitude : magnitude;
    out[2 * i] = Math.round((previous + x) / 2);
    out[2 * i + 1] = x;
    previous = x;
  }
  return out;
}

/** `pcm` followed by silence up to `length` samples. */
export function padded(pcm: Int16Array, length: number): Int16Array {
  const out = new Int16Array(Math.max(length, pcm.length));
  out.set(pcm);
  return out;
}

/** Channel `channel` (0: caller, left) of a 16 kHz PCM16 stereo WAV, found by its data chunk. */
export function pcm16Channel(wav: Buffer, channel: 0 | 1 = 0): Int16Array {
  let at = 12;
  while (wav.toString('latin1', at, at + 4) !== 'data') at += 8 + wav.readUInt32LE(at + 4);
  const size = Math.min(wav.readUInt32LE(at + 4), wav.length - at - 8);
  const data = wav.subarray(at + 8, at + 8 + size);
  const out = new Int16Array(Math.floor(data.length / 4));
  for (let i = 0; i < out.length; i++) out[i] = data.readInt16LE(4 * i + 2 * channel);
  return out;
}
