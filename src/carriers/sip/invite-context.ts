import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../../clock.js';
import type { LogBudget } from '../../observability/log-budget.js';
import type { LegLabels } from '../carrier.js';
import type { EdgeContext } from '../edge-context.js';
import type { SourceAllowlist } from '../source-allowlist.js';
import type { DialogNetwork, SipCall } from './sip-call.js';
import type { SipOptions } from './sip-config.js';
import type { DigestAuth } from './sip-digest.js';
import type { SipMessage, SipRequest } from './sip-message.js';
import type { Flow } from './sip-transport.js';

/**
 * An INVITE server transaction, kept 32 s for retransmissions, CANCEL and the ACK to an error.
 * Built by the INVITE path, kept by the server; it changes only through its own methods.
 */
export class InviteTransaction {
  readonly key: string;
  readonly request: SipRequest;
  readonly flow: Flow;
  readonly toTag: string;
  #last: SipMessage | undefined;
  #final: number | undefined;
  #cancelled = false;
  #dialog: SipCall | undefined;

  constructor(key: string, request: SipRequest, flow: Flow, toTag: string) {
    this.key = key;
    this.request = request;
    this.flow = flow;
    this.toTag = toTag;
  }

  /** The last response sent (resent when the INVITE is retransmitted). */
  get last(): SipMessage | undefined {
    return this.#last;
  }

  /** Set once a final response went out. */
  get final(): number | undefined {
    return this.#final;
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** The dialog a 2xx created (it resends that 2xx itself). */
  get dialog(): SipCall | undefined {
    return this.#dialog;
  }

  /** A response with `status` went out on this transaction. */
  sent(response: SipMessage, status: number): void {
    this.#last = response;
    if (status >= 200) this.#final = status;
  }

  /** The 200 OK that made `dialog` went out. */
  answered(response: SipMessage, dialog: SipCall): void {
    this.sent(response, 200);
    this.#dialog = dialog;
  }

  cancel(): void {
    this.#cancelled = true;
  }
}

/**
 * What the INVITE path (invite-handler.ts and the modules it calls) needs from the SIP server:
 * the server implements it; each helper takes only the part it reads (the Pick types below).
 */
export interface SipEdge extends DialogNetwork {
  readonly edge: EdgeContext;
  readonly options: SipOptions;
  readonly log: FastifyBaseLogger;
  readonly allow: SourceAllowlist;
  readonly auth: DigestAuth | undefined;
  readonly logBudget: LogBudget;
  /** The address put in Contact and SDP. */
  readonly host: string;
  /** What SIP timers (ringing, retransmissions, lingering state) run on. */
  readonly clock: Clock;
  /** A final (non-2xx) or provisional response on an INVITE transaction. */
  respond(tx: InviteTransaction, status: number, extra?: [string, string][]): void;
  /** Counts a refusal (`voxline_ingress_refused_total{ingress="sip"}`). */
  refused(reason: string): void;
}

/** invite-checks.ts */
export type InviteCheckContext = Pick<SipEdge, 'auth' | 'options' | 'log' | 'logBudget'> & {
  readonly edge: Pick<EdgeContext, 'registry'>;
};

/** rtp-streams.ts */
export type RtpStreamContext = Pick<SipEdge, 'options' | 'allow' | 'refused'> & {
  readonly edge: Pick<EdgeContext, 'metrics'>;
};

/** reinvite.ts */
export type ReinviteContext = Pick<SipEdge, 'send' | 'host' | 'options'>;

/** sip-call-start.ts */
export interface SipCallStartContext {
  /** Labels of the caller's leg and of the far (agent) side. */
  readonly legs: LegLabels;
  readonly options: Pick<SipOptions, 'routes' | 'siprecCallerLabel'>;
  readonly log: FastifyBaseLogger;
}
