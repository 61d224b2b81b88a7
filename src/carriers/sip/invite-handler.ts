import type { Call } from '../../calls/call.js';
import { isVoxlineError } from '../../errors.js';
import { answerReinvite } from './reinvite.js';
import { RtpSession } from './rtp-session.js';
import { type AnsweredStream, answerDirection, type Offer, readOffer, SdpError, writeAnswer } from './sdp.js';
import { SipCall } from './sip-call.js';
import { sipCallStart } from './sip-call-start.js';
import type { SipRequest } from './sip-message.js';
import { newTag, responseTo, sessionTimer } from './sip-responses.js';
import type { InviteTransaction, SipServer } from './sip-server.js';
import type { Flow } from './sip-transport.js';
import { isSiprecInvite, parseMetadata, type RecordingMetadata, splitMultipart } from './siprec.js';

/** Option tags voxline supports in `Require` (siprec only on a SIPREC INVITE). */
const SUPPORTED_REQUIRE = new Set(['timer']);

interface Refusal {
  readonly status: number;
  readonly reason: string;
  readonly extra?: [string, string][];
}

/** What an INVITE asks for, once its body is read. */
interface Request {
  readonly siprec: boolean;
  readonly offer: Offer;
  readonly metadata: RecordingMetadata | undefined;
}

/**
 * New INVITEs and re-INVITEs: the checks in the order a trunk expects the answers (420, 401/403,
 * 503, 415, 488), SDP negotiation, RTP sockets, then the call is opened and answered (180, 200).
 */
export class InviteHandler {
  readonly #s: SipServer;
  /** INVITEs between their 100 Trying and their final answer. */
  #answering = 0;

  constructor(server: SipServer) {
    this.#s = server;
  }

  invite(request: SipRequest, flow: Flow): void {
    if (/;\s*tag=/i.test(request.headers.get('to') ?? '')) {
      const dialog = this.#s.dialogOf(request);
      if (!dialog || dialog.state === 'terminated')
        this.#s.send(responseTo(request, 481, flow, undefined), flow);
      else answerReinvite(this.#s, dialog, request, flow);
      return;
    }
    const key = this.#s.transactionKey(request);
    const known = this.#s.transactions.get(key);
    if (known) {
      // A retransmission: answer it the same way again.
      if (!known.call?.resend2xx() && known.last) this.#s.send(known.last, known.flow);
      return;
    }
    const tx: InviteTransaction = {
      key,
      request,
      flow,
      toTag: newTag(),
      last: undefined,
      final: undefined,
      cancelled: false,
      call: undefined,
    };
    this.#s.transactions.set(key, tx);
    this.#s.respond(tx, 100);
    this.#answering++;
    this.#answer(tx)
      .finally(() => this.#answering--)
      .catch((err: unknown) => {
        this.#s.log.error({ err }, 'INVITE handling failed');
        if (tx.final === undefined) this.#s.respond(tx, 500);
      });
  }

  cancelled(tx: InviteTransaction): void {
    this.#s.log.info({ callId: tx.request.headers.get('call-id') }, 'INVITE cancelled before answer');
    this.#s.refused('cancelled');
  }

  acked(_dialog: SipCall, _ack: SipRequest): void {}

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
    if (digit && /^[0-9*#A-D]$/i.test(digit) && dialog.call) {
      dialog.call.recordDtmf(digit.toUpperCase(), 'inbound');
      dialog.call.log.info({ digit, via: 'INFO' }, 'dtmf');
    }
  }

  byeAnswered(callId: string, localTag: string): void {
    this.#s.dialogs.get(this.#s.dialogKey(callId, localTag))?.byeAnswered();
  }

  async #answer(tx: InviteTransaction): Promise<void> {
    const refusal = this.#check(tx.request);
    if ('status' in refusal) {
      this.#refuse(tx, refusal);
      return;
    }
    const { siprec, offer, metadata } = refusal;
    const { options } = this.#s;
    const wanted = offer.streams.filter((s) => s.codec !== undefined).slice(0, siprec ? 2 : 1);
    if (wanted.length === 0) {
      this.#refuse(tx, {
        status: 488,
        reason: 'no_common_codec',
        extra: [['warning', '304 voxline "no common codec: PCMU or PCMA at 8000 Hz"']],
      });
      return;
    }
    const signalling = tx.flow.address;
    const sessions = await Promise.all(
      offer.streams.map((stream) => {
        if (!wanted.includes(stream) || !stream.codec) return undefined;
        return RtpSession.open(options.bind, options.rtpPorts.min, options.rtpPorts.max, {
          codec: stream.codec,
          dtmfPt: stream.dtmfPt,
          allowedAddresses: [...new Set([stream.address, signalling])],
          remote: { address: stream.address, port: stream.port },
          totals: this.#s.ctx.metrics.ingress.of(siprec ? 'siprec' : 'sip'),
          onDtmf: (digit) => this.#dtmf(dialog, streamTrack.get(stream.index) ?? 'inbound', digit),
          onRefused: (reason) => this.#s.refused(`rtp_${reason}`),
        });
      }),
    );
    const streamTrack = new Map<number, string>();
    const dialog = new SipCall(tx.request, tx.flow, tx.toTag, sessions, siprec, this.#s);
    if (!tx.cancelled) this.#s.respond(tx, 180, dialog.dialogHeaders());
    if (options.ringMs > 0 && !tx.cancelled)
      await new Promise((resolve) => setTimeout(resolve, options.ringMs));
    if (tx.cancelled) {
      dialog.terminate();
      return;
    }
    const start = sipCallStart(this.#s, tx, dialog, wanted, metadata, streamTrack);
    const outbound = dialog.startSending(this.#s.ctx.clock);
    const log = this.#s.ctx.log.child({ callSid: start.callSid, ingress: start.ingress });
    let call: Call;
    try {
      call = this.#s.ctx.registry.open(start, dialog, log, start.mode === 'agent' ? outbound : undefined);
    } catch (err) {
      dialog.terminate();
      if (!isVoxlineError(err)) throw err;
      this.#refuse(tx, {
        status: err.code === 'VL_ERR_DUPLICATE_CALL' ? 482 : 503,
        reason: err.code,
        extra: [['retry-after', '5']],
      });
      return;
    }
    dialog.call = call;
    call.rtpStats = () => dialog.rtpStats();
    for (const stream of wanted) {
      const leg = call.legs.get(streamTrack.get(stream.index) ?? 'inbound');
      if (leg) sessions[stream.index]?.attach(leg, () => call.messages++);
    }
    const key = this.#s.dialogKey(dialog.callId, dialog.localTag);
    this.#s.dialogs.set(key, dialog);
    call.scope.defer(() => {
      dialog.terminate();
      for (const stream of dialog.rtpStats()) {
        if (stream.packets > 1)
          this.#s.ctx.metrics.ingress.jitter.observe({ ingress: start.ingress }, stream.maxJitterMs / 1000);
      }
      // Kept a while for a late BYE answer or retransmitted requests.
      setTimeout(() => this.#s.dialogs.delete(key), 32_000).unref();
    });
    const answer = writeAnswer(
      { address: this.#s.host, sessionId: dialog.sdpSessionId, version: dialog.sdpVersion },
      offer.streams.map(
        (stream): AnsweredStream => ({
          stream,
          port: sessions[stream.index]?.localPort,
          direction: answerDirection(stream.direction, siprec),
        }),
      ),
    );
    dialog.lastAnswer = answer;
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
    tx.final = 200;
    tx.last = ok;
    tx.call = dialog;
    this.#s.linger(tx);
    dialog.send2xx(ok, () => {
      log.warn('no ACK for the 200 OK within 32 s: ending the call with BYE');
      void call.hangUp(1000, 'no ACK', 'no_ack');
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

  /** Every reason to refuse, in the order RFC 3261 §8.2 gives; or the parsed request. */
  #check(request: SipRequest): Refusal | Request {
    const h = request.headers;
    const siprec = isSiprecInvite(h);
    const unsupported = h
      .all('require')
      .filter(
        (tag) => !SUPPORTED_REQUIRE.has(tag.toLowerCase()) && !(siprec && tag.toLowerCase() === 'siprec'),
      );
    if (unsupported.length > 0)
      return { status: 420, reason: 'bad_extension', extra: [['unsupported', unsupported.join(', ')]] };
    const { auth } = this.#s;
    if (auth && !auth.verify(h.get('authorization'), 'INVITE')) {
      return h.get('authorization')
        ? { status: 403, reason: 'auth_failed' }
        : { status: 401, reason: 'auth_challenge', extra: [['www-authenticate', auth.challenge()]] };
    }
    const { registry } = this.#s.ctx;
    // INVITEs still being answered count too, or a burst could slip past the limit together.
    const sipCalls = registry.liveCountOf('sip') + registry.liveCountOf('siprec') + this.#answering - 1;
    if (registry.draining) return { status: 503, reason: 'VL_ERR_DRAINING', extra: [['retry-after', '30']] };
    if (sipCalls >= this.#s.options.maxCalls)
      return {
        status: 503,
        reason: 'sip_max_calls',
        extra: [
          ['retry-after', '5'],
          ['warning', `399 voxline "SIP_MAX_CALLS (${this.#s.options.maxCalls}) reached"`],
        ],
      };
    const type = (h.get('content-type') ?? '').toLowerCase();
    const body = request.body.toString('utf8');
    let sdp: string | undefined;
    let metadata: RecordingMetadata | undefined;
    if (type.startsWith('multipart/mixed')) {
      const parts = splitMultipart(h.get('content-type') as string, body) ?? [];
      sdp = parts.find((p) => p.contentType.startsWith('application/sdp'))?.body;
      const xml = parts.find((p) => p.contentType.startsWith('application/rs-metadata'))?.body;
      if (xml) {
        try {
          metadata = parseMetadata(xml);
        } catch (err) {
          this.#s.log.warn(
            { err: (err as Error).message },
            'SIPREC metadata unreadable: using the configured caller label',
          );
        }
      }
    } else if (type.startsWith('application/sdp')) {
      sdp = body;
    } else if (body.length > 0) {
      return {
        status: 415,
        reason: 'unsupported_media_type',
        extra: [['accept', 'application/sdp, multipart/mixed']],
      };
    }
    if (!sdp)
      return {
        status: 488,
        reason: 'no_offer',
        extra: [['warning', '399 voxline "an SDP offer is required in the INVITE"']],
      };
    try {
      return { siprec, offer: readOffer(sdp), metadata };
    } catch (err) {
      if (!(err instanceof SdpError)) throw err;
      return {
        status: 488,
        reason: 'bad_sdp',
        extra: [['warning', `399 voxline "${err.message.replace(/"/g, "'").slice(0, 100)}"`]],
      };
    }
  }

  #refuse(tx: InviteTransaction, refusal: Refusal): void {
    this.#s.refused(refusal.reason);
    const level = refusal.status === 401 ? 'debug' : 'warn';
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

  #dtmf(dialog: SipCall, track: string, digit: string): void {
    const call = dialog.call;
    if (!call) return;
    call.recordDtmf(digit, track);
    call.log.info({ digit, via: 'rtp' }, 'dtmf');
  }
}
