import type { Clock, TimerHandle } from '../../../clock.js';
import { parseCSeq, parseVia, type SipRequest, type SipResponse } from '../sip-message.js';
import { ackForFinal, cancelFor } from './uac-messages.js';

const T1 = 500;
const T2 = 4000;
/** Timer B (no answer to the INVITE), F (no answer to the CANCEL), M (RFC 6026 Accepted). */
const SIXTY_FOUR_T1 = 64 * T1;
/** Timer D over UDP: retransmitted finals are ACKed again this long. */
const TIMER_D = 32_000;

export interface InviteClientEvents {
  provisional(response: SipResponse): void;
  /** Every 2xx, retransmissions included (RFC 6026: the Accepted state passes them all up). */
  success(response: SipResponse): void;
  /** The first non-2xx final, already ACKed. */
  failure(response: SipResponse): void;
  /** No final answer: no response at all (Timer B), or none 64·T1 after our CANCEL (§9.1). */
  timeout(why: 'no_response' | 'cancel_unanswered'): void;
  /** Over: its branch may be forgotten. */
  terminated(): void;
}

type State = 'calling' | 'proceeding' | 'accepted' | 'completed' | 'terminated';

/**
 * An INVITE client transaction over UDP or TCP (RFC 3261 §17.1.1, RFC 6026's Accepted state) and
 * the CANCEL of it (§9.1, a non-INVITE transaction on the same branch, §17.1.2): Timer A
 * resends the INVITE until a response (UDP only), Timer B gives up; a CANCEL waits for a provisional.
 */
export class InviteClient {
  readonly request: SipRequest;
  readonly branch: string;
  /** The INVITE's CSeq number: a response with another belongs to no request of ours. */
  readonly #seq: number;
  readonly #send: (request: SipRequest) => void;
  readonly #clock: Clock;
  readonly #events: InviteClientEvents;
  /** TCP: nothing is resent, and nothing lingers for retransmissions (§17.1.1.2, §17.1.2.2). */
  readonly #reliable: boolean;
  #state: State = 'calling';
  #timerA: TimerHandle | undefined;
  #timerB: TimerHandle | undefined;
  #linger: TimerHandle | undefined;
  #cancelWanted = false;
  #cancelResend: TimerHandle | undefined;
  #cancelDeadline: TimerHandle | undefined;
  #ack: SipRequest | undefined;

  constructor(
    request: SipRequest,
    send: (request: SipRequest) => void,
    clock: Clock,
    events: InviteClientEvents,
    reliable = false,
  ) {
    this.request = request;
    this.branch = parseVia(request.headers.lines('via')[0] ?? '').params.get('branch') ?? '';
    this.#seq = parseCSeq(request.headers.get('cseq') as string).seq;
    this.#send = send;
    this.#clock = clock;
    this.#events = events;
    this.#reliable = reliable;
  }

  get state(): State {
    return this.#state;
  }

  start(): void {
    this.#send(this.request);
    if (!this.#reliable) this.#resendInvite();
    this.#timerB = this.#clock.setTimeout(() => {
      if (this.#state !== 'calling') return;
      this.#terminate();
      this.#events.timeout('no_response');
    }, SIXTY_FOUR_T1);
  }

  /** Timer A: the INVITE again at T1, 2·T1, … until a response. */
  #resendInvite(): void {
    const resend = (interval: number) => {
      this.#timerA = this.#clock.setTimeout(() => {
        if (this.#state !== 'calling') return;
        this.#send(this.request);
        resend(2 * interval); // Timer A doubles without the T2 cap (§17.1.1.2)
      }, interval);
    };
    resend(T1);
  }

  /** A response whose top Via carries this branch (to the INVITE or to its CANCEL). */
  receive(response: SipResponse): void {
    // Matched by branch and CSeq method (§17.1.3); the CSeq number too, as nothing else shares the branch.
    const cseq = parseCSeq(response.headers.get('cseq') as string);
    if (cseq.seq !== this.#seq) return;
    if (cseq.method === 'CANCEL') {
      this.#clock.clearTimeout(this.#cancelResend); // any answer ends the CANCEL's resending
      return;
    }
    if (cseq.method !== 'INVITE') return;
    const { status } = response;
    const open = this.#state === 'calling' || this.#state === 'proceeding';
    if (status < 200) {
      if (!open) return;
      this.#proceeding();
      this.#events.provisional(response);
      if (this.#cancelWanted) this.#sendCancel();
      return;
    }
    if (status < 300) {
      if (open) {
        this.#stopTimers();
        this.#state = 'accepted';
        this.#lingerFor(SIXTY_FOUR_T1);
      }
      if (this.#state === 'accepted') this.#events.success(response);
      return;
    }
    if (this.#state === 'completed' && this.#ack) {
      this.#send(this.#ack); // our ACK was lost: the final came again
      return;
    }
    if (!open) return;
    this.#stopTimers();
    this.#state = 'completed';
    this.#ack = ackForFinal(this.request, response);
    this.#send(this.#ack);
    this.#lingerFor(this.#reliable ? 0 : TIMER_D);
    this.#events.failure(response);
  }

  /** Cancels the INVITE: at once if a provisional came, else as soon as one does (§9.1). */
  cancel(): void {
    if (this.#cancelWanted || (this.#state !== 'calling' && this.#state !== 'proceeding')) return;
    this.#cancelWanted = true;
    if (this.#state === 'proceeding') this.#sendCancel();
  }

  /** Stops every timer without a word to anyone (shutdown). */
  dispose(): void {
    this.#stopTimers();
    this.#clock.clearTimeout(this.#linger);
    this.#state = 'terminated';
  }

  #proceeding(): void {
    if (this.#state !== 'calling') return;
    this.#state = 'proceeding';
    this.#clock.clearTimeout(this.#timerA);
    this.#clock.clearTimeout(this.#timerB);
  }

  #sendCancel(): void {
    if (this.#cancelDeadline) return;
    const cancel = cancelFor(this.request);
    this.#send(cancel);
    const started = this.#clock.now();
    const resend = (interval: number) => {
      if (this.#reliable) return;
      this.#cancelResend = this.#clock.setTimeout(() => {
        if (this.#clock.now() - started >= SIXTY_FOUR_T1) return; // Timer F
        this.#send(cancel);
        resend(Math.min(2 * interval, T2)); // Timer E
      }, interval);
    };
    resend(T1);
    this.#cancelDeadline = this.#clock.setTimeout(() => {
      if (this.#state !== 'proceeding') return;
      this.#terminate();
      this.#events.timeout('cancel_unanswered');
    }, SIXTY_FOUR_T1);
  }

  #lingerFor(ms: number): void {
    this.#linger = this.#clock.setTimeout(() => this.#terminate(), ms);
  }

  #stopTimers(): void {
    for (const t of [this.#timerA, this.#timerB, this.#cancelResend, this.#cancelDeadline])
      this.#clock.clearTimeout(t);
  }

  #terminate(): void {
    if (this.#state === 'terminated') return;
    this.dispose();
    this.#events.terminated();
  }
}
