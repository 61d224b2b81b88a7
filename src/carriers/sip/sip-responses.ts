import { randomBytes } from 'node:crypto';
import { Headers, parseCSeq, parseVia, type SipRequest, type SipResponse, splitList } from './sip-message.js';
import type { Flow } from './sip-transport.js';

export const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, NOTIFY';
export const USER_AGENT = 'voxline';

export const REASONS: Record<number, string> = {
  100: 'Trying',
  180: 'Ringing',
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  405: 'Method Not Allowed',
  415: 'Unsupported Media Type',
  420: 'Bad Extension',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  491: 'Request Pending',
  500: 'Server Internal Error',
  503: 'Service Unavailable',
};

export function newTag(): string {
  return randomBytes(6).toString('hex');
}

export function newBranch(): string {
  return `z9hG4bK-vx${randomBytes(8).toString('hex')}`;
}

/**
 * A response to `request` (RFC 3261 §8.2.6): Via (with `received`/`rport` filled from the flow),
 * From, Call-ID, CSeq copied; To copied with `toTag` added when it has none (not on 100).
 */
export function responseTo(
  request: SipRequest,
  status: number,
  flow: Flow,
  toTag: string | undefined,
  extra: readonly (readonly [string, string])[] = [],
  body?: { readonly type: string; readonly content: string },
): SipResponse {
  const headers = new Headers();
  request.headers.lines('via').forEach((via, i) => {
    headers.add('via', i === 0 ? stampVia(via, flow) : via);
  });
  headers.add('from', request.headers.get('from') as string);
  const to = request.headers.get('to') as string;
  headers.add('to', status === 100 || !toTag || /;\s*tag=/i.test(to) ? to : `${to};tag=${toTag}`);
  headers.add('call-id', request.headers.get('call-id') as string);
  headers.add('cseq', request.headers.get('cseq') as string);
  headers.add('server', USER_AGENT);
  for (const [name, value] of extra) headers.add(name, value);
  if (body) headers.add('content-type', body.type);
  return {
    kind: 'response',
    status,
    reason: REASONS[status] ?? 'Unknown',
    headers,
    body: Buffer.from(body?.content ?? ''),
  };
}

/** Adds `received` when the source differs from the sent-by host, and fills an empty `rport`. */
function stampVia(via: string, flow: Flow): string {
  let out = via;
  const host = /^SIP\s*\/\s*2\.0\s*\/\s*\S+\s+\[?([^\]:;\s]+)/i.exec(via)?.[1];
  if (host !== flow.address && !/;\s*received=/i.test(out)) out += `;received=${flow.address}`;
  out = out.replace(/;\s*rport(?=;|$)/i, `;rport=${flow.port}`);
  return out;
}

/**
 * A 400 for bytes that did not parse, built from whatever header lines are there; undefined
 * when not even Via, From, To, Call-ID and CSeq can be found (then nothing can be answered).
 */
export function badRequestFor(raw: Buffer, reason: string): SipResponse | undefined {
  const head = raw.subarray(0, 16 * 1024).toString('latin1');
  if (/^SIP\/2\.0/.test(head)) return undefined; // never answer a response
  if (/^ACK\s/i.test(head)) return undefined; // nor an ACK (RFC 3261 §17.2.1)
  const find = (name: string, compact: string) =>
    new RegExp(`^(?:${name}|${compact})[ \\t]*:[ \\t]*(.+?)\\r?$`, 'im').exec(head)?.[1];
  const via = find('via', 'v');
  const from = find('from', 'f');
  const to = find('to', 't');
  const callId = find('call-id', 'i');
  const cseq = find('cseq', 'cseq');
  if (!via || !from || !to || !callId || !cseq) return undefined;
  // A response is routed by its top Via (§18.2.2) and matched by CSeq: if either does not parse,
  // the 400 would reach no one who could read it.
  try {
    parseVia(splitList(via)[0] ?? '');
    parseCSeq(cseq);
  } catch {
    return undefined;
  }
  const headers = Headers.from([
    ['via', via],
    ['from', from],
    ['to', to],
    ['call-id', callId],
    ['cseq', cseq],
    ['server', USER_AGENT],
    ['warning', `399 voxline "${reason.replace(/["\\\r\n]/g, "'").slice(0, 120)}"`],
  ]);
  return { kind: 'response', status: 400, reason: 'Bad Request', headers, body: Buffer.alloc(0) };
}

/** RFC 4028: keep the far end's session timer, refreshed by it. */
export function sessionTimer(request: SipRequest): [string, string][] {
  const expires = request.headers.get('session-expires');
  const supported = request.headers.all('supported').map((v) => v.toLowerCase());
  if (!expires || !supported.includes('timer')) return [];
  const seconds = /^\d+/.exec(expires)?.[0] ?? '1800';
  return [
    ['session-expires', `${seconds};refresher=uac`],
    ['require', 'timer'],
  ];
}
