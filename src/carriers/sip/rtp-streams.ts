import type { RtpStreamContext } from './invite-context.js';
import { RtpSession } from './rtp-session.js';
import type { Offer, OfferedStream } from './sdp.js';
import type { Flow } from './sip-transport.js';

/**
 * Binds one RTP socket per stream taken (undefined for the others, so indexes match the offer),
 * one after another; if one cannot be bound, those already bound are closed before the error
 * goes on (binding them together once leaked them).
 */
export async function openRtpStreams(
  server: RtpStreamContext,
  signalling: Flow,
  offer: Offer,
  wanted: readonly OfferedStream[],
  siprec: boolean,
): Promise<(RtpSession | undefined)[]> {
  const { options } = server;
  const sessions: (RtpSession | undefined)[] = [];
  try {
    for (const stream of offer.streams) {
      if (!wanted.includes(stream) || !stream.codec) {
        sessions.push(undefined);
        continue;
      }
      sessions.push(
        await RtpSession.open(options.bind, options.rtpPorts.min, options.rtpPorts.max, {
          codec: stream.codec,
          dtmfPt: stream.dtmfPt,
          allowedAddresses: [...new Set([stream.address, signalling.address])],
          remote: { address: stream.address, port: stream.port },
          // Only a peer SIP_ALLOW vouches for may have media sent before its own arrives.
          sendBeforeLatch: !server.allow.open,
          totals: server.edge.metrics.ingress.of(siprec ? 'siprec' : 'sip'),
          onRefused: (reason) => server.refused(`rtp_${reason}`),
        }),
      );
    }
  } catch (err) {
    for (const session of sessions) session?.close();
    throw err;
  }
  return sessions;
}
