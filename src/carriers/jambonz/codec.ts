import type { ForkMix } from '../freeswitch/freeswitch-config.js';

/**
 * Pure translation between the jambonz `listen` verb's WebSocket frames and typed values: no I/O,
 * no state. Parsing never throws. Audio frames are the FreeSWITCH fork's (jambonz runs its own
 * mod_audio_fork): they are decoded with freeswitch/codec.ts's `decodeAudio`, and key presses
 * (`{"event":"dtmf","dtmf":"5","duration":…}`, with passDtmf) with its `parseLaterText`.
 *
 * Sources (docs/carriers/jambonz.md): the listen verb's page (jambonz docs), jambonz-feature-server
 * lib/tasks/listen.js, jambonz/freeswitch-modules mod_audio_fork, @jambonz/sdk's AudioStream:
 * - the first frame is text: the call's attributes as on a webhook (callSid, from, to, direction,
 *   callId, accountSid, …) plus `sampleRate` and `mixType`, with the verb's `metadata` object's
 *   fields merged in at the top level; then binary L16 little-endian, stereo interleaving the
 *   caller (ch0) and the callee (ch1);
 * - back (bidirectionalAudio.streaming): binary L16 at bidirectionalAudio.sampleRate; text
 *   `{"type":"mark","data":{"name"}}`, `{"type":"clearMarks"}`, `{"type":"killAudio"}`,
 *   `{"type":"disconnect"}`; jambonz answers a mark with `{"type":"mark","data":{"name","event":
 *   "playout"|"cleared"}}` (and a non-streaming playAudio with `{"type":"playDone"}`).
 */

/** The rates the listen verb streams at (its sampleRate; 32000 is taken back by playAudio too). */
export const LISTEN_RATES = [8000, 16000, 24000, 32000, 48000, 64000] as const;
export type ListenRate = (typeof LISTEN_RATES)[number];

const CALL_ID = /^[A-Za-z0-9_-]{1,64}$/;
const KEY = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_PARAMETERS = 32;
const MAX_PARAMETER_LENGTH = 256;
/** Attributes that are the stream's own, not the call's. */
const STREAM_FIELDS = new Set(['callSid', 'sampleRate', 'mixType']);

export interface ListenMetadata {
  readonly callSid: string | undefined;
  readonly sampleRate: ListenRate;
  readonly mixType: ForkMix;
  /** The call's string attributes and the verb's metadata (at most 32, each at most 256 characters). */
  readonly parameters: Record<string, string>;
  /** Fields that were there with the wrong type or shape (ignored). */
  readonly ignored: readonly string[];
}

/** The first text frame, or why it cannot open a call. */
export function parseListenMetadata(text: string): ListenMetadata | { readonly refused: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { refused: 'the first frame is not the listen metadata (JSON)' };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    return { refused: 'the first frame is not the listen metadata (a JSON object)' };
  const fields = value as Record<string, unknown>;
  const rate = fields.sampleRate === undefined ? 8000 : Number(fields.sampleRate); // the verb's default
  if (!(LISTEN_RATES as readonly number[]).includes(rate))
    return { refused: `sampleRate ${JSON.stringify(fields.sampleRate)}`.slice(0, 80) };
  const mix = fields.mixType ?? 'mono';
  if (mix !== 'mono' && mix !== 'stereo' && mix !== 'mixed')
    return { refused: `mixType ${JSON.stringify(mix)}`.slice(0, 80) };
  const ignored: string[] = [];
  let callSid: string | undefined;
  if (typeof fields.callSid === 'string' && CALL_ID.test(fields.callSid)) callSid = fields.callSid;
  else ignored.push('callSid');
  const parameters: Record<string, string> = {};
  let kept = 0;
  for (const [key, field] of Object.entries(fields)) {
    if (STREAM_FIELDS.has(key) || typeof field !== 'string') continue; // objects (customerData), numbers: not kept
    if (!KEY.test(key) || field.length > MAX_PARAMETER_LENGTH || ++kept > MAX_PARAMETERS) {
      ignored.push(key.slice(0, 64));
      continue;
    }
    parameters[key] = field;
  }
  return { callSid, sampleRate: rate as ListenRate, mixType: mix, parameters, ignored: ignored.slice(0, 8) };
}

export type MarkEcho =
  | { readonly kind: 'mark'; readonly name: string; readonly cleared: boolean }
  | { readonly kind: 'bad_mark'; readonly detail: string }
  | { readonly kind: 'play_done' };

/** jambonz's own replies (marks, playDone); undefined for any other text. */
export function parseReply(text: string): MarkEcho | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const message = value as { type?: unknown; data?: unknown } | null;
  if (!message || typeof message !== 'object') return undefined;
  if (message.type === 'playDone') return { kind: 'play_done' };
  if (message.type !== 'mark') return undefined;
  const data = message.data as { name?: unknown; event?: unknown } | null | undefined;
  if (
    !data ||
    typeof data !== 'object' ||
    typeof data.name !== 'string' ||
    (data.event !== 'playout' && data.event !== 'cleared')
  )
    return { kind: 'bad_mark', detail: `mark ${JSON.stringify(message.data) ?? 'undefined'}`.slice(0, 80) };
  return { kind: 'mark', name: data.name, cleared: data.event === 'cleared' };
}

// --- what voxline sends (agent mode) ---

export function encodeMark(name: string): string {
  return JSON.stringify({ type: 'mark', data: { name } });
}

export function encodeClearMarks(): string {
  return JSON.stringify({ type: 'clearMarks' });
}

export function encodeKillAudio(): string {
  return JSON.stringify({ type: 'killAudio' });
}
