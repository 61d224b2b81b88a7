import VoiceResponse from 'twilio/lib/twiml/VoiceResponse.js';
import type { CallMode } from '../carrier.js';

export interface VoiceTwimlOptions {
  readonly mode: CallMode;
  /** wss:// URL of the media endpoint (no query string: Twilio drops it). */
  readonly streamUrl: string;
  readonly statusCallbackUrl: string;
  /** Per-call values; they reach the media socket in `start.customParameters`. */
  readonly parameters: Readonly<Record<string, string>>;
  /** Transcribe mode: where the call goes once the stream has started. */
  readonly dial?: string | undefined;
  readonly continueUrl?: string | undefined;
  /** Further <Stream> attributes a Twilio-compatible carrier takes (SignalWire: codec, authBearerToken). */
  readonly streamAttributes?: Readonly<Record<string, string>>;
}

/** Twilio rejects a <Parameter> whose name and value together reach 500 characters. */
const MAX_PARAMETER_LENGTH = 499;
/** Transcribe mode with nowhere to go: keep the caller on the line, listening, for up to an hour. */
const LISTEN_ONLY_PAUSE_SECONDS = 3600;

/**
 * `transcribe`: <Start><Stream track="both_tracks"> (listen-only, both legs) and the call goes on.
 * `agent`: <Connect><Stream> (bidirectional, caller's track only); TwiML resumes when voxline
 * closes the socket.
 */
export function buildVoiceTwiml(options: VoiceTwimlOptions): { twiml: string; skippedParameters: string[] } {
  const response = new VoiceResponse();
  const attributes = {
    url: options.streamUrl,
    name: 'voxline',
    statusCallback: options.statusCallbackUrl,
    statusCallbackMethod: 'POST',
    ...options.streamAttributes,
  } as const;
  const stream =
    options.mode === 'agent'
      ? response.connect().stream(attributes)
      : response.start().stream({ ...attributes, track: 'both_tracks' });
  const skippedParameters: string[] = [];
  for (const [name, value] of Object.entries(options.parameters)) {
    if (name.length + value.length <= MAX_PARAMETER_LENGTH) stream.parameter({ name, value });
    else skippedParameters.push(name);
  }
  if (options.mode === 'transcribe') {
    if (options.dial) response.dial(options.dial);
    else if (options.continueUrl) response.redirect({ method: 'POST' }, options.continueUrl);
    else response.pause({ length: LISTEN_ONLY_PAUSE_SECONDS });
  }
  return { twiml: response.toString(), skippedParameters };
}
