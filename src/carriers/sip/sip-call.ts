import type { Call } from '../../calls/call.js';
import { type Clock, systemClock, type TimerHandle } from '../../clock.js';
import { VoxlineError } from '../../errors.js';
import type { CallTransport } from '../carrier.js';
import type { MediaClock } from '../media-clock.js';
import { PacedOutbound } from '../paced-outbound.js';
import { DtmfSender } from './dtmf-sender.js';
import { rtpFrameEncoder } from './rtp-frame-encoder.js';
import type { RtpSession, RtpStats } from './rtp-session.js';
import { addressUri, Headers, type SipRequest, type SipResponse } from './sip-message.js';
import { referTarget } from './sip-refer.js';
import { ALLOW, newBranch, USER_AGENT } from './sip-responses.js';
import { BlindTransfer, TRANSFER_WAIT_MS } from './sip-transfer.js';
import type { Flow } from './sip-transport.js';

const T1 = 500;
const T2 = 4000;
const TIMER_H = 64 * T1;
/** A non-INVITE request unanswered this long has failed (§17.1.2.2, Timer F). */
const TIMER_F = 64 * T1;

/** How a dialog talks to the network; the server provides it. */
export interface DialogNetwork {
  send(message: SipRequest | SipResponse, flow: Flow): void;
  /** Our Contact URI for this transport. */
  contact(transport: 'UDP' | 'TCP'): string;
  /** The sent-by for our Via on requests we originate. */
  viaHost(transport: 'UDP' | 'TCP'): string;
}

/**
 * What identifies a dialog and routes the requests voxline sends in it (RFC 3261 §12.1), for a
 * dialog from either side: an INVITE voxline answered (`uasDialog`) or one it placed (uac/).
 */
export interface DialogState {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  /** Our end as it goes in the From of our requests (tag included). */
  readonly localUri: string;
  /** The far end as it goes in the To of our requests (tag included). */
  readonly remoteUri: string;
  readonly remoteTarget: string;
  /** Route headers for our requests, in order. */
  readonly routeSet: readonly string[];
  readonly localCSeq: number;
  readonly remoteCSeq: number;
  /** Who sent the dialog-creating INVITE. */
  readonly initiator: 'peer' | 'voxline';
  /** The o= session id voxline already used in the dialog (its offer), if any. */
  readonly sdpSessionId?: number;
}

/** The dialog an INVITE from the far end creates once voxline answers it with `localTag`. */
export function uasDialog(invite: SipRequest, localTag: string): DialogState {
  const h = invite.headers;
  return {
    callId: h.get('call-id') as string,
    localTag,
    remoteTag: /;\s*tag=([^;\s]+)/i.exec(h.get('from') ?? '')?.[1] ?? '',
    localUri: `${h.get('to')};tag=${localTag}`,
    remoteUri: h.get('from') as string,
    remoteTarget: addressUri(h.get('contact') ?? '') || addressUri(h.get('from') ?? ''),
    routeSet: h.lines('record-route'),
    localCSeq: 1,
    remoteCSeq: Number.parseInt(h.get('cseq') ?? '0', 10),
    initiator: 'peer',
  };
}

/**
 * One SIP dialog that became a call (RFC 3261 §12): its identifiers, route set and CSeq, the
 * 2xx it resends until the ACK (§13.3.1.4), the RTP streams, and what voxline sends into the
 * call (silence, or the agent's voice). As the call's transport, closing it sends a BYE.
 */
export class SipCall implements CallTransport {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  readonly siprec: boolean;
  readonly initiator: 'peer' | 'voxline';
  readonly sessions: readonly (RtpSession | undefined)[];
  readonly #remoteUri: string;
  readonly #localUri: string;
  readonly #remoteTarget: string;
  readonly #routeSet: readonly string[];
  readonly #flow: Flow;
  readonly #net: DialogNetwork;
  readonly #clock: Clock;
  #localCSeq: number;
  #remoteCSeq: number;
  /** Our SDP: session id fixed, version bumped when the answer changes. */
  readonly sdpSessionId: number = Math.floor(Math.random() * 1e9);
  #sdpVersion = 1;
  #lastAnswer = '';
  #call: Call | undefined;
  #outbound: PacedOutbound | undefined;
  #onHold = false;
  #state: 'early' | 'confirmed' | 'terminated' = 'early';
  readonly #onTerminated: (() => void)[] = [];
  #pending2xx: { response: SipResponse; timer: TimerHandle; interval: number; since: number } | undefined;
  #stopBye: (() => void) | undefined;
  readonly #transfer: BlindTransfer;
  /** Keys voxline presses into the call (the agent's send_dtmf), sent by the pacer. */
  readonly #keys = new DtmfSender();

  constructor(
    dialog: DialogState,
    /** Where the dialog's requests go (for an answered INVITE: where it came from). */
    flow: Flow,
    sessions: (RtpSession | undefined)[],
    siprec: boolean,
    net: DialogNetwork,
    /** What the 2xx and BYE retransmissions run on (the system clock unless a test drives time). */
    clock: Clock = systemClock,
  ) {
    this.callId = dialog.callId;
    this.localTag = dialog.localTag;
    this.remoteTag = dialog.remoteTag;
    this.initiator = dialog.initiator;
    this.#remoteUri = dialog.remoteUri;
    this.#localUri = dialog.localUri;
    this.#remoteTarget = dialog.remoteTarget;
    this.#routeSet = dialog.routeSet;
    this.#localCSeq = dialog.localCSeq;
    this.#remoteCSeq = dialog.remoteCSeq;
    if (dialog.sdpSessionId !== undefined) this.sdpSessionId = dialog.sdpSessionId;
    this.#flow = flow;
    this.#net = net;
    this.#clock = clock;
    this.sessions = sessions;
    this.siprec = siprec;
    this.#transfer = new BlindTransfer(clock, () =>
      this.#call?.log.warn({ waitMs: TRANSFER_WAIT_MS }, 'no final NOTIFY for the REFER: taken as done'),
    );
  }

  get state(): 'early' | 'confirmed' | 'terminated' {
    return this.#state;
  }

  /** The call this dialog carries, once opened. */
  get call(): Call | undefined {
    return this.#call;
  }

  /** What voxline sends into the call, once sending started. */
  get outbound(): PacedOutbound | undefined {
    return this.#outbound;
  }

  get onHold(): boolean {
    return this.#onHold;
  }

  /** The CSeq of the far end's last request in the dialog. */
  get remoteCSeq(): number {
    return this.#remoteCSeq;
  }

  get sdpVersion(): number {
    return this.#sdpVersion;
  }

  /** Our last SDP answer. */
  get lastAnswer(): string {
    return this.#lastAnswer;
  }

  /** The call opened on this dialog: it is told when the dialog holds. */
  attach(call: Call): void {
    this.#call = call;
  }

  /** A request in the dialog with a newer CSeq. */
  acceptCSeq(seq: number): void {
    this.#remoteCSeq = seq;
  }

  /** The first SDP answer (in the 200 OK to the INVITE). */
  answeredWith(sdp: string): void {
    this.#lastAnswer = sdp;
  }

  /** A re-INVITE changed our answer: the o= version moves. */
  reansweredWith(sdp: string): void {
    this.#sdpVersion++;
    this.#lastAnswer = sdp;
  }

  /** The far end put the call on hold (or resumed); true when that changed anything. */
  hold(held: boolean): boolean {
    if (held === this.#onHold) return false;
    this.#onHold = held;
    this.#call?.setHeld(held);
    return true;
  }

  /** Runs `fn` once the dialog is terminated (at once if it already is). */
  onTerminated(fn: () => void): void {
    if (this.#state === 'terminated') fn();
    else this.#onTerminated.push(fn);
  }

  /** CallTransport: the RTP counters per stream. */
  mediaStats(): RtpStats[] {
    return this.rtpStats();
  }

  /** Where the dialog's requests came from (its TCP connection, if any). */
  get flow(): Flow {
    return this.#flow;
  }

  /** Dialog-creating responses copy Record-Route (§12.1.1) and carry our Contact. */
  dialogHeaders(): [string, string][] {
    const contact = `<${this.#net.contact(this.#flow.transport)}>${this.siprec ? ';+sip.srs' : ''}`;
    return [
      ...this.#routeSet.map((r): [string, string] => ['record-route', r]),
      ['contact', contact],
      ['allow', ALLOW],
      ['supported', this.siprec ? 'siprec' : 'timer'],
    ];
  }

  /** Sends a 2xx to an INVITE and keeps resending it (T1, doubling to T2) until the ACK. */
  send2xx(response: SipResponse, onNoAck: () => void): void {
    this.#stop2xx();
    this.#net.send(response, this.#flow);
    if (this.#flow.transport === 'TCP') {
      // Reliable transport: no resends, but the ACK must still come within 64·T1.
      const timer = this.#clock.setTimeout(onNoAck, TIMER_H);
      this.#pending2xx = { response, timer, interval: T1, since: this.#clock.now() };
      return;
    }
    const resend = (interval: number) => {
      const since = this.#pending2xx?.since ?? this.#clock.now();
      if (this.#clock.now() - since >= TIMER_H) {
        this.#pending2xx = undefined;
        onNoAck();
        return;
      }
      this.#net.send(response, this.#flow);
      const next = Math.min(2 * interval, T2);
      const timer = this.#clock.setTimeout(() => resend(next), next);
      this.#pending2xx = { response, timer, interval: next, since };
    };
    const timer = this.#clock.setTimeout(() => resend(T1), T1);
    this.#pending2xx = { response, timer, interval: T1, since: this.#clock.now() };
  }

  /** The ACK for the 2xx came. */
  acknowledged(): void {
    this.#stop2xx();
    if (this.#state === 'early') this.#state = 'confirmed';
  }

  /** A retransmitted INVITE (same transaction): resend what we answered. */
  resend2xx(): boolean {
    if (!this.#pending2xx) return false;
    this.#net.send(this.#pending2xx.response, this.#flow);
    return true;
  }

  /** What voxline sends into the call: the agent's voice when it has one, silence otherwise. */
  startSending(clock: MediaClock, onFailure: (error: unknown) => void): PacedOutbound | undefined {
    const session = this.sessions.find((s) => s !== undefined);
    if (!session || this.siprec) return undefined;
    const encode = rtpFrameEncoder(session.codec);
    let talking = false;
    this.#outbound = new PacedOutbound(
      clock,
      (frame) => {
        if (this.#onHold) {
          session.skip(160); // no media while held; the RTP clock still runs
          return;
        }
        const key = this.#keys.next();
        if (key) {
          session.sendKey(key.payload, key.start, 160); // a key instead of this frame of audio
          talking = false;
          return;
        }
        if (!frame) {
          talking = false;
          session.send(encode(undefined));
          return;
        }
        session.send(encode(frame), !talking); // M bit: talkspurt start
        talking = true;
      },
      onFailure,
      // Held: the clock runs (skip) and queued audio is used up, as before; not yet latched: it waits.
      () => this.#onHold || session.canSend,
    );
    return this.#outbound;
  }

  /**
   * CallTransport: presses `keys` towards the far end as RFC 4733 telephone-events on the call's
   * RTP (100 ms each, 60 ms apart), in place of voxline's audio while they play. Resolves once the
   * last is sent; needs agent mode (voxline sends media) and telephone-event in the offer.
   */
  sendDigits(keys: string): Promise<void> {
    const session = this.sessions.find((s) => s !== undefined);
    if (!this.#outbound || !session || this.#state === 'terminated')
      return Promise.reject(
        new VoxlineError(
          'VL_ERR_CALL_CONTROL_FAILED',
          'keys go out only while voxline sends media (agent mode)',
        ),
      );
    if (session.dtmfPt === undefined)
      return Promise.reject(
        new VoxlineError(
          'VL_ERR_CALL_CONTROL_FAILED',
          'the far end did not offer telephone-event (RFC 4733)',
        ),
      );
    return this.#keys.send(keys);
  }

  rtpStats(): RtpStats[] {
    return this.sessions.filter((s): s is RtpSession => s !== undefined).map((s) => s.stats());
  }

  /** CallTransport: voxline ends the call (idle timeout, shutdown, the agent hung up). */
  close(_code: number, reason: string): void {
    if (this.#state === 'terminated') return;
    this.#call?.log.info({ reason }, 'ending SIP call with BYE');
    this.sendBye();
    this.terminate();
  }

  /** A BYE within the dialog (§15.1.1), resent over UDP until answered or 64·T1. */
  sendBye(): void {
    if (this.#state === 'terminated') return;
    this.#stopBye?.();
    this.#stopBye = this.#sendNonInvite(this.#request('BYE'));
  }

  /** The far end answered our BYE. */
  byeAnswered(): void {
    this.#stopBye?.();
  }

  /**
   * CallTransport: a blind transfer (RFC 3515, RFC 5589 §6): a REFER to `target` in the dialog,
   * then the far end's NOTIFYs say how calling the target went (BlindTransfer). Voxline hangs up
   * its side once it resolves; on a rejection the caller is still here.
   */
  transfer(target: string): Promise<void> {
    if (this.#state !== 'confirmed')
      return Promise.reject(new VoxlineError('VL_ERR_CALL_CONTROL_FAILED', `the dialog is ${this.#state}`));
    if (this.#transfer.inProgress)
      return Promise.reject(
        new VoxlineError('VL_ERR_CALL_CONTROL_FAILED', 'a transfer is already in progress'),
      );
    let referTo: string;
    try {
      referTo = referTarget(target, this.#remoteTarget);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#transfer.begin((onNoAnswer) => {
      const request = this.#request('REFER', [
        ['refer-to', `<${referTo}>`],
        ['referred-by', `<${addressUri(this.#localUri)}>`],
        ['contact', `<${this.#net.contact(this.#flow.transport)}>`],
      ]);
      return { cseq: this.#localCSeq, stop: this.#sendNonInvite(request, onNoAnswer) };
    });
  }

  /** The far end's answer to our REFER. */
  referAnswered(response: SipResponse): void {
    this.#transfer.referAnswered(response);
  }

  /** A NOTIFY in the dialog: the status to answer it with. */
  notified(request: SipRequest): number {
    return this.#transfer.notified(request);
  }

  /** A request of ours in the dialog (§12.2.1.1): a new branch and the next CSeq. */
  #request(method: string, extra: [string, string][] = []): SipRequest {
    const headers = Headers.from([
      [
        'via',
        `SIP/2.0/${this.#flow.transport} ${this.#net.viaHost(this.#flow.transport)};branch=${newBranch()};rport`,
      ],
      ['max-forwards', '70'],
      ['from', this.#localUri],
      ['to', this.#remoteUri],
      ['call-id', this.callId],
      ['cseq', `${++this.#localCSeq} ${method}`],
      ['user-agent', USER_AGENT],
      ...this.#routeSet.map((r): [string, string] => ['route', r]),
      ...extra,
    ]);
    return { kind: 'request', method, uri: this.#remoteTarget, headers, body: Buffer.alloc(0) };
  }

  /**
   * Sends a non-INVITE request: over UDP again at T1, doubling to T2 (§17.1.2.2, Timer E), until
   * the returned stop is called; `onNoAnswer` once 64·T1 pass without that (Timer F).
   */
  #sendNonInvite(request: SipRequest, onNoAnswer: () => void = () => undefined): () => void {
    this.#net.send(request, this.#flow);
    let interval = T1;
    let elapsed = 0;
    let timer: TimerHandle | undefined;
    const udp = this.#flow.transport === 'UDP';
    const tick = () => {
      elapsed += udp ? interval : TIMER_F;
      if (elapsed >= TIMER_F) {
        timer = undefined;
        onNoAnswer();
        return;
      }
      this.#net.send(request, this.#flow);
      interval = Math.min(2 * interval, T2);
      timer = this.#clock.setTimeout(tick, interval);
      timer.unref();
    };
    timer = this.#clock.setTimeout(tick, udp ? interval : TIMER_F);
    timer.unref();
    return () => {
      this.#clock.clearTimeout(timer);
      timer = undefined;
    };
  }

  /** Stops media and timers (the BYE, if any, has been sent). Idempotent. */
  terminate(): void {
    if (this.#state === 'terminated') return;
    this.#state = 'terminated';
    this.#stop2xx();
    this.#outbound?.end();
    this.#keys.abort('the call ended before the keys were sent');
    for (const s of this.sessions) s?.close();
    this.#transfer.dialogEnded();
    for (const fn of this.#onTerminated.splice(0)) fn();
  }

  #stop2xx(): void {
    if (this.#pending2xx) this.#clock.clearTimeout(this.#pending2xx.timer);
    this.#pending2xx = undefined;
  }
}
