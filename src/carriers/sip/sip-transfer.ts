import type { Clock, TimerHandle } from '../../clock.js';
import { VoxlineError } from '../../errors.js';
import { parseCSeq, type SipRequest, type SipResponse } from './sip-message.js';
import { isReferNotify, sipfragStatus, subscriptionEnded } from './sip-refer.js';

/** After the 202: how long the transfer target may ring before voxline stops waiting for the NOTIFY. */
export const TRANSFER_WAIT_MS = 60_000;

/** How the dialog sends the REFER: resent until `stop`, `onNoAnswer` after Timer F. */
export type SendRefer = (onNoAnswer: () => void) => { readonly cseq: number; readonly stop: () => void };

/** A REFER in flight (RFC 3515): answered by its response, then by the NOTIFYs it subscribes to. */
interface PendingTransfer {
  readonly cseq: number;
  accepted: boolean;
  /** The REFER was answered (202): resends stop, the wait for the final NOTIFY starts. */
  accept(): void;
  /** Ends the transfer: resolved without an error, rejected with one. */
  settle(error?: Error): void;
}

const failed = (detail: string) => new VoxlineError('VL_ERR_CALL_CONTROL_FAILED', detail);

/**
 * A dialog's blind transfer (RFC 3515, RFC 5589 §6), one at a time: the REFER, its answer, the
 * NOTIFYs (sipfrag) that say how calling the target went, and the end of the dialog. The dialog
 * (SipCall) builds and sends the requests; this holds the state between them.
 */
export class BlindTransfer {
  readonly #clock: Clock;
  readonly #onWaitOver: () => void;
  #pending: PendingTransfer | undefined;

  /** `onWaitOver`: told when the target rang past TRANSFER_WAIT_MS (taken as done). */
  constructor(clock: Clock, onWaitOver: () => void) {
    this.#clock = clock;
    this.#onWaitOver = onWaitOver;
  }

  get inProgress(): boolean {
    return this.#pending !== undefined;
  }

  /**
   * Resolves once the target answered (a 2xx sipfrag), the subscription ended or the far end
   * hung up after accepting, or the target rang past TRANSFER_WAIT_MS; rejects, with the caller
   * still here, when the REFER is refused or unanswered or the target's call failed.
   */
  begin(send: SendRefer): Promise<void> {
    if (this.#pending) return Promise.reject(failed('a transfer is already in progress'));
    return new Promise<void>((resolve, reject) => {
      let wait: TimerHandle | undefined;
      const refer = send(() => pending.settle(failed('no answer to the REFER (Timer F, 32 s)')));
      const pending: PendingTransfer = {
        cseq: refer.cseq,
        accepted: false,
        accept: () => {
          if (pending.accepted) return;
          pending.accepted = true;
          refer.stop();
          wait = this.#clock.setTimeout(() => {
            this.#onWaitOver();
            pending.settle();
          }, TRANSFER_WAIT_MS);
        },
        settle: (error) => {
          if (this.#pending !== pending) return;
          this.#pending = undefined;
          refer.stop();
          this.#clock.clearTimeout(wait);
          if (error) reject(error);
          else resolve();
        },
      };
      this.#pending = pending;
    });
  }

  /** The far end's answer to a REFER (others' CSeqs are ignored). */
  referAnswered(response: SipResponse): void {
    const pending = this.#pending;
    if (!pending || parseCSeq(response.headers.get('cseq') as string).seq !== pending.cseq) return;
    if (response.status < 200) return;
    if (response.status < 300) pending.accept();
    else
      pending.settle(
        failed(`the far end refused the REFER: ${response.status} ${response.reason.slice(0, 100)}`),
      );
  }

  /** A NOTIFY in the dialog: the status to answer it with (489 for an event we never subscribed to). */
  notified(request: SipRequest): number {
    if (!isReferNotify(request)) return 489;
    const pending = this.#pending;
    if (!pending) return 481; // no transfer in flight: that subscription is over (RFC 6665 §4.1.3)
    const frag = sipfragStatus(request.body);
    if (frag && frag.status >= 300)
      pending.settle(failed(`calling the transfer target failed: ${frag.status} ${frag.reason}`));
    else if (frag && frag.status >= 200) pending.settle();
    else if (subscriptionEnded(request)) pending.settle(); // over without a final: taken as done
    return 200;
  }

  /** The dialog ended: after an accepted REFER that is the usual end of a blind transfer. */
  dialogEnded(): void {
    const pending = this.#pending;
    if (pending?.accepted) pending.settle();
    else pending?.settle(failed('the call ended before the REFER was answered'));
  }
}
