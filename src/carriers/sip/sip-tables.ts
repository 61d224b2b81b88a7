import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../../clock.js';
import type { InviteTransaction } from './invite-context.js';
import type { SipCall } from './sip-call.js';
import { parseCSeq, parseVia, type SipMessage, type SipRequest } from './sip-message.js';
import type { Flow } from './sip-transport.js';

/** A transaction is kept this long after its final answer: the ACK to an error, late retransmissions. */
const TRANSACTION_LINGER_MS = 32_000;
/** A dialog is kept this long after its call ended, for a late BYE answer or retransmitted requests. */
const DIALOG_LINGER_MS = 32_000;
/** Non-2xx finals over UDP are resent from this interval, doubling up to the cap (RFC 3261 timer G). */
const RESEND_FIRST_MS = 500;
const RESEND_MAX_MS = 4_000;

const TAG = /;\s*tag=([^;\s]+)/i;

/**
 * The INVITE transactions a SIP server keeps (matched by Call-ID, top Via branch and CSeq), each
 * forgotten TRANSACTION_LINGER_MS after its final answer, and the resending of error finals until
 * their ACK.
 */
export class InviteTransactions {
  readonly #clock: Clock;
  readonly #byKey = new Map<string, InviteTransaction>();
  /** Retransmission timers of non-2xx finals, by transaction key. */
  readonly #resends = new Map<string, TimerHandle>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The key a request (an INVITE, its CANCEL or the ACK to its error) matches its transaction by. */
  static keyOf(request: SipRequest): string {
    const branch = parseVia(request.headers.all('via')[0] ?? '').params.get('branch') ?? '';
    const cseq = parseCSeq(request.headers.get('cseq') as string);
    return `${request.headers.get('call-id')}\u241f${branch}\u241f${cseq.seq}`;
  }

  get size(): number {
    return this.#byKey.size;
  }

  get(key: string): InviteTransaction | undefined {
    return this.#byKey.get(key);
  }

  add(tx: InviteTransaction): void {
    this.#byKey.set(tx.key, tx);
  }

  /** Forgets the transaction (and stops resending its answer) TRANSACTION_LINGER_MS from now. */
  linger(tx: InviteTransaction): void {
    this.#clock
      .setTimeout(() => {
        this.#byKey.delete(tx.key);
        this.#stopResending(tx.key);
      }, TRANSACTION_LINGER_MS)
      .unref();
  }

  /** Resends the transaction's last answer with `send`, backing off, until its ACK or it is forgotten. */
  resendUntilAcked(tx: InviteTransaction, send: (message: SipMessage, flow: Flow) => void): void {
    let interval = RESEND_FIRST_MS;
    const arm = () => {
      const timer = this.#clock.setTimeout(again, interval);
      timer.unref();
      this.#resends.set(tx.key, timer);
    };
    const again = () => {
      this.#resends.delete(tx.key);
      if (!this.#byKey.has(tx.key) || tx.last === undefined) return;
      send(tx.last, tx.flow);
      interval = Math.min(2 * interval, RESEND_MAX_MS);
      arm();
    };
    arm();
  }

  /** The ACK to an error answer came (it shares the INVITE's branch, §17.1.1.3). */
  acked(key: string): void {
    this.#stopResending(key);
  }

  /** An INVITE still being answered on this TCP connection. */
  answeringOn(connection: Socket): boolean {
    for (const tx of this.#byKey.values())
      if (tx.final === undefined && tx.flow.connection === connection) return true;
    return false;
  }

  clear(): void {
    for (const timer of this.#resends.values()) this.#clock.clearTimeout(timer);
    this.#resends.clear();
    this.#byKey.clear();
  }

  #stopResending(key: string): void {
    this.#clock.clearTimeout(this.#resends.get(key));
    this.#resends.delete(key);
  }
}

/** Answered dialogs by `Call-ID ␟ our tag`, each kept DIALOG_LINGER_MS after its call ended. */
export class SipDialogs {
  readonly #clock: Clock;
  readonly #byKey = new Map<string, SipCall>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get size(): number {
    return this.#byKey.size;
  }

  keep(dialog: SipCall): void {
    const key = dialogKey(dialog.callId, dialog.localTag);
    this.#byKey.set(key, dialog);
    dialog.onTerminated(() =>
      this.#clock
        .setTimeout(() => {
          if (this.#byKey.get(key) === dialog) this.#byKey.delete(key);
        }, DIALOG_LINGER_MS)
        .unref(),
    );
  }

  /** The dialog a request belongs to: our tag is in its To. */
  ofRequest(request: SipRequest): SipCall | undefined {
    const toTag = TAG.exec(request.headers.get('to') ?? '')?.[1];
    if (!toTag) return undefined;
    return this.#byKey.get(dialogKey(request.headers.get('call-id') as string, toTag));
  }

  /** The dialog an answer to our own request (a BYE) belongs to: our tag is in its From. */
  ofResponse(response: SipMessage): SipCall | undefined {
    const fromTag = TAG.exec(response.headers.get('from') ?? '')?.[1] ?? '';
    return this.#byKey.get(dialogKey(response.headers.get('call-id') as string, fromTag));
  }

  /** A live dialog sends on this TCP connection. */
  liveOn(connection: Socket): boolean {
    for (const dialog of this.#byKey.values())
      if (dialog.state !== 'terminated' && dialog.flow.connection === connection) return true;
    return false;
  }

  values(): IterableIterator<SipCall> {
    return this.#byKey.values();
  }
}

function dialogKey(callId: string, localTag: string): string {
  return `${callId}\u241f${localTag}`;
}
