import type { VonageAudioRate } from './vonage-config.js';

export interface NccoOptions {
  /** wss:// URL of the media endpoint, with its signed query (media-token.ts). */
  readonly mediaUrl: string;
  /** Where Vonage reports the WebSocket leg's events. */
  readonly eventUrl: string;
  readonly audioRate: VonageAudioRate;
  /** Arrive as extra properties of the socket's first frame (`websocket:connected`). */
  readonly headers: Readonly<Record<string, string>>;
}

/** Vonage documents a limit of about 2 KB for an endpoint's headers. */
const MAX_HEADER_BYTES = 1800;

/**
 * The answer NCCO: `connect` the call to voxline's WebSocket. The socket hears the caller and
 * what it sends back is played to the caller (voxline sends only in agent mode).
 */
export function buildNcco(options: NccoOptions): { ncco: object[]; skippedHeaders: string[] } {
  const headers: Record<string, string> = {};
  const skippedHeaders: string[] = [];
  let bytes = 2;
  for (const [name, value] of Object.entries(options.headers)) {
    const size = Buffer.byteLength(JSON.stringify({ [name]: value })) - 1;
    if (bytes + size > MAX_HEADER_BYTES) {
      skippedHeaders.push(name);
      continue;
    }
    bytes += size;
    headers[name] = value;
  }
  const ncco = [
    {
      action: 'connect',
      eventUrl: [options.eventUrl],
      endpoint: [
        {
          type: 'websocket',
          uri: options.mediaUrl,
          'content-type': `audio/l16;rate=${options.audioRate}`,
          headers,
        },
      ],
    },
  ];
  return { ncco, skippedHeaders };
}
