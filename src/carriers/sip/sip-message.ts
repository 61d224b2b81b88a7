/**
 * SIP messages (RFC 3261 §7): parse from bytes, build, serialize. Pure: no I/O. Header names are
 * kept lower-case and long-form (compact forms such as `v`, `i`, `f` are expanded); values keep
 * their order, one entry per comma-separated value only where the grammar allows it (Via, Route,
 * Record-Route, Contact... are split by the reader that needs them).
 */

export class SipParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SipParseError';
  }
}

export interface SipRequest {
  readonly kind: 'request';
  readonly method: string;
  readonly uri: string;
  readonly headers: Headers;
  readonly body: Buffer;
}

export interface SipResponse {
  readonly kind: 'response';
  readonly status: number;
  readonly reason: string;
  readonly headers: Headers;
  readonly body: Buffer;
}

export type SipMessage = SipRequest | SipResponse;

const COMPACT: Record<string, string> = {
  i: 'call-id',
  m: 'contact',
  e: 'content-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
  r: 'refer-to',
  o: 'event',
  u: 'allow-events',
  x: 'session-expires',
};

/** Ordered, case-insensitive, multi-valued headers. */
export class Headers {
  readonly #entries: [string, string][] = [];

  static from(entries: readonly (readonly [string, string])[]): Headers {
    const h = new Headers();
    for (const [name, value] of entries) h.add(name, value);
    return h;
  }

  add(name: string, value: string): this {
    const lower = name.toLowerCase();
    this.#entries.push([COMPACT[lower] ?? lower, value]);
    return this;
  }

  set(name: string, value: string): this {
    this.delete(name);
    return this.add(name, value);
  }

  delete(name: string): void {
    const lower = name.toLowerCase();
    for (let i = this.#entries.length - 1; i >= 0; i--)
      if (this.#entries[i][0] === lower) this.#entries.splice(i, 1);
  }

  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    return this.#entries.find(([n]) => n === lower)?.[1];
  }

  /** Every value of a header, header lines and comma-separated values both split. */
  all(name: string): string[] {
    const lower = name.toLowerCase();
    return this.#entries.filter(([n]) => n === lower).flatMap(([, v]) => splitList(v));
  }

  /** The header lines as they came, unsplit. */
  lines(name: string): string[] {
    const lower = name.toLowerCase();
    return this.#entries.filter(([n]) => n === lower).map(([, v]) => v);
  }

  entries(): readonly (readonly [string, string])[] {
    return this.#entries;
  }
}

/** Splits on commas outside quotes and angle brackets. */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '"' && value[i - 1] !== '\\') quoted = !quoted;
    else if (!quoted && c === '<') depth++;
    else if (!quoted && c === '>') depth--;
    else if (!quoted && depth === 0 && c === ',') {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(value.slice(start).trim());
  return out.filter((v) => v !== '');
}

const CRLF2 = Buffer.from('\r\n\r\n');
const LF2 = Buffer.from('\n\n');
const MAX_HEADER_BYTES = 16 * 1024;

/** Where the header block ends (index of the first body byte), or -1 if not complete. */
export function headerEnd(data: Buffer): number {
  const crlf = data.indexOf(CRLF2);
  if (crlf >= 0) return crlf + 4;
  const lf = data.indexOf(LF2);
  return lf >= 0 ? lf + 2 : -1;
}

/**
 * Parses one whole message. Over UDP the datagram is the message; `Content-Length` (when
 * present) trims the body, and a body shorter than it is an error (RFC 3261 §18.3).
 */
export function parseSipMessage(data: Buffer): SipMessage {
  const end = headerEnd(data);
  if (end < 0) throw new SipParseError('no blank line after the headers');
  if (end > MAX_HEADER_BYTES) throw new SipParseError(`header block over ${MAX_HEADER_BYTES} bytes`);
  const head = data.subarray(0, end).toString('utf8');
  // Unfold continuation lines (RFC 3261 §7.3.1), then split.
  const lines = head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
  const startLine = lines.shift() ?? '';
  const headers = new Headers();
  for (const line of lines) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0)
      throw new SipParseError(`header line without a name: ${JSON.stringify(line.slice(0, 60))}`);
    const name = line.slice(0, colon).trim();
    if (!/^[A-Za-z0-9!%*_+`'~.-]+$/.test(name))
      throw new SipParseError(`bad header name ${JSON.stringify(name)}`);
    headers.add(name, line.slice(colon + 1).trim());
  }
  let body = data.subarray(end);
  const length = headers.get('content-length');
  if (length !== undefined) {
    if (!/^\d+$/.test(length)) throw new SipParseError(`bad Content-Length ${JSON.stringify(length)}`);
    const n = Number(length);
    if (n > body.length) throw new SipParseError(`body shorter than Content-Length ${n}`);
    body = body.subarray(0, n);
  }
  for (const name of ['via', 'from', 'to', 'call-id', 'cseq']) {
    if (headers.get(name) === undefined) throw new SipParseError(`missing ${name} header`);
  }
  // What transactions and dialogs are keyed on is checked here, at the boundary, so no handler
  // meets an unparseable top Via or CSeq later (they once escaped as uncaught errors).
  const cseq = parseCSeq(headers.get('cseq') as string);
  parseVia(headers.all('via')[0] ?? '');
  const response = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(startLine);
  if (response) {
    return { kind: 'response', status: Number(response[1]), reason: response[2], headers, body };
  }
  const request = /^([A-Za-z]+) (\S+) SIP\/2\.0$/.exec(startLine);
  if (!request) throw new SipParseError(`bad start line ${JSON.stringify(startLine.slice(0, 80))}`);
  if (cseq.method !== request[1]) throw new SipParseError(`CSeq method ${cseq.method} ≠ ${request[1]}`);
  return { kind: 'request', method: request[1], uri: request[2], headers, body };
}

export function serialize(message: SipMessage): Buffer {
  const start =
    message.kind === 'request'
      ? `${message.method} ${message.uri} SIP/2.0`
      : `SIP/2.0 ${message.status} ${message.reason}`;
  const lines = [start];
  for (const [name, value] of message.headers.entries()) {
    if (name !== 'content-length') lines.push(`${canonicalName(name)}: ${value}`);
  }
  lines.push(`Content-Length: ${message.body.length}`, '', '');
  return Buffer.concat([Buffer.from(lines.join('\r\n')), message.body]);
}

const CANONICAL: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'record-route': 'Record-Route',
  'content-type': 'Content-Type',
  'content-disposition': 'Content-Disposition',
  'session-expires': 'Session-Expires',
};

function canonicalName(name: string): string {
  return (
    CANONICAL[name] ?? name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase())
  );
}

export interface CSeq {
  readonly seq: number;
  readonly method: string;
}

export function parseCSeq(value: string): CSeq {
  const m = /^(\d{1,10})\s+([A-Za-z]+)$/.exec(value.trim());
  if (!m) throw new SipParseError(`bad CSeq ${JSON.stringify(value)}`);
  return { seq: Number(m[1]), method: m[2] };
}

/** `;name=value` parameters of a header value (after the URI part for name-addr forms). */
export function headerParams(value: string): Map<string, string> {
  const afterUri = value.includes('>')
    ? value.slice(value.lastIndexOf('>') + 1)
    : value.slice(value.indexOf(';'));
  const params = new Map<string, string>();
  for (const part of afterUri.split(';').slice(1)) {
    const [name, ...rest] = part.split('=');
    if (name.trim()) params.set(name.trim().toLowerCase(), rest.join('=').trim());
  }
  return params;
}

/** The URI inside a name-addr (`"Bob" <sip:bob@host>;tag=1`) or addr-spec. */
export function addressUri(value: string): string {
  const lt = value.indexOf('<');
  if (lt >= 0) return value.slice(lt + 1, value.indexOf('>', lt));
  return value.split(';')[0].trim();
}

/** The display name of a name-addr, unquoted, if any. */
export function displayName(value: string): string | undefined {
  const lt = value.indexOf('<');
  if (lt <= 0) return undefined;
  const name = value
    .slice(0, lt)
    .trim()
    .replace(/^"(.*)"$/, '$1');
  return name || undefined;
}

/** The user part of a SIP URI (`sip:+15551230000@host` → `+15551230000`); a bad %-escape is kept as written. */
export function uriUser(uri: string): string {
  const m = /^sips?:([^@;>]+)@/i.exec(uri);
  if (!m) return '';
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return m[1];
  }
}

export interface Via {
  readonly transport: string;
  readonly host: string;
  readonly port: number | undefined;
  readonly params: Map<string, string>;
}

export function parseVia(value: string): Via {
  const m = /^SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z]+)\s+([^;\s]+)(.*)$/i.exec(value.trim());
  if (!m) throw new SipParseError(`bad Via ${JSON.stringify(value.slice(0, 80))}`);
  const hostPort = m[2];
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPort);
  const [host, port] = v6 ? [v6[1], v6[2]] : hostPort.split(':');
  const params = new Map<string, string>();
  for (const part of m[3].split(';').slice(1)) {
    const [name, ...rest] = part.split('=');
    if (name.trim()) params.set(name.trim().toLowerCase(), rest.join('=').trim());
  }
  return { transport: m[1].toUpperCase(), host, port: port ? Number(port) : undefined, params };
}
