import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type SimulatedCallResult, simulateTwilioCall } from '../../src/simulator/twilio-call-simulator.js';
import { listenLoopback } from '../doubles/loopback-server.js';

/*
 * Twilio's Calls resource and what Twilio does after it, written from Twilio's documentation:
 * - POST /2010-04-01/Accounts/{AccountSid}/Calls.json, form-encoded, HTTP basic auth (account SID,
 *   auth token), answered 201 with the Call resource as JSON (snake_case: sid, account_sid, to,
 *   from, status "queued", direction "outbound-api", …); errors as {code, message, more_info,
 *   status} (twilio.com/docs/voice/api/call-resource#create-a-call-resource);
 * - POST …/Calls/{CallSid}.json Status=canceled ends a queued or ringing call;
 * - status callbacks: form POSTs to StatusCallback for each StatusCallbackEvent (initiated,
 *   ringing, answered as CallStatus in-progress, completed; or busy, no-answer, failed, canceled),
 *   with AnsweredBy when MachineDetection is on, signed in X-Twilio-Signature: HMAC-SHA1 of the
 *   URL followed by each parameter's name and value in name order, base64
 *   (twilio.com/docs/usage/security#validating-requests);
 * - on answer, the TwiML runs: <Stream url> opens a Media Streams WebSocket carrying each
 *   <Parameter> in start.customParameters (played by the project's Twilio simulator).
 */

export type CallScript =
  /** Answered: callbacks, then the media stream (unless `stream` is false), then completed. */
  | { readonly kind: 'answer'; readonly answeredBy?: string; readonly stream?: boolean }
  /** Rings, then ends unanswered. */
  | { readonly kind: 'end'; readonly status: 'busy' | 'no-answer' | 'failed' }
  /** Rings until cancelled. */
  | { readonly kind: 'ring' }
  /** The create request is refused. */
  | { readonly kind: 'refuse'; readonly status: number; readonly code: number; readonly message: string };

export interface CreatedCall {
  readonly sid: string;
  readonly params: URLSearchParams;
  readonly user: string;
  readonly password: string;
  /** The TwiML's <Stream url> and <Parameter>s. */
  readonly streamUrl: string | undefined;
  readonly parameters: Readonly<Record<string, string>>;
  /** Resolves once Twilio's part of the call is over (last callback posted, stream closed). */
  readonly done: Promise<{ stream?: SimulatedCallResult; callbacks: number[]; error?: string }>;
}

export interface TwilioCallsDoubleOptions {
  readonly accountSid: string;
  readonly authToken: string;
  /** μ-law 8 kHz audio of the callee (inbound track) and of what the call plays (outbound). */
  readonly callee: Uint8Array;
  readonly played: Uint8Array;
}

export class TwilioCallsDouble {
  readonly calls: CreatedCall[] = [];
  script: (params: URLSearchParams) => CallScript = () => ({ kind: 'answer' });
  url = '';
  readonly #o: TwilioCallsDoubleOptions;
  readonly #http: Server;
  readonly #cancels = new Map<string, () => void>();

  constructor(options: TwilioCallsDoubleOptions) {
    this.#o = options;
    this.#http = createServer((req, res) => {
      this.#serve(req, res).catch((err: unknown) => {
        res.writeHead(500).end(String(err));
      });
    });
  }

  async listen(): Promise<string> {
    this.url = await listenLoopback(this.#http);
    return this.url;
  }

  async close(): Promise<void> {
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '';
    const create = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Calls\.json$/.exec(path);
    const update = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Calls\/(CA[0-9a-f]{32})\.json$/.exec(path);
    const [user = '', password = ''] = Buffer.from(
      (req.headers.authorization ?? '').replace(/^Basic /, ''),
      'base64',
    )
      .toString()
      .split(':');
    if (req.method !== 'POST' || (!create && !update)) return json(res, 404, error(20404, 'not found', 404));
    if (user !== this.#o.accountSid || password !== this.#o.authToken) {
      return json(res, 401, error(20003, 'Authenticate', 401));
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const params = new URLSearchParams(Buffer.concat(chunks).toString());
    if (update) {
      const cancel = this.#cancels.get(update[2] as string);
      if (params.get('Status') !== 'canceled' || !cancel) {
        return json(res, 400, error(21220, 'Call is not in a cancelable state', 400));
      }
      json(res, 200, { sid: update[2], status: 'canceled' });
      cancel();
      return;
    }
    const script = this.script(params);
    if (script.kind === 'refuse')
      return json(res, script.status, error(script.code, script.message, script.status));
    const sid = `CA${randomBytes(16).toString('hex')}`;
    const twiml = params.get('Twiml') ?? '';
    const stream = /<Stream\s([^>]*?)\/?>/.exec(twiml);
    const parameters: Record<string, string> = {};
    for (const m of twiml.matchAll(/<Parameter\s([^>]*?)\/>/g)) {
      const { name, value } = attributes(m[1] ?? '');
      if (name !== undefined && value !== undefined) parameters[name] = value;
    }
    let finish: (r: { stream?: SimulatedCallResult; callbacks: number[]; error?: string }) => void = () =>
      undefined;
    const done = new Promise<{ stream?: SimulatedCallResult; callbacks: number[]; error?: string }>((r) => {
      finish = r;
    });
    const call: CreatedCall = {
      sid,
      params,
      user,
      password,
      streamUrl: stream ? attributes(stream[1] ?? '').url : undefined,
      parameters,
      done,
    };
    this.calls.push(call);
    json(res, 201, {
      sid,
      account_sid: this.#o.accountSid,
      to: params.get('To'),
      from: params.get('From'),
      status: 'queued',
      direction: 'outbound-api',
      api_version: '2010-04-01',
      date_created: new Date().toUTCString(),
      uri: `/2010-04-01/Accounts/${this.#o.accountSid}/Calls/${sid}.json`,
    });
    // Twilio goes on with the call after answering the request.
    setImmediate(() => {
      this.#play(call, script).then(finish, (err: unknown) => finish({ callbacks: [], error: String(err) }));
    });
  }

  async #play(call: CreatedCall, script: Exclude<CallScript, { kind: 'refuse' }>) {
    const callbacks: number[] = [];
    const post = async (status: string, extra: Record<string, string> = {}) => {
      const event = status === 'in-progress' ? 'answered' : status;
      const asked = call.params.getAll('StatusCallbackEvent');
      const terminal = !['initiated', 'ringing', 'in-progress'].includes(status);
      if (!asked.includes(event) && !terminal) return;
      callbacks.push(await this.#callback(call, status, extra));
    };
    await post('initiated');
    await post('ringing');
    if (script.kind === 'ring') {
      await new Promise<void>((resolve) => this.#cancels.set(call.sid, resolve));
      this.#cancels.delete(call.sid);
      await post('canceled');
      return { callbacks };
    }
    if (script.kind === 'end') {
      await post(script.status);
      return { callbacks };
    }
    const amd = call.params.get('MachineDetection') === 'Enable';
    await post('in-progress', amd ? { AnsweredBy: script.answeredBy ?? 'human' } : {});
    let stream: SimulatedCallResult | undefined;
    if (script.stream !== false && call.streamUrl) {
      stream = await simulateTwilioCall({
        url: call.streamUrl,
        authToken: this.#o.authToken,
        callSid: call.sid,
        accountSid: this.#o.accountSid,
        customParameters: call.parameters,
        caller: this.#o.callee,
        agent: this.#o.played,
        pace: 'fast',
      });
    }
    await post('completed', { CallDuration: '5' });
    return { stream, callbacks };
  }

  /** One signed status callback; resolves with voxline's status code. */
  async #callback(call: CreatedCall, status: string, extra: Record<string, string>): Promise<number> {
    const url = call.params.get('StatusCallback') ?? '';
    const fields: Record<string, string> = {
      AccountSid: this.#o.accountSid,
      ApiVersion: '2010-04-01',
      CallSid: call.sid,
      CallStatus: status,
      CallbackSource: 'call-progress-events',
      Direction: 'outbound-api',
      From: call.params.get('From') ?? '',
      To: call.params.get('To') ?? '',
      Timestamp: new Date().toUTCString(),
      ...extra,
    };
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': signTwilio(this.#o.authToken, url, fields),
      },
      body: new URLSearchParams(fields).toString(),
    });
    await response.arrayBuffer();
    return response.status;
  }
}

/** X-Twilio-Signature, from Twilio's docs (not from any library). */
export function signTwilio(authToken: string, url: string, fields: Readonly<Record<string, string>>): string {
  const data = Object.keys(fields)
    .sort()
    .reduce((acc, name) => acc + name + fields[name], url);
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

function error(code: number, message: string, status: number) {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** XML attributes, entities decoded. */
function attributes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [, name, value] of text.matchAll(/([A-Za-z]+)="([^"]*)"/g)) {
    out[name as string] = (value as string)
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&#(\d+);/g, (_m, code) => String.fromCharCode(Number(code)))
      .replace(/&amp;/g, '&');
  }
  return out;
}
