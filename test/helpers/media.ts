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
