import type { WebSocket } from 'ws';
import type { Call } from '../../calls/call.js';
import type { CallMode, CallStart, LegLabels, LegSpec } from '../carrier.js';
import { type StreamSessionContext, StreamSocketSession } from '../stream-socket-session.js';
import { CLOSE } from '../ws-close.js';
import { type MediaFrame, parsePlivoMessage } from './codec.js';
import type { StartMessage } from './messages.js';
import { PlivoOutbound } from './outbound.js';
import type { StreamGrant } from './stream-token.js';
import { TrackClock } from './track-clock.js';

const MAX_EXTRA_HEADERS = 16;

export interface PlivoSessionContext extends Omit<StreamSessionContext, 'ingress' | 'peer'> {
  /** The mode when the stream URL grants none (a stream opened on a V3-signed upgrade). */
  readonly mode: CallMode;
  readonly legs: LegLabels;
  /** When set, a start naming another account is refused. */
  readonly authId: string | undefined;
  /** What the stream URL's token allows: that call only, in that mode. */
  readonly grant: StreamGrant | undefined;
}

/**
 * One Plivo Audio Streaming WebSocket: `start` into a CallStart, then media into the call's legs.
 * Bad frames are counted and logged; the call goes on unless the stream can no longer be trusted
 * (then the socket closes with a code and reason, and the call is finalized). The socket's life
 * (containment, the handshake timer, closing) is StreamSocketSession's.
 */
export class PlivoMediaSession extends StreamSocketSession {
  readonly #plivo: PlivoSessionContext;
  #outbound: PlivoOutbound | undefined;
  #clock: TrackClock | undefined;
  #lastSequence: number | undefined;

  constructor(socket: WebSocket, ctx: PlivoSessionContext) {
    super(socket, { ...ctx, ingress: 'plivo', peer: 'Plivo' }, 'start message');
    this.#plivo = ctx;
  }

  /** Plivo ends a stream by closing the socket, as Twilio's edge names it (not `hangup`). */
  protected override endReasonFor(code: number): string {
    return code === 1000 || code === 1005 ? 'socket_closed' : super.endReasonFor(code);
  }

  protected onBinary(): void {
    this.reject('binary_frame', 'audio streams carry JSON text frames');
  }

  protected onText(text: string): void {
    if (this.closing) return;
    const message = parsePlivoMessage(text);
    const call = this.call;
    if (message.event === 'malformed') {
      this.reject(message.reason, message.detail);
      return;
    }
    if (message.event === 'start') {
      if (call) this.reject('duplicate_start', `stream ${message.start.streamId} already started`);
      else this.#start(message);
      return;
    }
    if (!call) {
      if (message.event === 'media') {
        this.ctx.metrics.malformedMessages.inc({ reason: 'media_before_start' });
        this.fail(CLOSE.policyViolation, 'media before start');
      } else this.reject('media_before_start', `${message.event} before start`);
      return;
    }
    if (message.streamId !== undefined && message.streamId !== call.start.streamSid) {
      this.reject('wrong_stream', message.streamId);
      return;
    }
    if (message.sequenceNumber !== undefined) this.#sequence(call, Number(message.sequenceNumber));
    switch (message.event) {
      case 'media':
        this.#media(call, message);
        return;
      case 'dtmf':
        call.recordDtmf(message.dtmf.digit, 'inbound'); // Plivo reports the caller's keys
        // Digits can be PINs or card numbers: the log says how many and where, never which.
        call.log.debug({ dtmf: call.dtmf.length, atMs: call.dtmf.at(-1)?.atMs }, 'dtmf');
        return;
      case 'playedStream':
        if (!this.#outbound?.played(message.name)) {
          call.log.debug({ checkpoint: message.name }, 'playedStream with no checkpoint waiting');
        }
        return;
      case 'clearedAudio':
        this.#outbound?.cleared();
        return;
      case 'stop':
        // The call ends now, not when the close handshake completes.
        void call.end('stop');
        this.endWith('stop');
        return;
    }
  }

  #media(call: Call, message: MediaFrame): void {
    const leg = call.legs.get(message.track);
    if (!leg) {
      this.reject('unknown_track', `track ${message.track} was not announced in start`);
      return;
    }
    const clock = this.#clock as TrackClock;
    const atMs = clock.place(message.track, message.timestampMs, message.payload.length / 8);
    if (atMs === undefined) {
      this.reject('bad_timestamp', `${message.timestampMs} is too far from the stream's first`);
      return;
    }
    leg.pushMulaw(atMs, message.payload);
  }

  #start(message: StartMessage): void {
    const { start } = message;
    const { registry, metrics, grant, authId } = this.#plivo;
    const format = start.mediaFormat;
    if (format.encoding !== 'audio/x-mulaw' || format.sampleRate !== 8000) {
      metrics.callsRefused.inc({ reason: 'unsupported_media_format' });
      this.fail(CLOSE.unsupportedData, `unsupported media format ${format.encoding}/${format.sampleRate}`);
      return;
    }
    // The token was made for one call: a stream for any other is not the one Plivo was told to open.
    if (grant && grant.callUuid !== start.callId) {
      metrics.callsRefused.inc({ reason: 'stream_token_mismatch' });
      this.fail(CLOSE.policyViolation, 'the stream token was issued for another call');
      return;
    }
    if (authId !== undefined && start.accountId !== authId) {
      metrics.callsRefused.inc({ reason: 'wrong_account' });
      this.fail(CLOSE.policyViolation, 'the stream names another Plivo account');
      return;
    }
    // One stream per call: a token replayed after its call ended must not reopen it.
    if (registry.get(start.callId)?.state === 'ended') {
      metrics.callsRefused.inc({ reason: 'stream_replayed' });
      this.fail(CLOSE.policyViolation, 'this call has already had its stream');
      return;
    }
    const mode = grant?.mode ?? this.#plivo.mode;
    const labels = { inbound: this.#plivo.legs.inbound, outbound: this.#plivo.legs.outbound };
    const bidirectional = mode === 'agent';
    // A bidirectional Plivo stream carries the caller only (Plivo refuses the other tracks then).
    const tracks = bidirectional ? start.tracks.filter((t) => t === 'inbound') : start.tracks;
    if (tracks.length === 0) {
      metrics.callsRefused.inc({ reason: 'no_inbound_track' });
      this.fail(CLOSE.policyViolation, 'an agent-mode stream must carry the inbound track');
      return;
    }
    const callStart: CallStart = {
      ingress: 'plivo',
      callSid: start.callId,
      streamSid: start.streamId,
      accountSid: start.accountId || undefined,
      tracks,
      legs: tracks.map((track): LegSpec => ({ track, label: labels[track] })),
      agentLabel: labels.outbound,
      customParameters: readExtraHeaders(message.extra_headers),
      mode,
      bidirectional,
    };
    this.log = this.log.child({ callSid: start.callId, streamSid: start.streamId });
    const outbound = bidirectional ? new PlivoOutbound(this.socket, start.streamId) : undefined;
    if (!this.openCall(callStart, outbound)) return;
    this.#outbound = outbound;
    this.#clock = new TrackClock();
    if (message.sequenceNumber !== undefined) this.#lastSequence = Number(message.sequenceNumber);
    this.log.info({ tracks, legs: callStart.legs, mode }, 'call started');
  }

  #sequence(call: Call, sequence: number): void {
    const last = this.#lastSequence;
    if (last !== undefined && sequence > last + 1) call.countSequenceGap(sequence - last - 1);
    if (last === undefined || sequence > last) this.#lastSequence = sequence;
  }
}

/** `extraHeaders` from the <Stream> (`k=v` pairs of letters and digits, `,` or `;` between). */
export function readExtraHeaders(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const pair of text.split(/[,;]/).slice(0, MAX_EXTRA_HEADERS)) {
    const match = /^([A-Za-z0-9]{1,64})=([A-Za-z0-9]{0,256})$/.exec(pair.trim());
    if (match) out[match[1]] = match[2];
  }
  return out;
}
