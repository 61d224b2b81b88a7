import type { CallMode } from '../carrier.js';
import type { TelnyxCodec } from './telnyx-config.js';

export interface TexmlOptions {
  readonly mode: CallMode;
  /** wss:// URL of the media endpoint, with the call's token in its query. */
  readonly streamUrl: string;
  readonly statusCallbackUrl: string;
  readonly codec: TelnyxCodec;
  /** Per-call values; they reach the media socket in `start.custom_parameters`. */
  readonly parameters: Readonly<Record<string, string>>;
  /** Transcribe mode: where the call goes once the stream has started. */
  readonly dial?: string | undefined;
  readonly continueUrl?: string | undefined;
}

/** Transcribe mode with nowhere to go, and agent mode: keep the call up, for up to an hour. */
const HOLD_SECONDS = 3600;

/**
 * `transcribe`: <Start><Stream track="both_tracks"> (listen-only, both legs), then the call goes
 * on (<Dial>, <Redirect> or a <Pause>). `agent`: the caller's track only, bidirectional in RTP
 * mode with the same codec back (Telnyx plays what voxline sends, queued on its side), and a
 * <Pause> holds the call while voxline talks; voxline ends it by closing the socket or hanging up.
 */
export function buildTexml(options: TexmlOptions): string {
  const agent = options.mode === 'agent';
  const stream = attributes({
    url: options.streamUrl,
    name: 'voxline',
    track: agent ? 'inbound_track' : 'both_tracks',
    codec: options.codec,
    ...(agent ? { bidirectionalMode: 'rtp', bidirectionalCodec: options.codec } : {}),
    statusCallback: options.statusCallbackUrl,
    statusCallbackMethod: 'POST',
  });
  const parameters = Object.entries(options.parameters)
    .map(([name, value]) => `      <Parameter${attributes({ name, value })}/>`)
    .join('\n');
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Response>',
    '  <Start>',
    `    <Stream${stream}>`,
    ...(parameters ? [parameters] : []),
    '    </Stream>',
    '  </Start>',
  ];
  if (!agent && options.dial) lines.push(`  <Dial>${escapeXml(options.dial)}</Dial>`);
  else if (!agent && options.continueUrl) {
    lines.push(`  <Redirect method="POST">${escapeXml(options.continueUrl)}</Redirect>`);
  } else lines.push(`  <Pause length="${HOLD_SECONDS}"/>`);
  lines.push('</Response>');
  return `${lines.join('\n')}\n`;
}

function attributes(values: Readonly<Record<string, string>>): string {
  return Object.entries(values)
    .map(([name, value]) => ` ${name}="${escapeXml(value)}"`)
    .join('');
}

/** Markup escaped; characters XML 1.0 cannot carry at all (most C0 controls) left out. */
export function escapeXml(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  const printable = text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '');
  return printable.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
