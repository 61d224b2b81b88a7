import { write } from 'sdp-transform';
import type { DialogState } from '../sip-call.js';
import { addressUri, Headers, type SipRequest, type SipResponse } from '../sip-message.js';
import { ALLOW, newBranch, USER_AGENT } from '../sip-responses.js';

/**
 * The requests voxline sends as a user-agent client (RFC 3261 §8.1.1, §9.1, §13.2.2.4,
 * §17.1.1.3) and its SDP offer. Pure: no I/O.
 */

/** Static PTs 0 and 8 (RFC 3551) and the telephone-event PT most trunks use. */
export const OFFER_DTMF_PT = 101;

/** PCMU, PCMA and RFC 4733 events, 20 ms, on one RTP port. */
export function writeOffer(address: string, port: number, sessionId: number): string {
  const family = address.includes(':') ? 6 : 4;
  return write({
    version: 0,
    origin: {
      username: 'voxline',
      sessionId,
      sessionVersion: 1,
      netType: 'IN',
      ipVer: family,
      address,
    },
    name: 'voxline',
    connection: { version: family, ip: address },
    timing: { start: 0, stop: 0 },
    media: [
      {
        type: 'audio',
        port,
        protocol: 'RTP/AVP',
        payloads: `0 8 ${OFFER_DTMF_PT}`,
        rtp: [
          { payload: 0, codec: 'PCMU', rate: 8000 },
          { payload: 8, codec: 'PCMA', rate: 8000 },
          { payload: OFFER_DTMF_PT, codec: 'telephone-event', rate: 8000 },
        ],
        fmtp: [{ payload: OFFER_DTMF_PT, config: '0-16' }],
        ptime: 20,
        direction: 'sendrecv',
      },
    ],
  });
}

export interface InviteFields {
  readonly requestUri: string;
  /** From with our tag. */
  readonly from: string;
  readonly to: string;
  readonly callId: string;
  readonly cseq: number;
  /** The sent-by of our Via (`host:port`). */
  readonly viaHost: string;
  /** How the INVITE travels (its Via says so). */
  readonly transport: 'UDP' | 'TCP';
  readonly contact: string;
  /** Route headers (the outbound proxy, when it is to stay on the path). */
  readonly routes: readonly string[];
  readonly sdp: string;
  /** Authorization / Proxy-Authorization answering a challenge. */
  readonly extra: readonly (readonly [string, string])[];
}

export function via(viaHost: string, transport: 'UDP' | 'TCP' = 'UDP', branch = newBranch()): string {
  return `SIP/2.0/${transport} ${viaHost};branch=${branch};rport`;
}

export function buildInvite(f: InviteFields): SipRequest {
  const headers = Headers.from([
    ['via', via(f.viaHost, f.transport)],
    ['max-forwards', '70'],
    ['from', f.from],
    ['to', f.to],
    ['call-id', f.callId],
    ['cseq', `${f.cseq} INVITE`],
    ['contact', `<${f.contact}>`],
    ...f.routes.map((r): [string, string] => ['route', r]),
    ['allow', ALLOW],
    ['supported', 'timer'],
    ['user-agent', USER_AGENT],
    ...f.extra,
    ['content-type', 'application/sdp'],
  ]);
  return { kind: 'request', method: 'INVITE', uri: f.requestUri, headers, body: Buffer.from(f.sdp) };
}

/** The ACK to a non-2xx final: part of the INVITE transaction, so its branch (§17.1.1.3). */
export function ackForFinal(invite: SipRequest, response: SipResponse): SipRequest {
  const h = invite.headers;
  const headers = Headers.from([
    ['via', h.lines('via')[0] ?? ''],
    ['max-forwards', '70'],
    ['from', h.get('from') as string],
    ['to', response.headers.get('to') as string],
    ['call-id', h.get('call-id') as string],
    ['cseq', `${Number.parseInt(h.get('cseq') ?? '1', 10)} ACK`],
    ...h.lines('route').map((r): [string, string] => ['route', r]),
  ]);
  return { kind: 'request', method: 'ACK', uri: invite.uri, headers, body: Buffer.alloc(0) };
}

/** CANCEL: the INVITE's Request-URI, top Via, Call-ID, From, To, Route and CSeq number (§9.1). */
export function cancelFor(invite: SipRequest): SipRequest {
  const h = invite.headers;
  const headers = Headers.from([
    ['via', h.lines('via')[0] ?? ''],
    ['max-forwards', '70'],
    ['from', h.get('from') as string],
    ['to', h.get('to') as string],
    ['call-id', h.get('call-id') as string],
    ['cseq', `${Number.parseInt(h.get('cseq') ?? '1', 10)} CANCEL`],
    ...h.lines('route').map((r): [string, string] => ['route', r]),
    ['user-agent', USER_AGENT],
  ]);
  return { kind: 'request', method: 'CANCEL', uri: invite.uri, headers, body: Buffer.alloc(0) };
}

/** The ACK to a 2xx: a request of the dialog, with a branch of its own (§13.2.2.4). */
export function ackFor2xx(
  dialog: DialogState,
  viaHost: string,
  transport: 'UDP' | 'TCP' = 'UDP',
): SipRequest {
  const headers = Headers.from([
    ['via', via(viaHost, transport)],
    ['max-forwards', '70'],
    ['from', dialog.localUri],
    ['to', dialog.remoteUri],
    ['call-id', dialog.callId],
    ['cseq', `${dialog.localCSeq} ACK`],
    ...dialog.routeSet.map((r): [string, string] => ['route', r]),
    ['user-agent', USER_AGENT],
  ]);
  return { kind: 'request', method: 'ACK', uri: dialog.remoteTarget, headers, body: Buffer.alloc(0) };
}

const TAG = /;\s*tag=([^;\s]+)/i;

/** The tag parameter of a From or To value. */
export function tagOf(value: string | undefined): string | undefined {
  return TAG.exec(value ?? '')?.[1];
}

/**
 * The dialog a 2xx to our INVITE creates (§12.1.2): the far end's tag and Contact, and the
 * route set as the reversed Record-Route. A Contact that is not a plain SIP URI leaves the
 * Request-URI as the target.
 */
export function uacDialog(invite: SipRequest, response: SipResponse, sdpSessionId: number): DialogState {
  const from = invite.headers.get('from') as string;
  const to = response.headers.get('to') as string;
  const contact = addressUri(response.headers.get('contact') ?? '');
  return {
    callId: invite.headers.get('call-id') as string,
    localTag: tagOf(from) ?? '',
    remoteTag: tagOf(to) ?? '',
    localUri: from,
    remoteUri: to,
    remoteTarget: /^sips?:[^\s<>"]+$/i.test(contact) ? contact : invite.uri,
    routeSet: response.headers
      .all('record-route')
      .filter((r) => /^<sips?:[^\s<>"]+>[^<>]*$/i.test(r))
      .reverse(),
    localCSeq: Number.parseInt(invite.headers.get('cseq') ?? '1', 10),
    remoteCSeq: 0,
    initiator: 'voxline',
    sdpSessionId,
  };
}
