import type { FastifyBaseLogger } from 'fastify';
import type { Call } from '../calls/call.js';
import type { CallStore, StoredCall } from '../calls/call-store.js';
import type { CallMode } from '../carriers/carrier.js';
import { recordingChannelSpeakers } from '../recording/recording-channels.js';
import { CallTranscript } from '../transcripts/call-transcript.js';
import { callContextBias } from './context-bias.js';

/** A call that has ended, as post-call work keeps it (not the Call: its audio buffers are gone). */
export interface FinishedCall {
  readonly callSid: string;
  readonly log: FastifyBaseLogger;
  /** voxline's speaker per recording channel (left, right). */
  readonly speakers: readonly string[];
  readonly contextBias: readonly string[];
  /** The live transcript's finals, as stored and sent (redacted where the call is). */
  readonly live: readonly { speaker: string; text: string; startMs: number; endMs: number }[];
  readonly redaction: Call['redaction'];
  /** The call has a finished recording to refine. */
  readonly recorded: boolean;
  /** Picked up again after a restart: steps whose document is stored are not done twice. */
  readonly recovered: boolean;
}

type Utterance = { speaker: string; text: string; startMs: number; endMs: number };
const plain = ({ speaker, text, startMs, endMs }: Utterance): Utterance => ({
  speaker,
  text,
  startMs,
  endMs,
});

/** A call this process held, at the end of its transcript and recording. */
export function finishedCall(call: Call, configuredBias: readonly string[], recorded: boolean): FinishedCall {
  return {
    callSid: call.callSid,
    log: call.log,
    speakers: recordingChannelSpeakers(call.start),
    contextBias: callContextBias(configuredBias, call.start.customParameters),
    live: call.transcript.snapshot().utterances.map(plain),
    redaction: call.redaction,
    recorded,
    recovered: false,
  };
}

/** A call read back from the store after a restart (its live transcript from its stored finals). */
export async function storedFinishedCall(
  stored: StoredCall,
  store: CallStore,
  options: {
    readonly configuredBias: readonly string[];
    readonly redaction: (parameters: Readonly<Record<string, string>>) => Call['redaction'];
    readonly agentLabel: string;
    readonly log: FastifyBaseLogger;
  },
): Promise<FinishedCall> {
  const transcript = await store.transcript(stored.callSid, 0);
  const live = CallTranscript.fromEvents(transcript?.events ?? [], true).snapshot().utterances;
  return {
    callSid: stored.callSid,
    log: options.log.child({ callSid: stored.callSid }),
    speakers: recordingChannelSpeakers({
      legs: stored.legs,
      mode: stored.mode as CallMode,
      agentLabel: options.agentLabel,
    }),
    contextBias: callContextBias(options.configuredBias, stored.customParameters),
    live: live.map(plain),
    redaction: options.redaction(stored.customParameters),
    recorded: stored.recording !== null,
    recovered: true,
  };
}
