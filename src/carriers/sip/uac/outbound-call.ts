import type { FastifyBaseLogger } from 'fastify';
import type { Call } from '../../../calls/call.js';
import type { DialRequest } from '../../../calls/outbound/dialer.js';
import type { CallStart, LegLabels } from '../../carrier.js';
import type { RtpSession } from '../rtp-session.js';
import type { SdpCodec } from '../sdp.js';
import { type DialogState, SipCall } from '../sip-call.js';
import { sipCallSid } from '../sip-ids.js';
import { addressUri } from '../sip-message.js';
import type { SipServer } from '../sip-server.js';
import type { Flow } from '../sip-transport.js';

/** What an outbound call needs from the SIP server it leaves from. */
export type UacServer = Pick<
  SipServer,
  'edge' | 'options' | 'log' | 'host' | 'clock' | 'send' | 'contact' | 'viaHost' | 'keepDialog' | 'refused'
>;

/**
 * The CallStart of an answered outbound INVITE: the same model as an inbound SIP call, one leg
 * (`inbound`: what the far end sends). The callee is on the leg labelled LEG_LABEL_INBOUND, as
 * the far party is on every carrier's calls (a Twilio outbound call's `inbound` track is the
 * callee too), so consumers, the agent and the transcript need not know who dialled whom;
 * `customParameters.direction` says `outbound`.
 */
export function outboundCallStart(
  legs: LegLabels,
  dial: DialRequest,
  dialog: Pick<DialogState, 'callId' | 'localTag' | 'localUri' | 'remoteUri'>,
  codec: SdpCodec,
): CallStart {
  const callee = addressUri(dialog.remoteUri);
  const caller = addressUri(dialog.localUri);
  return {
    ingress: 'sip',
    callSid: sipCallSid(dialog.callId, 'SIP'),
    streamSid: `${dialog.callId};tag=${dialog.localTag}`,
    tracks: ['inbound'],
    legs: [{ track: 'inbound', label: legs.inbound, codec }],
    participants: [
      { role: legs.inbound, address: callee },
      { role: 'caller-id', address: caller },
    ],
    agentLabel: legs.outbound,
    // The request's parameters first: voxline's own keys are never overridden by them.
    customParameters: {
      ...dial.parameters,
      voxlineDialId: dial.id,
      direction: 'outbound',
      sipCallId: dialog.callId,
      from: caller,
      to: callee,
    },
    mode: dial.mode,
    bidirectional: dial.mode === 'agent',
  };
}

/**
 * Opens the call on an answered (and ACKed) outbound dialog, as invite-handler.ts does for an
 * inbound one: the dialog kept by the server (so the far end's BYE and re-INVITEs find it), the
 * RTP stream feeding the leg, silence or the agent's voice going back. Throws (the dialog ended
 * with a BYE first) when the registry will not take the call.
 */
export function openOutboundCall(
  server: UacServer,
  dial: DialRequest,
  dialogState: DialogState,
  flow: Flow,
  rtp: RtpSession,
  offer: string,
): Call {
  const { edge } = server;
  const dialog = new SipCall(dialogState, flow, [rtp], false, server, server.clock);
  dialog.answeredWith(offer); // our side of the session, for re-INVITE answers to stay consistent
  dialog.acknowledged();
  server.keepDialog(dialog);
  const start = outboundCallStart(edge.legs, dial, dialogState, rtp.codec);
  const log = edge.log.child({ callSid: start.callSid, ingress: start.ingress });
  let call: Call | undefined;
  const failed = (err: unknown) => callFailed(server, call, log, err);
  const outbound = dialog.startSending(edge.clock, failed);
  try {
    call = edge.registry.open(start, dialog, log, start.mode === 'agent' ? outbound : undefined);
  } catch (err) {
    dialog.close(1013, 'refused');
    throw err;
  }
  const opened = call;
  dialog.attach(opened);
  const leg = opened.legs.get('inbound');
  if (leg)
    rtp.attach({
      leg,
      onActivity: () => opened.noteActivity(),
      // Digits are call data, never log data.
      onDtmf: (digit) => opened.recordDtmf(digit, 'inbound'),
      onFailure: failed,
    });
  opened.scope.defer(() => {
    dialog.terminate();
    for (const stream of dialog.rtpStats())
      if (stream.packets > 1)
        edge.metrics.ingress.jitter.observe({ ingress: 'sip' }, stream.maxJitterMs / 1000);
  });
  log.info({ mode: start.mode, codec: rtp.codec, dialId: dial.id }, 'outbound SIP call answered');
  return opened;
}

function callFailed(server: UacServer, call: Call | undefined, log: FastifyBaseLogger, err: unknown): void {
  server.edge.metrics.ingress.failures.inc({ ingress: 'sip' });
  log.error({ err }, 'SIP call media failed: ending the call');
  if (call) void call.hangUp(1011, 'internal error', 'internal_error');
}
