import { VOCABULARY_PARAMETER } from '../../postcall/context-bias.js';
import type { CallMode, CallStart, LegSpec, Participant } from '../carrier.js';
import type { SipCallStartContext } from './invite-context.js';
import type { OfferedStream } from './sdp.js';
import type { SipCall } from './sip-call.js';
import { sipCallSid } from './sip-ids.js';
import { addressUri, displayName, type SipRequest, uriUser } from './sip-message.js';
import { assignLegs, type RecordingMetadata } from './siprec.js';

const VOCABULARY_HEADER = 'x-voxline-vocabulary';
const MAX_VOCABULARY_CHARS = 4_096;

/**
 * The CallStart for an answered INVITE. Plain SIP: one leg (what the far end sends), the mode
 * routed by the dialled user. SIPREC: one leg per recorded stream, caller and agent told apart by
 * the metadata (siprec.ts) or the configured label; fills `streamTrack` (m-line index → track).
 */
export function sipCallStart(
  ctx: SipCallStartContext,
  request: SipRequest,
  /** Where the INVITE came from (SIPREC: the trunk picks the caller label). */
  source: { readonly address: string },
  dialog: Pick<SipCall, 'callId' | 'localTag' | 'siprec'>,
  /** The streams voxline took, in offer order (one for SIP, up to two for SIPREC). */
  wanted: readonly OfferedStream[],
  metadata: RecordingMetadata | undefined,
  streamTrack: Map<number, string>,
): CallStart {
  const names = ctx.legs;
  const h = request.headers;
  const from = h.get('from') as string;
  const to = h.get('to') as string;
  const user = uriUser(request.uri) || uriUser(addressUri(to));
  // X-Voxline-Vocabulary: the call's own context-bias terms for its refined transcript (a comma list).
  const vocabulary = h.get(VOCABULARY_HEADER)?.slice(0, MAX_VOCABULARY_CHARS);
  const custom = {
    sipCallId: dialog.callId,
    from: addressUri(from),
    to: addressUri(to),
    user,
    ...(vocabulary ? { [VOCABULARY_PARAMETER]: vocabulary } : {}),
  };
  if (!dialog.siprec) {
    const mode: CallMode = ctx.options.routes.get(user) ?? ctx.options.routes.get('*') ?? 'transcribe';
    streamTrack.set(wanted[0].index, 'inbound');
    const codec = wanted[0].codec?.name;
    return {
      ingress: 'sip',
      callSid: sipCallSid(dialog.callId, 'SIP'),
      streamSid: `${dialog.callId};tag=${dialog.localTag}`,
      tracks: ['inbound'],
      legs: [{ track: 'inbound', label: names.inbound, codec }],
      participants: [
        { role: names.inbound, name: displayName(from), address: addressUri(from) },
        { role: 'dialled', name: displayName(to), address: addressUri(to) },
      ],
      agentLabel: names.outbound,
      customParameters: custom,
      mode,
      bidirectional: mode === 'agent',
    };
  }
  const callerLabel =
    ctx.options.siprecCallerLabel.get(source.address) ?? ctx.options.siprecCallerLabel.get('*') ?? '1';
  const labels = wanted.map((s) => s.label ?? '');
  const assignment = assignLegs(labels, metadata, callerLabel);
  const legs: LegSpec[] = [];
  const participants: Participant[] = [];
  for (const stream of wanted) {
    const role = wanted.length === 1 ? 'mixed' : (assignment.roles.get(stream.label ?? '') ?? 'agent');
    const track = role === 'agent' ? 'outbound' : 'inbound';
    streamTrack.set(stream.index, track);
    const label = role === 'mixed' ? 'mixed' : role === 'caller' ? names.inbound : names.outbound;
    legs.push({ track, label, codec: stream.codec?.name });
    const who = assignment.senders.get(stream.label ?? '');
    if (who)
      participants.push({
        role: label,
        ...(who.name ? { name: who.name } : {}),
        ...(who.aor ? { address: who.aor } : {}),
      });
  }
  legs.sort((a, b) => a.track.localeCompare(b.track));
  ctx.log.info({ labels, method: assignment.method, legs }, 'SIPREC streams mapped to legs');
  return {
    ingress: 'siprec',
    callSid: sipCallSid(dialog.callId, 'SRS'),
    streamSid: `${dialog.callId};tag=${dialog.localTag}`,
    tracks: legs.map((l) => l.track),
    legs,
    participants,
    agentLabel: names.outbound,
    customParameters: { ...custom, legMapping: assignment.method },
    mode: 'transcribe',
    bidirectional: false,
  };
}
