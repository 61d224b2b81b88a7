import type { CallMode } from '../carrier.js';

/** The only rate the browser ingress takes: the page's AudioContext runs at it. */
export const BROWSER_RATE = 16_000;
/** At most one second of audio in one binary message. */
export const MAX_AUDIO_MS_PER_MESSAGE = 1000;
const MAX_PARAMETERS = 32;
const PARAMETER_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const MAX_PARAMETER_LENGTH = 512;
const MAX_NAME_LENGTH = 120;
const MAX_TEXT_BYTES = 16 * 1024;

export interface BrowserStart {
  readonly type: 'start';
  readonly mode: CallMode;
  readonly channels: 1 | 2;
  /** What the page calls the caller: "microphone" or the file's name. */
  readonly name?: string;
  readonly parameters: Readonly<Record<string, string>>;
}

export type BrowserMessage =
  | BrowserStart
  | { readonly type: 'dtmf'; readonly digit: string }
  | { readonly type: 'hangup' }
  | { readonly type: 'malformed'; readonly reason: BrowserMalformedReason; readonly detail: string };

export type BrowserMalformedReason =
  | 'invalid_json'
  | 'unknown_type'
  | 'bad_start'
  | 'bad_dtmf'
  | 'message_too_big'
  | 'audio_before_start'
  | 'partial_sample_frame'
  | 'audio_too_long'
  | 'duplicate_start';

const malformed = (reason: BrowserMalformedReason, detail: string): BrowserMessage => ({
  type: 'malformed',
  reason,
  detail,
});

/**
 * One text message from the page, validated: a typed message, or `malformed` with a reason and a
 * detail safe to log (never the digit of a bad DTMF message, nor the peer's text beyond a type name).
 */
export function parseBrowserMessage(text: Buffer): BrowserMessage {
  if (text.length > MAX_TEXT_BYTES) return malformed('message_too_big', `${text.length} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text.toString('utf8'));
  } catch {
    return malformed('invalid_json', `${text.length} bytes that are not JSON`);
  }
  if (!isObject(value) || typeof value.type !== 'string') {
    return malformed('unknown_type', 'not an object with a string "type"');
  }
  switch (value.type) {
    case 'start':
      return parseStart(value);
    case 'dtmf':
      return typeof value.digit === 'string' && /^[0-9*#A-D]$/.test(value.digit)
        ? { type: 'dtmf', digit: value.digit }
        : malformed('bad_dtmf', 'digit is not one of 0-9 * # A-D');
    case 'hangup':
      return { type: 'hangup' };
    default:
      return malformed('unknown_type', `type ${JSON.stringify(value.type.slice(0, 32))}`);
  }
}

function parseStart(value: Record<string, unknown>): BrowserMessage {
  const { mode, channels, sampleRate, name, parameters } = value;
  if (mode !== 'transcribe' && mode !== 'agent') {
    return malformed('bad_start', 'mode must be "transcribe" or "agent"');
  }
  if (channels !== 1 && channels !== 2) return malformed('bad_start', 'channels must be 1 or 2');
  if (mode === 'agent' && channels !== 1) {
    return malformed('bad_start', 'agent mode takes one channel (the caller): the agent is voxline');
  }
  if (sampleRate !== BROWSER_RATE) return malformed('bad_start', `sampleRate must be ${BROWSER_RATE}`);
  if (name !== undefined && (typeof name !== 'string' || name.length > MAX_NAME_LENGTH)) {
    return malformed('bad_start', `name must be a string of at most ${MAX_NAME_LENGTH} characters`);
  }
  const params: Record<string, string> = {};
  if (parameters !== undefined) {
    if (!isObject(parameters)) return malformed('bad_start', 'parameters must be an object of strings');
    const entries = Object.entries(parameters);
    if (entries.length > MAX_PARAMETERS) {
      return malformed('bad_start', `at most ${MAX_PARAMETERS} parameters`);
    }
    for (const [key, v] of entries) {
      if (!PARAMETER_NAME.test(key) || typeof v !== 'string' || v.length > MAX_PARAMETER_LENGTH) {
        return malformed(
          'bad_start',
          `parameters: names like [A-Za-z][A-Za-z0-9_.-]*, string values of at most ${MAX_PARAMETER_LENGTH} characters`,
        );
      }
      params[key] = v;
    }
  }
  return {
    type: 'start',
    mode,
    channels,
    ...(typeof name === 'string' && name.trim() !== '' ? { name: name.trim() } : {}),
    parameters: Object.freeze(params),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Why a binary message cannot be audio, or undefined when it can. */
export function audioProblem(
  bytes: number,
  channels: 1 | 2,
): { reason: BrowserMalformedReason; detail: string } | undefined {
  const frameBytes = 2 * channels;
  if (bytes === 0 || bytes % frameBytes !== 0) {
    return {
      reason: 'partial_sample_frame',
      detail: `${bytes} bytes is not whole ${frameBytes}-byte frames`,
    };
  }
  if (bytes / frameBytes > (BROWSER_RATE * MAX_AUDIO_MS_PER_MESSAGE) / 1000) {
    return { reason: 'audio_too_long', detail: `${bytes} bytes is over ${MAX_AUDIO_MS_PER_MESSAGE} ms` };
  }
  return undefined;
}
