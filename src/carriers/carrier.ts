import type { LegCodec } from '../audio/leg-decoder.js';

/**
 * The carrier edge contract. Every ingress (Twilio Media Streams, SIP/RTP, SIPREC, Asterisk
 * AudioSocket, the console's browser calls) does its handshake, then hands the core a CallStart and a CallTransport, and feeds
 * each leg's audio (`Leg.pushBytes` / `pushPcm`, at the carrier's rate and timestamps), DTMF
 * (`Call.recordDtmf`) and hang-up (`Call.end`). Bidirectional edges also give an OutboundAudio.
 * Nothing past the edge knows which carrier a call came from except through `ingress`.
 */

export type CallMode = 'transcribe' | 'agent';

/** The labels of a call's two sides: inbound (the caller) and outbound (the agent). */
export interface LegLabels {
  readonly inbound: string;
  readonly outbound: string;
}

export type Ingress =
  | 'twilio'
  | 'sip'
  | 'siprec'
  | 'audiosocket'
  | 'browser'
  | 'telnyx'
  | 'plivo'
  | 'vonage'
  | 'freeswitch'
  | 'asterisk-ws'
  | 'signalwire'
  | 'jambonz'
  | 'exotel'
  | 'ari';

export interface LegSpec {
  /**
   * The edge's name for the track. Twilio: `inbound` / `outbound`; SIP and AudioSocket: `inbound`
   * (what the far end sends); SIPREC: `inbound` (caller) and `outbound` (agent), as on Twilio.
   */
  readonly track: string;
  /** Who speaks on it: `caller`, `agent`, or whatever the operator configured. */
  readonly label: string;
  /** How the audio arrives (default G.711 μ-law). */
  readonly codec?: LegCodec;
  /** The carrier's sample rate (default 8000). */
  readonly sampleRate?: number;
}

/** Someone on the call as the carrier describes them (SIP From/To, SIPREC metadata). */
export interface Participant {
  readonly role: string;
  readonly name?: string;
  /** A SIP URI or phone number. */
  readonly address?: string;
}

export interface CallStart {
  readonly ingress: Ingress;
  /** Voxline's id for the call: Twilio's CallSid, the SIP Call-ID, the AudioSocket UUID. */
  readonly callSid: string;
  /** The carrier's id for the media stream (Twilio streamSid; the SIP dialog; the UUID). */
  readonly streamSid: string;
  /** Twilio only. */
  readonly accountSid?: string;
  readonly tracks: readonly string[];
  readonly legs: readonly LegSpec[];
  readonly participants?: readonly Participant[];
  /** The speaker of what voxline plays into the call (agent mode), on the same clock as the legs. */
  readonly agentLabel: string;
  /** Twilio `<Parameter>`s; SIP: the dialled user and selected headers; AudioSocket: none. */
  readonly customParameters: Readonly<Record<string, string>>;
  readonly mode: CallMode;
  /** True when voxline may send audio, marks and clears back into the call. */
  readonly bidirectional: boolean;
}

/**
 * Lets the core end a call from its side (idle timeout, shutdown), and says what else the carrier
 * connection can do, so the core never asks which carrier a call is on.
 */
export interface CallTransport {
  close(code: number, reason: string): void;
  /** The carrier's call-control API (a configured CallControl) acts on this call by its CallSid. */
  readonly remotelyControlled?: boolean;
  /** Hands the call to `target` over the carrier's own signalling (SIP: a REFER in the dialog). */
  transfer?(target: string): Promise<void>;
  /** Presses keys (0-9 * # A-D) towards the far end, in band with the call's media (SIP: RFC 4733). */
  sendDigits?(keys: string): Promise<void>;
  /** Per-stream media counters (SIP and SIPREC: RTP), read when the call is shown. */
  mediaStats?(): readonly object[];
}

export interface MarkResult {
  readonly name: string;
  /** True when a `clear` was sent before the audio ahead of this mark finished playing. */
  readonly cleared: boolean;
}

/** Audio back into a bidirectional call. */
export interface OutboundAudio {
  /** PCM16 at 16 kHz, converted at the edge to what the carrier plays. */
  sendPcm(pcm: Int16Array): void;
  /** Resolves when the carrier reports that the audio sent before it has played (or was cleared). */
  mark(name: string): Promise<MarkResult>;
  /** Drops audio the carrier has queued but not yet played. */
  clear(): void;
}
