import type { Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import { type Clock, systemClock } from '../../clock.js';
import { LogBudget } from '../../observability/log-budget.js';
import type { EdgeContext } from '../edge-context.js';
import { SourceAllowlist } from '../source-allowlist.js';
import type { InviteTransaction, SipEdge } from './invite-context.js';
import { InviteHandler } from './invite-handler.js';
import type { SipCall } from './sip-call.js';
import type { SipOptions } from './sip-config.js';
import { DigestAuth } from './sip-digest.js';
import { hostPort } from './sip-ids.js';
import {
  parseCSeq,
  type SipMessage,
  type SipParseError,
  type SipRequest,
  type SipResponse,
} from './sip-message.js';
import { ALLOW, badRequestFor, responseTo } from './sip-responses.js';
import { InviteTransactions, SipDialogs } from './sip-tables.js';
import { type Flow, SipTransport } from './sip-transport.js';

const LOUD_WARNINGS = 20;

/** voxline's user-agent client (uac/sip-uac.ts): the answers to the INVITEs and CANCELs it sends. */
export interface SipClientCore {
  /** True when the response belongs to one of its transactions (the server then ignores it). */
  response(response: SipResponse, flow: Flow): boolean;
  /** Ends what it has in progress (the server is closing). */
  close(): void;
  /** True while an attempt of its waits for answers on this TCP connection (it is not idle then). */
  usesConnection(connection: Socket): boolean;
}

/**
 * voxline's SIP user-agent server (RFC 3261), over UDP and TCP: answers INVITEs (plain calls and
 * SIPREC recording sessions), ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE and NOTIFY (of its REFERs), with transactions
 * matched by the top Via branch and dialogs by Call-ID and tags. The INVITE work itself (checks,
 * SDP, RTP, opening the call) is in invite-handler.ts.
 */
export class SipServer implements SipEdge {
  readonly edge: EdgeContext;
  readonly options: SipOptions;
  readonly log: FastifyBaseLogger;
  readonly allow: SourceAllowlist;
  readonly auth: DigestAuth | undefined;
  readonly clock: Clock;
  readonly #transport: SipTransport;
  readonly #transactions: InviteTransactions;
  readonly #dialogs: SipDialogs;
  readonly #invites: InviteHandler;
  #client: SipClientCore | undefined;
  #port = 0;
  #host = '';
  /** Lines about what peers send wrong: a few warnings a minute per kind, the rest at debug. */
  readonly logBudget = new LogBudget(LOUD_WARNINGS, 60_000);

  /** `clock`: what SIP timers run on (the system clock unless a test drives time itself). */
  constructor(ctx: EdgeContext, options: SipOptions, clock: Clock = systemClock) {
    this.edge = ctx;
    this.clock = clock;
    this.options = options;
    this.log = ctx.log.child({ ingress: 'sip' });
    this.allow = new SourceAllowlist(options.allow);
    this.auth = options.auth ? new DigestAuth(options.auth.user, options.auth.password) : undefined;
    this.#transactions = new InviteTransactions(clock);
    this.#dialogs = new SipDialogs(clock);
    this.#transport = new SipTransport(
      {
        message: (m, f) => this.#message(m, f),
        malformed: (e, raw, f) => this.#malformed_(e, raw, f),
        failed: (err, m, f) => this.#failed(err, m, f),
        refused: (reason, f) => this.#connectionRefused(reason, f),
        inUse: (connection) => this.#inUse(connection),
        admits: (address) => this.allow.allows(address),
      },
      options.bind.includes(':'),
      options.tcp,
      clock,
    );
    this.#invites = new InviteHandler(this);
  }

  async listen(): Promise<number> {
    this.#port = await this.#transport.listen(this.options.port, this.options.bind);
    this.#host = this.options.publicHost ?? advertisedHost(this.options.bind);
    this.log.info({ port: this.#port, host: this.#host }, 'SIP listening (UDP and TCP)');
    return this.#port;
  }

  /** After the registry's drain: ends what is left and stops listening. */
  async close(): Promise<void> {
    this.#client?.close();
    for (const dialog of this.#dialogs.values()) dialog.close(1001, 'shutdown');
    this.#transactions.clear();
    await this.#transport.close();
  }

  /** Outbound calls (uac/): responses to its requests go to `client`. */
  attachClient(client: SipClientCore): void {
    this.#client = client;
  }

  /** A dialog voxline placed, answered: in-dialog requests (BYE, re-INVITE) now find it. */
  keepDialog(dialog: SipCall): void {
    this.#dialogs.keep(dialog);
  }

  get port(): number {
    return this.#port;
  }

  get host(): string {
    return this.#host;
  }

  contact(transport: 'UDP' | 'TCP'): string {
    return `sip:voxline@${hostPort(this.#host, this.#port)}${transport === 'TCP' ? ';transport=tcp' : ''}`;
  }

  viaHost(): string {
    return hostPort(this.#host, this.#port);
  }

  send(message: SipMessage, flow: Flow): void {
    this.#transport.send(message, flow);
  }

  /** A TCP connection to a peer, read like the ones peers open (outbound calls to a TCP trunk). */
  connect(address: string, port: number, timeoutMs: number): Promise<Flow> {
    return this.#transport.connect(address, port, timeoutMs);
  }

  /** A final (non-2xx) or provisional response on an INVITE transaction. */
  respond(tx: InviteTransaction, status: number, extra: [string, string][] = []): void {
    const response = responseTo(tx.request, status, tx.flow, status === 100 ? undefined : tx.toTag, extra);
    tx.sent(response, status);
    this.send(response, tx.flow);
    if (status >= 300) this.#lingerAfterError(tx);
  }

  /** INVITE transactions kept now (answering, or lingering for retransmissions). */
  get transactionCount(): number {
    return this.#transactions.size;
  }

  /** Dialogs kept now (live calls, and ended ones lingering). */
  get dialogCount(): number {
    return this.#dialogs.size;
  }

  refused(reason: string): void {
    this.edge.metrics.ingress.refused.inc({ ingress: 'sip', reason });
  }

  /** A new INVITE: the handler builds its transaction (kept here) and, once answered, its dialog. */
  #invite(request: SipRequest, flow: Flow): void {
    if (/;\s*tag=/i.test(request.headers.get('to') ?? '')) {
      const dialog = this.#dialogOf(request);
      if (!dialog || dialog.state === 'terminated')
        this.send(responseTo(request, 481, flow, undefined), flow);
      else this.#invites.reinvite(dialog, request, flow);
      return;
    }
    const key = InviteTransactions.keyOf(request);
    const known = this.#transactions.get(key);
    if (known) {
      // A retransmission: answer it the same way again.
      if (!known.dialog?.resend2xx() && known.last) this.send(known.last, known.flow);
      return;
    }
    if (this.#transactions.size >= this.transactionLimit) {
      // A flood of INVITEs with fresh branches: answered without keeping any state.
      this.refused('too_many_transactions');
      this.send(responseTo(request, 503, flow, undefined, [['retry-after', '5']]), flow);
      return;
    }
    const { tx, answered } = this.#invites.invite(key, request, flow);
    this.#transactions.add(tx);
    void answered.then((dialog) => {
      if (dialog) {
        this.#dialogs.keep(dialog);
        this.#transactions.linger(tx);
      }
    });
  }

  /** Transactions kept at once (each holds its request for 32 s): beyond, INVITEs get a stateless 503. */
  get transactionLimit(): number {
    return 2 * this.options.maxCalls + 100;
  }

  /**
   * The dialog a request belongs to. The table is keyed by Call-ID and our tag, which every fork
   * of an INVITE voxline placed shares: for those the far end's tag must match too (§12.2.2).
   */
  #dialogOf(request: SipRequest): SipCall | undefined {
    const dialog = this.#dialogs.ofRequest(request);
    if (dialog?.initiator !== 'voxline') return dialog;
    const fromTag = /;\s*tag=([^;\s]+)/i.exec(request.headers.get('from') ?? '')?.[1];
    return fromTag === dialog.remoteTag ? dialog : undefined;
  }

  #lingerAfterError(tx: InviteTransaction): void {
    // Non-2xx finals are resent over UDP until their ACK (§17.2.1, timer G), then forgotten. Not
    // when anyone may send (SIP_ALLOW empty): resending to an unproven source would make voxline
    // a reflector; a caller that missed the answer retransmits its INVITE and gets it again.
    if (tx.flow.transport === 'UDP' && !this.allow.open) {
      this.#transactions.resendUntilAcked(tx, (message, flow) => this.send(message, flow));
    }
    this.#transactions.linger(tx);
  }

  #message(message: SipMessage, flow: Flow): void {
    if (message.kind === 'response') {
      this.#response(message, flow);
      return;
    }
    // A request in a dialog voxline placed comes from the trunk it chose to call, listed or not.
    const placed = this.#dialogOf(message)?.initiator === 'voxline';
    if (message.method !== 'ACK' && !placed && !this.allow.allows(flow.address)) {
      this.refused('source_not_allowed');
      this.log[this.logBudget.level('source_not_allowed')](
        { from: flow.address, method: message.method },
        'SIP request from a source not in SIP_ALLOW: 403',
      );
      this.send(
        responseTo(message, 403, flow, undefined, [['warning', '399 voxline "source not allowed"']]),
        flow,
      );
      return;
    }
    switch (message.method) {
      case 'INVITE':
        this.#invite(message, flow);
        return;
      case 'ACK':
        this.#ack(message);
        return;
      case 'CANCEL':
        this.#cancel(message, flow);
        return;
      case 'BYE':
        this.#bye(message, flow);
        return;
      case 'OPTIONS':
        this.send(
          responseTo(message, 200, flow, undefined, [
            ['allow', ALLOW],
            ['accept', 'application/sdp, application/rs-metadata+xml, application/rs-metadata'],
            ['supported', 'siprec, timer'],
          ]),
          flow,
        );
        return;
      case 'INFO':
      case 'UPDATE':
      case 'NOTIFY':
        this.#inDialog(message, flow);
        return;
      default:
        this.send(responseTo(message, 405, flow, undefined, [['allow', ALLOW]]), flow);
    }
  }

  #ack(request: SipRequest): void {
    const dialog = this.#dialogOf(request);
    if (dialog) {
      dialog.acknowledged();
      return;
    }
    this.#transactions.acked(InviteTransactions.keyOf(request));
  }

  #cancel(request: SipRequest, flow: Flow): void {
    const tx = this.#transactions.get(InviteTransactions.keyOf(request));
    if (!tx) {
      this.send(responseTo(request, 481, flow, undefined), flow);
      return;
    }
    this.send(responseTo(request, 200, flow, tx.toTag), flow);
    if (tx.final !== undefined) return; // too late: the INVITE already has its final answer
    tx.cancel();
    this.respond(tx, 487);
    this.#invites.cancelled(tx);
  }

  #bye(request: SipRequest, flow: Flow): void {
    const dialog = this.#dialogOf(request);
    if (!dialog) {
      this.send(responseTo(request, 481, flow, undefined), flow);
      return;
    }
    this.send(responseTo(request, 200, flow, undefined), flow);
    this.#invites.ended(dialog, 'bye');
  }

  #inDialog(request: SipRequest, flow: Flow): void {
    const dialog = this.#dialogOf(request);
    if (!dialog) {
      this.send(responseTo(request, 481, flow, undefined), flow);
      return;
    }
    if (request.method === 'INFO') this.#invites.info(dialog, request);
    // UPDATE without a body is a session refresh (RFC 4028); with SDP it is not supported here.
    // NOTIFY reports how a REFER voxline sent is going (RFC 3515).
    const status =
      request.method === 'NOTIFY'
        ? dialog.notified(request)
        : request.method === 'UPDATE' && request.body.length > 0
          ? 488
          : 200;
    this.send(responseTo(request, status, flow, undefined), flow);
  }

  #response(response: SipResponse, flow: Flow): void {
    if (this.#client?.response(response, flow)) return;
    // Otherwise only the BYEs and REFERs voxline sends in its dialogs expect answers.
    const cseq = parseCSeq(response.headers.get('cseq') as string);
    if (cseq.method === 'BYE') this.#dialogs.ofResponse(response)?.byeAnswered();
    else if (cseq.method === 'REFER') this.#dialogs.ofResponse(response)?.referAnswered(response);
  }

  #malformed_(error: SipParseError, raw: Buffer, flow: Flow): void {
    this.edge.metrics.malformedMessages.inc({ reason: 'sip_malformed' });
    this.log[this.logBudget.level('malformed')](
      { from: `${flow.address}:${flow.port}`, transport: flow.transport, reason: error.message },
      'malformed SIP message',
    );
    // Only an allowed source is told why: a 400 to anyone else would make voxline a reflector.
    const reply = this.allow.allows(flow.address) ? badRequestFor(raw, error.message) : undefined;
    if (reply) this.send(reply, flow);
  }

  /** A handler threw on a message that parsed: that message gets a 500 (if it can), nothing else changes. */
  #failed(err: unknown, message: SipMessage | undefined, flow: Flow): void {
    this.edge.metrics.ingress.failures.inc({ ingress: 'sip' });
    const callId = message?.headers.get('call-id');
    const method = message?.kind === 'request' ? message.method : undefined;
    this.log.error(
      { err, callId, method, from: `${flow.address}:${flow.port}`, transport: flow.transport },
      'SIP message handling failed: message refused, the server goes on',
    );
    if (message?.kind === 'request' && message.method !== 'ACK' && this.allow.allows(flow.address))
      this.send(responseTo(message, 500, flow, undefined), flow);
  }

  #connectionRefused(reason: string, flow: Flow): void {
    this.refused(reason);
    this.log.debug({ reason, from: `${flow.address}:${flow.port}` }, 'SIP TCP connection closed');
  }

  /** A dialog or an INVITE still being answered sends on this connection. */
  #inUse(connection: Socket): boolean {
    return (
      this.#dialogs.liveOn(connection) ||
      this.#transactions.answeringOn(connection) ||
      this.#client?.usesConnection(connection) === true
    );
  }
}

/** The address to advertise when bound to a wildcard: the first external IPv4 (else loopback). */
function advertisedHost(bind: string): string {
  if (bind !== '0.0.0.0' && bind !== '::') return bind;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
