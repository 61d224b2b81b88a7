import type { ReinviteContext } from './invite-context.js';
import {
  type AnsweredStream,
  answerDirection,
  isLegacyHold,
  type Offer,
  readOffer,
  writeAnswer,
} from './sdp.js';
import type { SipCall } from './sip-call.js';
import { parseCSeq, type SipRequest } from './sip-message.js';
import { responseTo, sessionTimer } from './sip-responses.js';
import type { Flow } from './sip-transport.js';
import { splitMultipart } from './siprec.js';

/**
 * A re-INVITE in a dialog (RFC 3261 §14.2): a retransmission is answered again, an older CSeq
 * gets 500, a new offer keeps the m-lines (or 488) and moves hold state (RFC 3264 §8.4, with the
 * RFC 2543 c=0.0.0.0 form); the answer's o= version moves only when the SDP does.
 */
export function answerReinvite(
  server: ReinviteContext,
  dialog: SipCall,
  request: SipRequest,
  flow: Flow,
): void {
  const seq = parseCSeq(request.headers.get('cseq') as string).seq;
  if (seq === dialog.remoteCSeq && dialog.resend2xx()) return; // retransmission
  if (seq < dialog.remoteCSeq) {
    server.send(responseTo(request, 500, flow, undefined, [['retry-after', '1']]), flow);
    return;
  }
  dialog.acceptCSeq(seq);
  let answer = dialog.lastAnswer;
  if (request.body.length > 0) {
    let offer: Offer;
    try {
      const type = request.headers.get('content-type') ?? '';
      const sdp = type.toLowerCase().startsWith('multipart/')
        ? splitMultipart(type, request.body.toString('utf8'))?.find((p) =>
            p.contentType.startsWith('application/sdp'),
          )?.body
        : request.body.toString('utf8');
      offer = readOffer(sdp ?? '', server.options);
    } catch {
      server.send(responseTo(request, 488, flow, undefined), flow);
      return;
    }
    if (offer.streams.length !== dialog.sessions.length) {
      server.send(
        responseTo(request, 488, flow, undefined, [
          ['warning', '399 voxline "a re-offer must keep the m-lines"'],
        ]),
        flow,
      );
      return;
    }
    // Hold: the far end stops sending to us. An SRC always sends only (sendonly is its normal
    // state), so for SIPREC only inactive streams are a pause.
    const silent = (s: Offer['streams'][number]) =>
      s.direction === 'inactive' || isLegacyHold(s) || (!dialog.siprec && s.direction === 'sendonly');
    const held = offer.streams.every((s, i) => !dialog.sessions[i] || silent(s));
    if (dialog.hold(held)) {
      dialog.call?.recordStatus(held ? 'hold' : 'resume', {});
      dialog.call?.log.info(held ? 'call on hold' : 'call resumed');
    }
    for (const [i, s] of offer.streams.entries())
      if (!isLegacyHold(s)) dialog.sessions[i]?.retarget(s.address, s.port);
    const next = writeAnswer(
      { address: server.host, sessionId: dialog.sdpSessionId, version: dialog.sdpVersion + 1 },
      offer.streams.map(
        (stream, i): AnsweredStream => ({
          stream: { ...stream, codec: dialog.sessions[i] ? stream.codec : undefined },
          port: dialog.sessions[i]?.localPort,
          direction: isLegacyHold(stream) ? 'inactive' : answerDirection(stream.direction, dialog.siprec),
        }),
      ),
    );
    // The version moves only when the SDP does (RFC 3264 §8): a refresh gets the same o= line.
    if (stripOrigin(next) !== stripOrigin(dialog.lastAnswer)) {
      dialog.reansweredWith(next);
      answer = next;
    }
  }
  const ok = responseTo(
    request,
    200,
    flow,
    dialog.localTag,
    [...dialog.dialogHeaders(), ...sessionTimer(request)],
    {
      type: 'application/sdp',
      content: answer,
    },
  );
  dialog.send2xx(ok, () => dialog.call?.log.warn('no ACK for the re-INVITE 200 OK'));
}

function stripOrigin(sdp: string): string {
  return sdp.replace(/^o=.*$/m, '');
}
