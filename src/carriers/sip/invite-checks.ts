import type { InviteCheckContext } from './invite-context.js';
import { type Offer, readOffer, SdpError } from './sdp.js';
import type { SipRequest } from './sip-message.js';
import { isSiprecInvite, parseMetadata, type RecordingMetadata, splitMultipart } from './siprec.js';

/** Option tags voxline supports in `Require` (siprec only on a SIPREC INVITE). */
const SUPPORTED_REQUIRE = new Set(['timer']);

/** An INVITE refused: the status, the reason counted in metrics, and headers for the answer. */
export interface InviteRefusal {
  readonly status: number;
  readonly reason: string;
  readonly extra?: [string, string][];
}

/** What an INVITE asks for, once its body is read. */
export interface InviteRequest {
  readonly siprec: boolean;
  readonly offer: Offer;
  readonly metadata: RecordingMetadata | undefined;
}

/**
 * Every reason to refuse a new INVITE, in the order RFC 3261 §8.2 gives (420, 401/403, 503, 415,
 * 488); or what it asks for. `answering`: INVITEs between their 100 Trying and final answer.
 */
export function checkInvite(
  server: InviteCheckContext,
  request: SipRequest,
  answering: number,
): InviteRefusal | InviteRequest {
  const h = request.headers;
  const siprec = isSiprecInvite(h);
  const unsupported = h
    .all('require')
    .filter(
      (tag) => !SUPPORTED_REQUIRE.has(tag.toLowerCase()) && !(siprec && tag.toLowerCase() === 'siprec'),
    );
  if (unsupported.length > 0)
    return { status: 420, reason: 'bad_extension', extra: [['unsupported', unsupported.join(', ')]] };
  const { auth } = server;
  if (auth && !auth.verify(h.get('authorization'), 'INVITE')) {
    return h.get('authorization')
      ? { status: 403, reason: 'auth_failed' }
      : { status: 401, reason: 'auth_challenge', extra: [['www-authenticate', auth.challenge()]] };
  }
  const { registry } = server.edge;
  // INVITEs still being answered count too, or a burst could slip past the limit together.
  const sipCalls = registry.liveCountOf('sip') + registry.liveCountOf('siprec') + answering - 1;
  if (registry.draining) return { status: 503, reason: 'VL_ERR_DRAINING', extra: [['retry-after', '30']] };
  if (sipCalls >= server.options.maxCalls)
    return {
      status: 503,
      reason: 'sip_max_calls',
      extra: [
        ['retry-after', '5'],
        ['warning', `399 voxline "SIP_MAX_CALLS (${server.options.maxCalls}) reached"`],
      ],
    };
  // Before any port is taken or the phone rings: an overloaded gateway takes no more work.
  const overload = registry.overload();
  if (overload)
    return {
      status: 503,
      reason: overload.code,
      extra: [
        ['retry-after', String(overload.retryAfterS)],
        ['warning', `399 voxline "overloaded (${overload.reason})"`],
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
        server.log[server.logBudget.level('siprec_metadata')](
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
    return { siprec, offer: readOffer(sdp, server.options), metadata };
  } catch (err) {
    if (!(err instanceof SdpError)) throw err;
    return {
      status: 488,
      reason: 'bad_sdp',
      extra: [['warning', `399 voxline "${err.message.replace(/"/g, "'").slice(0, 100)}"`]],
    };
  }
}
