import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Dialer, DialRequest, DialUpdate, PlacedCall } from '../../../calls/outbound/dialer.js';
import { VoxlineError } from '../../../errors.js';
import { NoRtpPortError, RtpSession } from '../rtp-session.js';
import { parseCSeq, parseVia, type SipResponse } from '../sip-message.js';
import type { SipServer } from '../sip-server.js';
import type { Flow } from '../sip-transport.js';
import { type AttemptContext, type AttemptTarget, DialAttempt } from './dial-attempt.js';
import type { InviteClient } from './invite-client.js';
import type { SipTrunkOptions } from './trunk-config.js';
import { OFFER_DTMF_PT, writeOffer } from './uac-messages.js';

export interface SipDialerDeps {
  /** Resolves the trunk's (or proxy's) host name; IP literals are used as they are. */
  readonly lookup?: (host: string, family: 4 | 6) => Promise<string>;
}

/** Transactions kept (in flight or lingering 32 s for retransmissions) per attempt allowed. */
const TRANSACTIONS_PER_DIAL = 4;
/** A TCP trunk that does not take the connection this fast is out of reach (as Timer B would say, sooner). */
const CONNECT_TIMEOUT_MS = 5_000;
const E164 = /^\+?[0-9]{3,20}$/;
/** A SIP URI safe to put in a header as it is: no spaces, quotes or angle brackets. */
const SIP_URI = /^sip:[^\s<>"@]+@[^\s<>"@]+$/i;
const FROM_USER = /^\+?[A-Za-z0-9._-]{1,64}$/;

/**
 * Outbound calls over SIP (the `Dialer` for carrier `sip`): INVITEs to SIP_TRUNK_URI from
 * voxline's own SIP port, over UDP. Answered calls become ordinary SIP calls on the server's
 * dialog table. At most SIP_TRUNK_MAX_DIALS attempts ring at once; responses reach it from the
 * server (SipClientCore) by their top Via branch.
 */
export class SipDialer implements Dialer {
  readonly carrier = 'sip' as const;
  readonly #server: SipServer;
  readonly #trunk: SipTrunkOptions;
  readonly #lookup: (host: string, family: 4 | 6) => Promise<string>;
  readonly #attempts = new Map<string, DialAttempt>();
  readonly #transactions = new Map<string, { tx: InviteClient; attempt: DialAttempt }>();
  /** Attempts between place() and their first INVITE (resolving, binding RTP). */
  #starting = 0;
  #closed = false;

  constructor(server: SipServer, trunk: SipTrunkOptions, deps: SipDialerDeps = {}) {
    this.#server = server;
    this.#trunk = trunk;
    this.#lookup = deps.lookup ?? (async (host, family) => (await dnsLookup(host, { family })).address);
    server.attachClient({
      response: (response) => this.#response(response),
      close: () => this.#shutdown(),
      usesConnection: (connection) => {
        for (const attempt of this.#attempts.values()) if (attempt.connection === connection) return true;
        return false;
      },
    });
  }

  /** Attempts ringing now (for tests and metrics). */
  get inFlight(): number {
    return this.#attempts.size;
  }

  /** Client transactions kept now (in flight or lingering for retransmissions). */
  get transactionCount(): number {
    return this.#transactions.size;
  }

  async place(request: DialRequest, onUpdate: (update: DialUpdate) => void): Promise<PlacedCall> {
    if (this.#closed) throw new VoxlineError('VL_ERR_DRAINING');
    if (this.#attempts.has(request.id))
      throw new VoxlineError('VL_ERR_BAD_REQUEST', `dial ${request.id} is already ringing`);
    const { maxDials } = this.#trunk;
    if (
      this.#attempts.size + this.#starting >= maxDials ||
      this.#transactions.size >= TRANSACTIONS_PER_DIAL * maxDials
    )
      throw new VoxlineError(
        'VL_ERR_CAPACITY',
        `${maxDials} outbound SIP attempts at once (SIP_TRUNK_MAX_DIALS)`,
        {
          retryAfterS: 5,
        },
      );
    const target = this.#target(request);
    this.#starting++;
    let flow: Flow;
    let rtp: RtpSession;
    const sources: string[] = [];
    try {
      flow = await this.#nextHop();
      sources.push(flow.address);
      try {
        rtp = await this.#openRtp(flow, sources);
      } catch (err) {
        flow.connection?.destroy();
        throw err;
      }
    } finally {
      this.#starting--;
    }
    if (this.#closed) {
      rtp.close();
      flow.connection?.destroy();
      throw new VoxlineError('VL_ERR_DRAINING');
    }
    const sessionId = Math.floor(Math.random() * 1e9);
    const attempt: DialAttempt = new DialAttempt(
      this.#context(() => attempt),
      request,
      target,
      flow,
      { session: rtp, sources, offer: writeOffer(this.#server.host, rtp.localPort, sessionId), sessionId },
      onUpdate,
      () => {
        if (this.#attempts.get(request.id) === attempt) this.#attempts.delete(request.id);
      },
    );
    this.#attempts.set(request.id, attempt);
    attempt.start();
    this.#server.log.info({ dialId: request.id, callId: attempt.callId }, 'outbound SIP INVITE sent');
    return { carrierCallId: attempt.callId };
  }

  async cancel(dialId: string): Promise<void> {
    this.#attempts.get(dialId)?.abandon('canceled', 'cancelled by request');
  }

  async close(): Promise<void> {
    this.#shutdown();
  }

  #shutdown(): void {
    this.#closed = true;
    for (const attempt of [...this.#attempts.values()]) attempt.shutdown();
    for (const { tx } of this.#transactions.values()) tx.dispose();
    this.#transactions.clear();
  }

  #context(attempt: () => DialAttempt): AttemptContext {
    return {
      server: this.#server,
      trunk: this.#trunk,
      track: (tx) => this.#transactions.set(tx.branch, { tx, attempt: attempt() }),
      untrack: (tx) => {
        if (this.#transactions.get(tx.branch)?.tx === tx) this.#transactions.delete(tx.branch);
      },
      malformed: (reason) => this.#malformed(reason),
    };
  }

  /** The server's router: true when the response is one of ours. Never throws. */
  #response(response: SipResponse): boolean {
    // The top Via as the parser checked it (a header line may hold several, comma-separated).
    const branch = parseVia(response.headers.all('via')[0] ?? '').params.get('branch') ?? '';
    const entry = this.#transactions.get(branch);
    if (!entry) return false;
    if (response.status < 100 || response.status > 699) {
      this.#malformed('sip_uac_status');
      return true;
    }
    if (
      parseCSeq(response.headers.get('cseq') as string).method === 'INVITE' &&
      response.status >= 200 &&
      response.status < 300 &&
      !/;\s*tag=/i.test(response.headers.get('to') ?? '')
    ) {
      this.#malformed('sip_uac_no_to_tag'); // a 2xx without a To tag cannot start a dialog (§12.1.1)
      return true;
    }
    try {
      entry.tx.receive(response);
    } catch (err) {
      // A containment boundary: this attempt fails, nothing else changes.
      this.#malformed('sip_uac_handler_failed');
      this.#server.log.error(
        { err, dialId: entry.attempt.request.id },
        'outbound SIP response handling failed',
      );
      entry.attempt.fail('internal error handling a response');
    }
    return true;
  }

  #malformed(reason: string): void {
    this.#server.edge.metrics.malformedMessages.inc({ reason });
  }

  #target(request: DialRequest): AttemptTarget {
    const requestUri = SIP_URI.test(request.to)
      ? request.to
      : E164.test(request.to)
        ? `sip:${request.to}@${this.#trunk.uriHostPort}`
        : undefined;
    if (!requestUri)
      throw new VoxlineError('VL_ERR_BAD_REQUEST', 'to: an E.164 number or a sip:user@host URI');
    const fromUri = SIP_URI.test(request.from)
      ? request.from
      : FROM_USER.test(request.from)
        ? `sip:${request.from}@${this.#trunk.fromDomain}`
        : undefined;
    if (!fromUri)
      throw new VoxlineError('VL_ERR_BAD_REQUEST', 'from: an E.164 number or a sip:user@host URI');
    return { requestUri, fromUri };
  }

  /** The outbound proxy or the trunk, resolved (A/AAAA only: no NAPTR or SRV); over TCP, connected. */
  async #nextHop(): Promise<Flow> {
    const hop = this.#trunk.outboundProxy ?? this.#trunk.trunk;
    const family = this.#server.options.bind.includes(':') ? 6 : 4;
    let address = hop.host;
    if (isIP(hop.host) === 0) {
      try {
        address = await this.#lookup(hop.host, family);
      } catch (err) {
        throw new VoxlineError('VL_ERR_CALL_CONTROL_FAILED', `SIP trunk host ${hop.host} does not resolve`, {
          cause: err,
        });
      }
    }
    if (this.#trunk.transport === 'UDP') return { transport: 'UDP', address, port: hop.port };
    try {
      return await this.#server.connect(address, hop.port, CONNECT_TIMEOUT_MS);
    } catch (err) {
      throw new VoxlineError(
        'VL_ERR_CALL_CONTROL_FAILED',
        `SIP trunk ${hop.host}:${hop.port} refused or did not take a TCP connection`,
        { cause: err },
      );
    }
  }

  async #openRtp(flow: Flow, sources: string[]): Promise<RtpSession> {
    const { options, edge } = this.#server;
    try {
      return await RtpSession.open(options.bind, options.rtpPorts.min, options.rtpPorts.max, {
        // Until the answer says otherwise: the first codec offered.
        codec: { name: 'pcmu', pt: 0 },
        dtmfPt: OFFER_DTMF_PT,
        // Read live by the session: the answer's (and early media's) SDP addresses are added.
        allowedAddresses: sources,
        remote: { address: flow.address, port: 0 },
        // voxline chose to call this trunk: its answer's address is vouched for.
        sendBeforeLatch: true,
        totals: edge.metrics.ingress.of('sip'),
        onRefused: (reason) => this.#server.refused(`rtp_${reason}`),
      });
    } catch (err) {
      if (err instanceof NoRtpPortError)
        throw new VoxlineError('VL_ERR_CAPACITY', err.message, { retryAfterS: 5 });
      throw err;
    }
  }
}

/** The SIP dialer on `server` (which must be listening before the first call is placed). */
export function createSipDialer(
  server: SipServer,
  trunk: SipTrunkOptions,
  deps: SipDialerDeps = {},
): SipDialer {
  return new SipDialer(server, trunk, deps);
}
