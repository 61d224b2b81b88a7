import { isIP } from 'node:net';
import { parse, write } from 'sdp-transform';

/**
 * SDP offer/answer for voxline's side (RFC 3264): read an offer, pick a codec per audio stream,
 * write the answer. Pure. G.711 (PCMU, PCMA) and G.722 plus RFC 4733 telephone-event.
 */

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface OfferedStream {
  /** Position of the m-line in the offer (answers keep count and order). */
  readonly index: number;
  readonly media: string;
  readonly port: number;
  readonly protocol: string;
  /** The offer's format list as written (kept on a rejected m-line). */
  readonly formats: string;
  /** Where the far end said it receives (stream-level c= over session-level). */
  readonly address: string;
  readonly direction: Direction;
  /** SIPREC: `a=label`. */
  readonly label: string | undefined;
  readonly codec: { readonly name: SdpCodec; readonly pt: number } | undefined;
  readonly dtmfPt: number | undefined;
}

export interface Offer {
  readonly sessionAddress: string | undefined;
  readonly streams: readonly OfferedStream[];
}

export class SdpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SdpError';
  }
}

/** The audio codecs voxline takes. */
export type SdpCodec = 'pcmu' | 'pcma' | 'g722';

/** RFC 3551 static payload types. G.722 samples at 16 kHz, but its RTP clock is 8000 (§4.5.2). */
const STATIC: Record<number, SdpCodec> = { 0: 'pcmu', 8: 'pcma', 9: 'g722' };
const NAMES: ReadonlySet<string> = new Set<SdpCodec>(['pcmu', 'pcma', 'g722']);

export interface OfferPreferences {
  /** Take G.722 over G.711 when both are offered (default: G.711 first, G.722 when alone). */
  readonly preferG722?: boolean;
}

export function readOffer(text: string, preferences: OfferPreferences = {}): Offer {
  let sdp: ReturnType<typeof parse>;
  try {
    sdp = parse(text);
  } catch (err) {
    throw new SdpError(`unreadable SDP: ${(err as Error).message}`);
  }
  if (!sdp.media || sdp.media.length === 0) throw new SdpError('SDP has no m= line');
  if (sdp.media.length > MAX_STREAMS) throw new SdpError(`SDP has over ${MAX_STREAMS} m= lines`);
  if (sdp.connection) checkAddress(sdp.connection.ip, 'session c=');
  for (const [i, m] of sdp.media.entries()) checkMedia(m, i, sdp.connection?.ip);
  const sessionAddress = sdp.connection?.ip;
  const sessionDirection = (sdp.direction as Direction | undefined) ?? 'sendrecv';
  const streams = sdp.media.map((m, index): OfferedStream => {
    const formats = String(m.payloads ?? '')
      .split(/\s+/)
      .filter((f) => f !== '')
      .map(Number);
    const names = new Map<number, { name: string; rate: number }>();
    // sdp-transform reads an all-digit encoding name (`a=rtpmap:0 0/8000`) as a number.
    for (const r of m.rtp ?? [])
      names.set(r.payload, { name: String(r.codec).toLowerCase(), rate: r.rate ?? 8000 });
    let narrow: OfferedStream['codec'];
    let wide: OfferedStream['codec'];
    let dtmfPt: number | undefined;
    // Of each kind, the first format in the offerer's order that voxline can take (RFC 3264 §6.1).
    for (const pt of formats) {
      const known = names.get(pt);
      const name = known ? (NAMES.has(known.name) ? (known.name as SdpCodec) : undefined) : STATIC[pt];
      if (name && (known?.rate ?? 8000) === 8000) {
        if (name === 'g722') wide ??= { name, pt };
        else narrow ??= { name, pt };
      }
      if (known?.name === 'telephone-event' && known.rate === 8000 && dtmfPt === undefined) dtmfPt = pt;
    }
    // G.711 is what every consumer was tuned on; G.722 is taken when it is all there is, or asked for.
    const codec = preferences.preferG722 ? (wide ?? narrow) : (narrow ?? wide);
    return {
      index,
      media: m.type,
      port: m.port,
      protocol: m.protocol,
      formats: String(m.payloads ?? ''),
      address: m.connection?.ip ?? sessionAddress ?? '',
      direction: (m.direction as Direction | undefined) ?? sessionDirection,
      label: (m as { label?: string | number }).label?.toString(),
      codec: m.type === 'audio' && m.protocol === 'RTP/AVP' && m.port > 0 ? codec : undefined,
      dtmfPt,
    };
  });
  return { sessionAddress, streams };
}

const MAX_STREAMS = 16;
const MIN_RATE = 1000;
const MAX_RATE = 192_000;

type Media = ReturnType<typeof parse>['media'][number];

const isInt = (v: unknown, min: number, max: number): boolean =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/**
 * Every number and address voxline will act on, checked before anything is opened: a port
 * out of range once reached the RTP socket's send() inside a timer and ended the process.
 */
function checkMedia(m: Media, index: number, sessionIp: string | undefined): void {
  const at = `m= line ${index + 1}`;
  if (typeof m.type !== 'string' || typeof m.protocol !== 'string')
    throw new SdpError(`${at}: unreadable (media, port, protocol)`);
  if (!isInt(m.port, 0, 65535)) throw new SdpError(`${at}: port ${m.port} is not 0–65535`);
  if (m.protocol.startsWith('RTP/')) {
    for (const f of String(m.payloads ?? '').split(/\s+/)) {
      if (f !== '' && !(/^\d{1,3}$/.test(f) && Number(f) <= 127))
        throw new SdpError(`${at}: payload type ${JSON.stringify(f.slice(0, 12))} is not 0–127`);
    }
    for (const r of m.rtp ?? []) {
      if (!isInt(r.payload, 0, 127))
        throw new SdpError(`${at}: rtpmap payload type ${r.payload} is not 0–127`);
      if (r.rate !== undefined && !isInt(r.rate, MIN_RATE, MAX_RATE))
        throw new SdpError(`${at}: rtpmap rate ${r.rate} is not ${MIN_RATE}–${MAX_RATE}`);
    }
  }
  for (const [name, value] of [
    ['ptime', m.ptime],
    ['maxptime', m.maxptime],
  ] as const) {
    if (value !== undefined && !isInt(value, 1, 1000))
      throw new SdpError(`${at}: ${name} ${value} is not 1–1000 ms`);
  }
  if (m.connection) checkAddress(m.connection.ip, `${at} c=`);
  else if (m.port > 0 && sessionIp === undefined) throw new SdpError(`${at}: no c= address`);
}

/** An IP literal: voxline never resolves a name an offer gives (no DNS at a caller's bidding). */
function checkAddress(ip: unknown, where: string): void {
  if (typeof ip !== 'string' || isIP(ip) === 0)
    throw new SdpError(`${where}: address ${JSON.stringify(String(ip).slice(0, 40))} is not an IP address`);
}

/** True when the far end put the stream on hold the RFC 2543 way (c=0.0.0.0). */
export function isLegacyHold(stream: OfferedStream): boolean {
  return stream.address === '0.0.0.0';
}

/** The answer's direction for an offered one (RFC 3264 §6.1); `receiveOnly`: voxline never sends. */
export function answerDirection(offered: Direction, receiveOnly: boolean): Direction {
  switch (offered) {
    case 'sendrecv':
      return receiveOnly ? 'recvonly' : 'sendrecv';
    case 'sendonly':
      return 'recvonly';
    case 'recvonly':
      return receiveOnly ? 'inactive' : 'sendonly';
    default:
      return 'inactive';
  }
}

export interface AnsweredStream {
  readonly stream: OfferedStream;
  /** Our RTP port, or undefined to reject the stream (port 0). */
  readonly port: number | undefined;
  readonly direction: Direction;
}

export interface LocalSession {
  readonly address: string;
  readonly sessionId: number;
  readonly version: number;
}

export function writeAnswer(session: LocalSession, answered: readonly AnsweredStream[]): string {
  const family = session.address.includes(':') ? 6 : 4;
  const media = answered.map(({ stream, port, direction }) => {
    if (port === undefined || !stream.codec) {
      return {
        type: stream.media,
        port: 0,
        protocol: stream.protocol,
        payloads: stream.formats,
        rtp: [],
        fmtp: [],
      };
    }
    const { codec, dtmfPt } = stream;
    const rtp = [{ payload: codec.pt, codec: codec.name.toUpperCase(), rate: 8000 }];
    const fmtp: { payload: number; config: string }[] = [];
    if (dtmfPt !== undefined) {
      rtp.push({ payload: dtmfPt, codec: 'telephone-event', rate: 8000 });
      fmtp.push({ payload: dtmfPt, config: '0-16' });
    }
    return {
      type: 'audio',
      port,
      protocol: 'RTP/AVP',
      payloads: [codec.pt, ...(dtmfPt === undefined ? [] : [dtmfPt])].join(' '),
      rtp,
      fmtp,
      ptime: 20,
      direction,
      ...(stream.label === undefined ? {} : { label: stream.label }),
    };
  });
  return write({
    version: 0,
    origin: {
      username: 'voxline',
      sessionId: session.sessionId,
      sessionVersion: session.version,
      netType: 'IN',
      ipVer: family,
      address: session.address,
    },
    name: 'voxline',
    connection: { version: family, ip: session.address },
    timing: { start: 0, stop: 0 },
    // biome-ignore lint/suspicious/noExplicitAny: sdp-transform's MediaDescription type lacks `label`.
    media: media as any,
  });
}
