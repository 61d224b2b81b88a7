import type { Socket } from 'node:net';
import type { Call } from '../../../calls/call.js';
import {
  AnswerDetector,
  type AnsweredBy,
  ASTERISK_AMD_RULES,
} from '../../../calls/outbound/answer-detector.js';
import type { DialOutcome, DialRequest, DialUpdate } from '../../../calls/outbound/dialer.js';
import type { TimerHandle } from '../../../clock.js';
import { isVoxlineError } from '../../../errors.js';
import type { RtpSession } from '../rtp-session.js';
import { readOffer } from '../sdp.js';
import { type DialogState, SipCall } from '../sip-call.js';
import { addressUri, type SipRequest, type SipResponse } from '../sip-message.js';
import { newTag } from '../sip-responses.js';
import type { Flow } from '../sip-transport.js';
import { DigestSession } from './digest-session.js';
import { InviteClient } from './invite-client.js';
import { openOutboundCall, type UacServer } from './outbound-call.js';
import type { SipTrunkOptions } from './trunk-config.js';
import { ackFor2xx, buildInvite, tagOf, uacDialog } from './uac-messages.js';

/** 3xx redirects followed per attempt (each to a new Request-URI, through the same trunk). */
const MAX_REDIRECTS = 3;
/** A redirect target taken: a plain sip: or sips: URI, bounded. */
const REDIRECT_URI = /^sips?:[^\s<>",]{1,256}$/i;
/** RTP sources allowed (the trunk, then SDP addresses): a flood of 18x cannot grow the list. */
const MAX_RTP_SOURCES = 8;
/** Past the detector's own time (audio time): how long without audio before the verdict is unknown. */
const DETECT_GRACE_MS = 2_000;
/** Forks answered and hung up per attempt; more 2xx with new tags are dropped. */
const MAX_STRAYS = 8;

type Ended = Exclude<DialOutcome, 'answered'>;

export interface AttemptTarget {
  readonly requestUri: string;
  /** Our From URI (without the tag). */
  readonly fromUri: string;
}

/** What an attempt needs around it: the server, the trunk, and the router's transaction table. */
export interface AttemptContext {
  readonly server: UacServer;
  readonly trunk: SipTrunkOptions;
  /** Responses with this transaction's branch go to it until it says it is over. */
  track(tx: InviteClient): void;
  untrack(tx: InviteClient): void;
  /** A response that parsed but cannot be acted on (counted, then dropped). */
  malformed(reason: string): void;
}

/**
 * One outbound call attempt (a DialRequest) as RFC 3261's UAC core sees it: the INVITE and, after
 * a 401/407, the same INVITE with credentials and a new CSeq; 18x → ringing (183 with SDP: early
 * media latched, not fed to any call); 2xx → ACK and the call; a final → the outcome; the ring
 * timeout or `cancel` → CANCEL, then the 487's outcome. Updates stop after `ended`.
 */
export class DialAttempt {
  readonly request: DialRequest;
  readonly callId: string;
  readonly #ctx: AttemptContext;
  readonly #target: AttemptTarget;
  readonly #flow: Flow;
  readonly #rtp: RtpSession;
  /** Where RTP may come from (the session reads it live): the trunk, then the SDP addresses. */
  readonly #rtpSources: string[];
  readonly #offer: string;
  readonly #sessionId: number;
  readonly #from: string;
  readonly #onUpdate: (update: DialUpdate) => void;
  readonly #onSettled: () => void;
  #cseq = 0;
  #tx: InviteClient | undefined;
  /** Where the INVITE is addressed: the target, or where a 3xx redirected it. */
  #requestUri: string;
  /** Request-URIs already tried, for redirect loops. */
  readonly #tried = new Set<string>();
  /** Challenges answered: all answered again on each retry, nc counting up. */
  readonly #digest: DigestSession;
  #ringTimer: TimerHandle | undefined;
  #rang = false;
  #earlySdp: string | undefined;
  /** Why we are cancelling (ring timeout, cancel(), shutdown): the outcome once the INVITE ends. */
  #abandoned: { readonly outcome: Ended; readonly detail: string } | undefined;
  #answered: { readonly tag: string; readonly ack: SipRequest; readonly flow: Flow } | undefined;
  /** Other forks that answered too (hung up), by To tag: their 2xx retransmissions are ACKed again. */
  readonly #strays = new Map<string, { readonly ack: SipRequest; readonly flow: Flow }>();
  #settled = false;

  constructor(
    ctx: AttemptContext,
    request: DialRequest,
    target: AttemptTarget,
    flow: Flow,
    rtp: {
      readonly session: RtpSession;
      readonly sources: string[];
      readonly offer: string;
      readonly sessionId: number;
    },
    onUpdate: (update: DialUpdate) => void,
    onSettled: () => void,
  ) {
    this.#ctx = ctx;
    this.request = request;
    this.callId = `vx${newTag()}${newTag()}`;
    this.#target = target;
    this.#requestUri = target.requestUri;
    this.#tried.add(target.requestUri);
    this.#flow = flow;
    this.#rtp = rtp.session;
    this.#rtpSources = rtp.sources;
    this.#offer = rtp.offer;
    this.#sessionId = rtp.sessionId;
    this.#from = `<${target.fromUri}>;tag=${newTag()}`;
    this.#onUpdate = onUpdate;
    this.#onSettled = onSettled;
    this.#digest = new DigestSession(ctx.trunk.credentials);
  }

  /** Sends the INVITE and starts the ring timeout. */
  start(): void {
    this.#ringTimer = this.#ctx.server.clock.setTimeout(
      () => this.abandon('no-answer', `no answer within ${this.request.ringTimeoutMs} ms`),
      this.request.ringTimeoutMs,
    );
    this.#invite();
  }

  /** Gives up on the call (CANCEL); no-op once answered or ended. */
  abandon(outcome: Ended, detail: string): void {
    if (this.#settled || this.#abandoned) return;
    this.#abandoned = { outcome, detail };
    this.#ctx.server.clock.clearTimeout(this.#ringTimer);
    const tx = this.#tx;
    tx?.cancel();
    // Nothing heard yet: no CANCEL may go before a provisional (§9.1); the transaction sends it
    // if one comes, and ACKs and hangs up a late 2xx. The attempt itself is over now.
    if (!tx || tx.state === 'calling') this.#end(outcome, detail);
  }

  /** Something failed on voxline's side: CANCEL if it can, and end as failed. */
  fail(detail: string): void {
    this.abandon('failed', detail);
    this.#end('failed', detail);
  }

  /** Shutdown: CANCEL what can be, and end now. */
  /** The trunk's TCP connection this attempt waits for answers on, if it is over TCP. */
  get connection(): Socket | undefined {
    return this.#flow.connection;
  }

  shutdown(): void {
    this.abandon('canceled', 'shutdown');
    this.#end('canceled', 'shutdown');
  }

  #invite(): void {
    const { server, trunk } = this.#ctx;
    const extra = this.#digest.headers('INVITE', this.#requestUri);
    const request = buildInvite({
      requestUri: this.#requestUri,
      from: this.#from,
      to: `<${this.#target.requestUri}>`,
      callId: this.callId,
      cseq: ++this.#cseq,
      viaHost: server.viaHost(),
      transport: this.#flow.transport,
      contact: server.contact(this.#flow.transport),
      routes: trunk.outboundProxy ? [`<sip:${hostPortText(trunk.outboundProxy)};lr>`] : [],
      sdp: this.#offer,
      extra,
    });
    const tx = new InviteClient(
      request,
      (m) => server.send(m, this.#flow),
      server.clock,
      {
        provisional: (r) => this.#provisional(r),
        success: (r) => this.#success(tx, r),
        failure: (r) => this.#failure(tx, r),
        timeout: (why) =>
          this.#end(
            this.#abandoned?.outcome ?? 'failed',
            this.#abandoned?.detail ??
              (why === 'no_response' ? 'no response from the trunk (Timer B, 32 s)' : 'CANCEL unanswered'),
          ),
        terminated: () => this.#ctx.untrack(tx),
      },
      this.#flow.transport === 'TCP',
    );
    this.#tx = tx;
    this.#ctx.track(tx);
    tx.start();
  }

  #provisional(response: SipResponse): void {
    if (response.status === 100 || this.#settled) return;
    const type = response.headers.get('content-type')?.toLowerCase() ?? '';
    if (type.startsWith('application/sdp') && response.body.length > 0) this.#earlyMedia(response.body);
    if (!this.#rang && !this.#abandoned) {
      this.#rang = true;
      this.#report({ kind: 'ringing' });
    }
  }

  /** 183 with SDP: the far end plays tones or an announcement; RTP is latched, not transcribed. */
  #earlyMedia(body: Buffer): void {
    const text = body.toString('utf8');
    if (this.#negotiate(text)) this.#earlySdp = text;
    else this.#ctx.malformed('sip_uac_early_sdp');
  }

  /** Takes the far end's answer: the codec, where to send. False when it offers nothing usable. */
  #negotiate(sdp: string): boolean {
    let stream: ReturnType<typeof readOffer>['streams'][number] | undefined;
    try {
      stream = readOffer(sdp).streams.find((s) => s.codec !== undefined);
    } catch {
      return false;
    }
    if (!stream?.codec) return false;
    this.#rtp.negotiated(stream.codec, stream.dtmfPt);
    if (!this.#rtpSources.includes(stream.address) && this.#rtpSources.length < MAX_RTP_SOURCES)
      this.#rtpSources.push(stream.address);
    this.#rtp.retarget(stream.address, stream.port);
    return true;
  }

  #success(tx: InviteClient, response: SipResponse): void {
    const tag = tagOf(response.headers.get('to')) ?? '';
    if (this.#answered) {
      const known = tag === this.#answered.tag ? this.#answered : this.#strays.get(tag);
      if (known) this.#ctx.server.send(known.ack, known.flow);
      else if (this.#strays.size < MAX_STRAYS) this.#hangUpStray(tx, response, tag);
      else this.#ctx.malformed('sip_uac_fork_flood');
      return;
    }
    const dialog = uacDialog(tx.request, response, this.#sessionId);
    const flow = this.#dialogFlow(dialog);
    const ack = ackFor2xx(dialog, this.#ctx.server.viaHost(), this.#flow.transport);
    this.#answered = { tag, ack, flow };
    this.#ctx.server.send(ack, flow);
    if (this.#settled || this.#abandoned) {
      // Answered as we cancelled (or after we gave up): ACK, then BYE at once.
      this.#bye(dialog, flow);
      this.#end(this.#abandoned?.outcome ?? 'canceled', this.#abandoned?.detail ?? 'answered too late');
      return;
    }
    const body = response.body.length > 0 ? response.body.toString('utf8') : this.#earlySdp;
    if (!body || !this.#negotiate(body)) {
      this.#ctx.malformed('sip_uac_answer_sdp');
      this.#bye(dialog, flow);
      this.#end('failed', 'the answer has no PCMU or PCMA stream', 488);
      return;
    }
    this.#ctx.server.clock.clearTimeout(this.#ringTimer);
    let call: Call;
    try {
      call = openOutboundCall(this.#ctx.server, this.request, dialog, flow, this.#rtp, this.#offer);
    } catch (err) {
      if (!isVoxlineError(err)) throw err;
      this.#end('failed', `answered, but voxline refused the call: ${err.code}`);
      return;
    }
    this.#settled = true;
    this.#onSettled();
    if (this.request.detectMachine) this.#detectMachine(call);
    else this.#report({ kind: 'answered', callSid: call.callSid });
  }

  /**
   * detectMachine over SIP, where no carrier does it: the callee's first seconds go through the
   * AnswerDetector, and `answered` is reported with its verdict (unknown if the leg ends first, or
   * if no audio comes within the detector's time and a little more).
   */
  #detectMachine(call: Call): void {
    const detector = new AnswerDetector();
    const clock = this.#ctx.server.clock;
    let reported = false;
    const report = (answeredBy: AnsweredBy) => {
      if (reported) return;
      reported = true;
      clock.clearTimeout(fallback);
      this.#report({ kind: 'answered', callSid: call.callSid, answeredBy });
    };
    const fallback = clock.setTimeout(() => report('unknown'), ASTERISK_AMD_RULES.totalMs + DETECT_GRACE_MS);
    fallback.unref();
    call.legs.get('inbound')?.attach({
      push: (frame) => {
        if (reported) return;
        const verdict = detector.push(frame.pcm);
        if (verdict) report(verdict);
      },
      end: () => report('unknown'),
    });
  }

  #failure(tx: InviteClient, response: SipResponse): void {
    if (tx !== this.#tx || this.#settled) return;
    const { status } = response;
    if ((status === 401 || status === 407) && !this.#abandoned) {
      const retry = this.#authenticate(response);
      if (retry === true) return;
      this.#end('failed', `${status} ${response.reason.slice(0, 100)}: ${retry}`, status);
      return;
    }
    if (this.#abandoned) {
      this.#end(this.#abandoned.outcome, this.#abandoned.detail, status === 487 ? undefined : status);
      return;
    }
    if (status >= 300 && status < 400) {
      const followed = this.#redirect(response);
      if (followed === true) return;
      this.#end('failed', `${status} ${response.reason.slice(0, 100)}: ${followed}`, status);
      return;
    }
    this.#end(outcomeOf(status), `${status} ${response.reason}`.slice(0, 200), status);
  }

  /**
   * A 3xx (RFC 3261 §8.1.3.4): the INVITE again (new CSeq and branch, same Call-ID, From and To)
   * with its first Contact as the Request-URI, sent through the same trunk as the first, which
   * routes it: a redirect never sends voxline's INVITE to a host the trunk did not choose.
   * True, or why it is not followed.
   */
  #redirect(response: SipResponse): true | string {
    const contacts = response.headers
      .lines('contact')
      .flatMap((line) => line.split(','))
      .map((value) => addressUri(value).trim());
    const next = contacts.find((uri) => REDIRECT_URI.test(uri));
    if (!next) return 'no sip: Contact to follow';
    if (this.#tried.has(next)) return 'a redirect loop';
    if (this.#tried.size > MAX_REDIRECTS) return `more than ${MAX_REDIRECTS} redirects`;
    this.#tried.add(next);
    this.#requestUri = next;
    this.#invite();
    return true;
  }

  /** Answers a challenge with a new INVITE (new CSeq, new branch); true, or why not. */
  #authenticate(response: SipResponse): true | string {
    const answerable = this.#digest.challenged(response);
    if (answerable !== true) return answerable;
    this.#invite();
    return true;
  }

  /**
   * Where requests in the dialog go: the outbound proxy when there is one; else the first route
   * (or the far end's Contact) when it is an IP literal; else where the INVITE went. A name a
   * peer hands us is never resolved. Over TCP the dialog stays on the INVITE's connection.
   */
  #dialogFlow(dialog: DialogState): Flow {
    if (this.#ctx.trunk.outboundProxy || this.#flow.transport === 'TCP') return this.#flow;
    const next = dialog.routeSet[0] ? addressUri(dialog.routeSet[0]) : dialog.remoteTarget;
    const m = /^sips?:(?:[^@]*@)?(\[[0-9A-Fa-f:.]+\]|[0-9.]+)(?::(\d{1,5}))?(?:[;?].*)?$/i.exec(next);
    if (!m) return this.#flow;
    const port = m[2] === undefined ? 5060 : Number(m[2]);
    if (port < 1 || port > 65535) return this.#flow;
    return { transport: 'UDP', address: m[1].replace(/^\[|\]$/g, ''), port };
  }

  /**
   * A dialog voxline will not keep: BYE (resent until answered) through a call-less SipCall. A
   * stray fork's is not put in the server's table: that is keyed by Call-ID and our tag, which
   * every fork shares, and the first answer's dialog holds the key.
   */
  #bye(dialog: DialogState, flow: Flow, keep = true): void {
    const server = this.#ctx.server;
    const dead = new SipCall(dialog, flow, [], false, server, server.clock);
    dead.acknowledged();
    if (keep) server.keepDialog(dead);
    dead.close(1000, 'not wanted');
  }

  /** A second fork answered too (§13.2.2.4): ACK it and hang it up, once per tag. */
  #hangUpStray(tx: InviteClient, response: SipResponse, tag: string): void {
    const dialog = uacDialog(tx.request, response, this.#sessionId);
    const flow = this.#dialogFlow(dialog);
    const ack = ackFor2xx(dialog, this.#ctx.server.viaHost(), this.#flow.transport);
    this.#strays.set(tag, { ack, flow });
    this.#ctx.server.send(ack, flow);
    this.#bye(dialog, flow, false);
  }

  #end(outcome: Ended, detail: string, status?: number): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#ctx.server.clock.clearTimeout(this.#ringTimer);
    this.#rtp.close();
    this.#report({ kind: 'ended', outcome, detail, ...(status === undefined ? {} : { status }) });
    this.#onSettled();
  }

  /** The listener is someone else's code: what it throws stays there. */
  #report(update: DialUpdate): void {
    try {
      this.#onUpdate(update);
    } catch (err) {
      this.#ctx.server.log.error({ err, dialId: this.request.id }, 'dial update listener failed');
    }
  }
}

/** A final response's outcome (other than 401/407, and 487 after our CANCEL). */
export function outcomeOf(status: number): Ended {
  if (status === 486 || status === 600 || status === 603) return 'busy';
  if (status === 408 || status === 480) return 'no-answer';
  return 'failed';
}

function hostPortText(hp: { readonly host: string; readonly port: number }): string {
  return `${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}`;
}
