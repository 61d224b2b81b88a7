import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenLoopback } from '../doubles/loopback-server.js';
import {
  type StreamResult,
  signTelnyx,
  streamTelnyxCall,
  type TelnyxKeys,
} from '../doubles/telnyx-client.js';

/*
 * Telnyx Call Control for outbound calls, written from Telnyx's documentation:
 * - POST /v2/calls (developers.telnyx.com/api-reference/call-commands/dial): JSON, `Authorization:
 *   Bearer <API key>`; answered 200 {data: {call_control_id, call_leg_id, call_session_id,
 *   is_alive: false, record_type: "call"}}; errors {errors: [{code, title, detail}]} (422);
 * - POST /v2/calls/{call_control_id}/actions/hangup: answered {data: {result: "ok"}};
 * - webhooks to the dial's webhook_url: JSON {data: {record_type: "event", event_type, id,
 *   occurred_at, payload: {call_control_id, call_leg_id, call_session_id, client_state,
 *   connection_id, from, to, direction: "outgoing", …}}, meta}, signed with Ed25519 over
 *   `${telnyx-timestamp}|${body}` (telnyx-signature-ed25519): call.initiated, call.answered,
 *   call.machine.detection.ended (payload.result human | machine | not_sure), call.hangup
 *   (payload.hangup_cause: normal_clearing, user_busy, timeout, call_rejected, …);
 * - on answer the stream_url is opened as a media stream (the project's Telnyx client), with
 *   stream_track's tracks.
 */

export type TelnyxScript =
  | { readonly kind: 'answer'; readonly amd?: 'human' | 'machine' | 'not_sure'; readonly stream?: boolean }
  | { readonly kind: 'hangup'; readonly cause: string; readonly sip?: string }
  | { readonly kind: 'ring' }
  | { readonly kind: 'refuse'; readonly status: number; readonly code: string; readonly detail: string };

export interface DialedCall {
  readonly callControlId: string;
  // biome-ignore lint/suspicious/noExplicitAny: the dial body as sent; assertions check it.
  readonly body: any;
  readonly authorization: string | undefined;
  readonly done: Promise<{ stream?: StreamResult; webhooks: number[]; error?: string }>;
}

export interface TelnyxCallsDoubleOptions {
  readonly apiKey: string;
  readonly keys: TelnyxKeys;
  /** PCMU audio of the callee (inbound track) and of what the call plays (outbound). */
  readonly callee: Uint8Array;
  readonly played: Uint8Array;
}

export class TelnyxCallsDouble {
  readonly calls: DialedCall[] = [];
  script: () => TelnyxScript = () => ({ kind: 'answer' });
  url = '';
  readonly #o: TelnyxCallsDoubleOptions;
  readonly #http: Server;
  readonly #hangups = new Map<string, () => void>();

  constructor(options: TelnyxCallsDoubleOptions) {
    this.#o = options;
    this.#http = createServer((req, res) => {
      this.#serve(req, res).catch((err: unknown) => res.writeHead(500).end(String(err)));
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
    const hangup = /^\/v2\/calls\/([^/]+)\/actions\/hangup$/.exec(path);
    if (req.method !== 'POST' || (path !== '/v2/calls' && !hangup)) {
      return json(res, 404, { errors: [{ code: '10005', title: 'Resource not found' }] });
    }
    if (req.headers.authorization !== `Bearer ${this.#o.apiKey}`) {
      return json(res, 401, { errors: [{ code: '10009', title: 'Authentication failed' }] });
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
    if (hangup) {
      const end = this.#hangups.get(decodeURIComponent(hangup[1] as string));
      if (!end) return json(res, 422, { errors: [{ code: '90018', title: 'Call has already ended' }] });
      json(res, 200, { data: { result: 'ok' } });
      end();
      return;
    }
    const script = this.script();
    if (script.kind === 'refuse') {
      return json(res, script.status, {
        errors: [{ code: script.code, title: 'Invalid value', detail: script.detail }],
      });
    }
    const callControlId = `v3:${randomBytes(16).toString('base64url')}`;
    let finish: (r: { stream?: StreamResult; webhooks: number[]; error?: string }) => void = () => undefined;
    const done = new Promise<{ stream?: StreamResult; webhooks: number[]; error?: string }>((r) => {
      finish = r;
    });
    const call: DialedCall = { callControlId, body, authorization: req.headers.authorization, done };
    this.calls.push(call);
    json(res, 200, {
      data: {
        call_control_id: callControlId,
        call_leg_id: randomUUID(),
        call_session_id: randomUUID(),
        is_alive: false,
        record_type: 'call',
      },
    });
    setImmediate(() => {
      this.#play(call, script).then(finish, (err: unknown) => finish({ webhooks: [], error: String(err) }));
    });
  }

  async #play(call: DialedCall, script: Exclude<TelnyxScript, { kind: 'refuse' }>) {
    const webhooks: number[] = [];
    const send = async (type: string, extra: Record<string, unknown> = {}) => {
      webhooks.push(await this.#webhook(call, type, extra));
    };
    await send('call.initiated', { state: 'bridging' });
    if (script.kind === 'ring') {
      await new Promise<void>((resolve) => this.#hangups.set(call.callControlId, resolve));
      this.#hangups.delete(call.callControlId);
      await send('call.hangup', { hangup_cause: 'normal_clearing', hangup_source: 'caller' });
      return { webhooks };
    }
    if (script.kind === 'hangup') {
      await send('call.hangup', {
        hangup_cause: script.cause,
        hangup_source: 'callee',
        ...(script.sip ? { sip_hangup_cause: script.sip } : {}),
      });
      return { webhooks };
    }
    await send('call.answered', { state: 'answered' });
    if (call.body.answering_machine_detection === 'detect') {
      await send('call.machine.detection.ended', { result: script.amd ?? 'human' });
    }
    let stream: StreamResult | undefined;
    if (script.stream !== false) {
      const both = call.body.stream_track === 'both_tracks';
      stream = await streamTelnyxCall({
        url: call.body.stream_url,
        callControlId: call.callControlId,
        tracks: both ? { inbound: this.#o.callee, outbound: this.#o.played } : { inbound: this.#o.callee },
      });
    }
    await send('call.hangup', { hangup_cause: 'normal_clearing', hangup_source: 'callee' });
    return { stream, webhooks };
  }

  /** One signed webhook; resolves with voxline's status code. */
  async #webhook(call: DialedCall, type: string, extra: Record<string, unknown>): Promise<number> {
    const body = JSON.stringify({
      data: {
        record_type: 'event',
        event_type: type,
        id: randomUUID(),
        occurred_at: new Date().toISOString(),
        payload: {
          call_control_id: call.callControlId,
          call_leg_id: randomUUID(),
          call_session_id: randomUUID(),
          client_state: call.body.client_state ?? null,
          connection_id: call.body.connection_id,
          from: call.body.from,
          to: call.body.to,
          direction: 'outgoing',
          ...extra,
        },
      },
      meta: { attempt: 1, delivered_to: call.body.webhook_url },
    });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const response = await fetch(call.body.webhook_url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'telnyx-timestamp': timestamp,
        'telnyx-signature-ed25519': signTelnyx(this.#o.keys.privateKey, timestamp, body),
      },
      body,
    });
    await response.arrayBuffer();
    return response.status;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
