import type { CallMode } from '../carrier.js';

export interface AnswerXmlOptions {
  readonly mode: CallMode;
  /** wss:// URL of the media endpoint, with the stream token in its query. */
  readonly streamUrl: string;
  readonly statusCallbackUrl: string;
  readonly streamTimeoutS: number;
  /** Transcribe mode: the number the call is connected to once the stream has started. */
  readonly dial?: string | undefined;
}

/** XML text and attribute values: the five characters XML reserves. */
function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The Plivo XML voxline answers a call with (https://docs.plivo.com/docs/voice/xml/audiostream).
 * `agent`: a bidirectional stream of the caller's track (Plivo allows no other track then) that
 * holds the call (keepCallAlive) until voxline closes it. `transcribe`: both tracks, listen-only;
 * with a number to dial the stream runs beside the <Dial>, else it holds the call itself.
 */
export function buildAnswerXml(options: AnswerXmlOptions): string {
  const agent = options.mode === 'agent';
  const dial = agent ? undefined : options.dial;
  const attributes: [string, string][] = [
    ['bidirectional', String(agent)],
    ['audioTrack', agent ? 'inbound' : 'both'],
    ['keepCallAlive', String(dial === undefined)],
    ['contentType', 'audio/x-mulaw;rate=8000'],
    ['streamTimeout', String(options.streamTimeoutS)],
    ['statusCallbackUrl', options.statusCallbackUrl],
    ['statusCallbackMethod', 'POST'],
  ];
  const attrs = attributes.map(([name, value]) => `${name}="${escapeXml(value)}"`).join(' ');
  const stream = `<Stream ${attrs}>${escapeXml(options.streamUrl)}</Stream>`;
  const then = dial === undefined ? '' : `<Dial><Number>${escapeXml(dial)}</Number></Dial>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response>${stream}${then}</Response>`;
}
