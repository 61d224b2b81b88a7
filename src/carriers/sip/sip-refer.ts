import { VoxlineError } from '../../errors.js';
import type { SipRequest } from './sip-message.js';

/** Characters that would let a target break out of `Refer-To: <…>` or its header line. */
const UNSAFE = /[\s<>"]/;

/**
 * The Refer-To URI for an operator's transfer target: a SIP URI as it is; a number becomes a SIP
 * URI at the far end's host (the PBX or trunk that sent the call routes it), marked user=phone.
 */
export function referTarget(target: string, remoteTarget: string): string {
  if (UNSAFE.test(target))
    throw new VoxlineError('VL_ERR_CALL_CONTROL_FAILED', 'the target is not a plain URI');
  if (/^sips?:/i.test(target)) return target;
  if (!/^\+?[0-9]{3,15}$/.test(target))
    throw new VoxlineError('VL_ERR_CALL_CONTROL_FAILED', 'the target is neither a number nor a SIP URI');
  // sip:user@host:port;params → host:port (the far end's host, IPv6 brackets kept).
  const host = /^sips?:(?:[^@]*@)?(\[[^\]]+\](?::[0-9]+)?|[^;?>]+)/i.exec(remoteTarget)?.[1];
  if (!host)
    throw new VoxlineError('VL_ERR_CALL_CONTROL_FAILED', 'the dialog has no host to send a number to');
  return `sip:${target}@${host};user=phone`;
}

/**
 * The status line a REFER's NOTIFY reports (RFC 3515 §2.4.5: a message/sipfrag body, `SIP/2.0 200
 * OK`), or undefined when the body is not one.
 */
export function sipfragStatus(
  body: Buffer,
): { readonly status: number; readonly reason: string } | undefined {
  const line = /^SIP\/2\.0 ([1-6][0-9]{2})(?: ([^\r\n]{0,100}))?/.exec(
    body.subarray(0, 200).toString('latin1'),
  );
  return line ? { status: Number(line[1]), reason: line[2]?.trim() ?? '' } : undefined;
}

/** True when the NOTIFY is about a REFER (its Event header is `refer`, any id). */
export function isReferNotify(request: SipRequest): boolean {
  return /^\s*refer\s*(;|$)/i.test(request.headers.get('event') ?? '');
}

/** True when the NOTIFY says the subscription is over (`Subscription-State: terminated`). */
export function subscriptionEnded(request: SipRequest): boolean {
  return /^\s*terminated/i.test(request.headers.get('subscription-state') ?? '');
}
