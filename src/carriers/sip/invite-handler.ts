import type { FastifyBaseLogger } from 'fastify';
import type { Call } from '../../calls/call.js';
import { isVoxlineError } from '../../errors.js';
import type { CallStart } from '../carrier.js';
import { checkInvite, type InviteRefusal } from './invite-checks.js';
import { InviteTransaction, type SipEdge } from './invite-context.js';
import { answerReinvite } from './reinvite.js';
import { NoRtpPortError, type RtpSession } from './rtp-session.js';
import { openRtpStreams } from './rtp-streams.js';
import { type AnsweredStream, answerDirection, type Offer, type OfferedStream, writeAnswer } from './sdp.js';
import { SipCall, uasDialog } from './sip-call.js';
import { sipCallStart } from './sip-call-start.js';
import type { SipRequest } from './sip-message.js';
import { newTag, responseTo, sessionTimer } from './sip-responses.js';
import type { Flow } from './sip-transport.js';
import type { RecordingMetadata } from './siprec.js';

/**
 * New INVITEs and re-INVITEs: the transaction, then the checks (invite-checks.ts), the RTP
 * sockets (rtp-streams.ts), and the call opened and answered (180, 200); in-dialog key presses.
 */
export class InviteHandler {
  readonly #s: SipEdge;
  /** INVITEs between their 100 Trying and their final answer. */
  #answering = 0;
  /** Key presses per call, for the log line (weak: gone with the call). */
  readonly #dtmfCounts = new WeakMap<Call, number>();

  constructor(server: SipEdge) {
    this.#s = server;
  }

  /**
   * A new INVITE (not a retransmission, within the transaction limit): returns its transaction, for
   * the server to keep, and the dialog it answered with, once answered (undefined if refused,
   * cancelled or failed: then the transaction has its final response).
   */
  invite(
    key: string,
    request: SipRequest,
    flow: Flow,
  ): { tx: InviteTransaction; answered: Promise<SipCall | undefined> } {
    const tx = new InviteTransaction(key, request, flow, newTag());
    this.#s.respond(tx, 100);
    this.#answering++;
    const answered = this.#answer(tx)
      .finally(() => this.#answering--)
      .catch((err: unknown) => {
        // Contained: this INVITE gets a 500 (its sockets were closed on the way out), nothing else changes.
        this.#s.edge.metrics.ingress.failures.inc({ ingress: 'sip' });
        this.#s.log.error({ err, callId: tx.request.headers.get('call-id') }, 'INVITE handling failed');
        if (tx.final === undefined) this.#s.respond(tx, 500);
        return undefined;
      });
    return { tx, answered };
  }

  /** A re-INVITE in a live dialog. */
  reinvite(dialog: SipCall, request: SipRequest, flow: Flow): void {
    answerReinvite(this.#s, dialog, request, flow);
  }

  cancelled(tx: InviteTransaction): void {
    this.#s.log.info({ callId: tx.request.headers.get('call-id') }, 'INVITE cancelled before answer');
    this.#s.refused('cancelled');
  }

  /** The far end hung up (BYE). */
  ended(dialog: SipCall, reason: string): void {
    dialog.terminate();
    void dialog.call?.end(reason);
  }

  /** SIP INFO key presses (application/dtmf-relay or application/dtmf). */
  info(dialog: SipCall, request: SipRequest): void {
    const type = request.headers.get('content-type')?.toLowerCase() ?? '';
    const body = request.body.toString('utf8');
    const digit = type.includes('dtmf-relay')
      ? /Signal\s*=\s*([0-9*#A-D])/i.exec(body)?.[1]
      : type.includes('dtmf')
        ? body.trim()
        : undefined;
    if (digit && /^[0-9*#A-D]$/i.test(digit) && dialog.call)
      this.#dtmf(dialog.call, 'inbound', digit.toUpperCase(), 'INFO');
  }

  async #answer(tx: InviteTransaction): Promise<SipCall | undefined> {
    const refusal = checkInvite(this.#s, tx.request, this.#answering);
    if ('status' in refusal) {
      this.#refuse(tx, refusal);
      return undefined;
    }
    const { siprec, offer, metadata } = refusal;
    const wanted = offer.streams.filter((s) => s.codec !== undefined).slice(0, siprec ? 2 : 1);
    if (wanted.length === 0) {
      this.#refuse(tx, {
        status: 488,
        reason: 'no_common_codec',
        extra: [['warning', '304 voxline "no common codec: PCMU, PCMA or G722 at 8000 Hz"']],
      });
      return undefined;
    }
    let sessions: (RtpSession | undefined)[];
    try {
      sessions = await openRtpStreams(this.#s, tx.flow, offer, wanted, siprec);
    } catch (err) {
      if (!(err instanceof NoRtpPortError)) throw err;
      this.#refuse(tx, {
        status: 503,
        reason: 'no_rtp_port',
        extra: [
          ['retry-after', '5'],
          ['warning', `399 voxline "${err.message}"`],
        ],
      });
      return undefined;
    }
    const dialog = new SipCall(
      uasDialog(tx.request, tx.toTag),
      tx.flow,
      sessions,
      siprec,
      this.#s,
      this.#s.clock,
    );
    // Until a call owns the dialog, this INVITE does: any way out of here but a call closes its sockets.
    let owned = false;
    try {
      owned = await this.#open(tx, dialog, offer, wanted, metadata, sessions);
    } finally {
      if (!owned) dialog.terminate();
    }
    return owned ? dialog : undefined;
  }

  /** Rings, opens the call and answers; true once the call owns the dialog. */
  async #open(
    tx: InviteTransaction,
    dialog: SipCall,
    offer: Offer,
    wanted: readonly OfferedStream[],
    metadata: RecordingMetadata | undefined,
    sessions: readonly (RtpSession | undefined)[],
  ): Promise<boolean> {
    const { options } = this.#s;
    if (!tx.cancelled) this.#s.respond(tx, 180, dialog.dialogHeaders());
    if (options.ringMs > 0 && !tx.cancelled)
      await new Promise<void>((resolve) => this.#s.clock.setTimeout(resolve, options.ringMs));
    if (tx.cancelled) return false;
    const streamTrack = new Map<number, string>();
    const start = sipCallStart(
      { legs: this.#s.edge.legs, options, log: this.#s.log },
      tx.request,
      tx.flow,
      dialog,
      wanted,
      metadata,
      streamTrack,
    );
    const log = this.#s.edge.log.child({ callSid: start.callSid, ingress: start.ingress });
    let call: Call | undefined;
    const outbound = dialog.startSending(this.#s.edge.clock, (err) => this.#callFailed(call, log, err));
    try {
      call = this.#s.edge.registry.open(start, dialog, log, start.mode === 'agent' ? outbound : undefined);
    } catch (err) {
      if (!isVoxlineError(err)) throw err;
      this.#refuse(tx, {
        status: err.code === 'VL_ERR_DUPLICATE_CALL' ? 482 : 503,
        reason: err.code,
        extra: [['retry-after', String(err.retryAfterS ?? 5)]],
      });
      return false;
    }
    const opened = call;
    dialog.attach(opened);
    try {
      this.#answerCall(tx, dialog, opened, start, log, offer, wanted, sessions, streamTrack);
    } catch (err) {
      // The call exists now: it ends too (its consumers, timers), not only the dialog.
      void opened.end('internal_error');
      throw err;
    }
    return true;
  }

  /** The call is open: feed it from the RTP streams, keep the dialog, send the 200 OK. */
  #answerCall(
    tx: InviteTransaction,
    dialog: SipCall,
    opened: Call,
    start: CallStart,
    log: FastifyBaseLogger,
    offer: Offer,
    wanted: readonly OfferedStream[],
    sessions: readonly (RtpSession | undefined)[],
    streamTrack: ReadonlyMap<number, string>,
  ): void {
    for (const stream of wanted) {
      const track = streamTrack.get(stream.index) ?? 'inbound';
      const leg = opened.legs.get(track);
      if (leg)
        sessions[stream.index]?.attach({
          leg,
          onActivity: () => opened.noteActivity(),
          onDtmf: (digit) => this.#dtmf(opened, track, digit, 'rtp'),
          onFailure: (err) => this.#callFailed(opened, log, err),
        });
    }
    opened.scope.defer(() => {
      dialog.terminate();
      for (const stream of dialog.rtpStats()) {
        if (stream.packets > 1)
          this.#s.edge.metrics.ingress.jitter.observe({ ingress: start.ingress }, stream.maxJitterMs / 1000);
      }
    });
    const answer = writeAnswer(
      { address: this.#s.host, sessionId: dialog.sdpSessionId, version: dialog.sdpVersion },
      offer.streams.map(
        (stream): AnsweredStream => ({
          stream,
          port: sessions[stream.index]?.localPort,
          direction: answerDirection(stream.direction, dialog.siprec),
        }),
      ),
    );
    dialog.answeredWith(answer);
    const ok = responseTo(
      tx.request,
      200,
      tx.flow,
      tx.toTag,
      [...dialog.dialogHeaders(), ...sessionTimer(tx.request)],
      {
        type: 'application/sdp',
        content: answer,
      },
    );
    tx.answered(ok, dialog);
    dialog.send2xx(ok, () => {
      log.warn('no ACK for the 200 OK within 32 s: ending the call with BYE');
      void opened.hangUp(1000, 'no ACK', 'no_ack');
    });
    log.info(
      {
        mode: start.mode,
        legs: start.legs,
        codec: wanted.map((s) => s.codec?.name),
        from: start.customParameters.from,
      },
      'SIP call answered',
    );
  }

  /** Something the call owns threw (its RTP socket, its paced audio): this call ends, no other. */
  #callFailed(call: Call | undefined, log: FastifyBaseLogger, err: unknown): void {
    this.#s.edge.metrics.ingress.failures.inc({ ingress: 'sip' });
    log.error({ err }, 'SIP call media failed: ending the call');
    if (call) void call.hangUp(1011, 'internal error', 'internal_error');
  }

  #refuse(tx: InviteTransaction, refusal: InviteRefusal): void {
    this.#s.refused(refusal.reason);
    const level = refusal.status === 401 ? 'debug' : this.#s.logBudget.level('invite_refused');
    this.#s.log[level](
      {
        status: refusal.status,
        reason: refusal.reason,
        callId: tx.request.headers.get('call-id'),
        from: tx.flow.address,
      },
      'INVITE refused',
    );
    this.#s.respond(tx, refusal.status, refusal.extra ?? []);
  }

  /** Digits are call data, never log data (PINs, card numbers): the log gets a count. */
  #dtmf(call: Call, track: string, digit: string, via: 'rtp' | 'INFO'): void {
    call.recordDtmf(digit, track);
    this.#dtmfCounts.set(call, (this.#dtmfCounts.get(call) ?? 0) + 1);
    call.log.debug({ track, via, keys: this.#dtmfCounts.get(call) }, 'dtmf');
  }
}
