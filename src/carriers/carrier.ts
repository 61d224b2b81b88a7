/**
 * What every ingress hands the core once its handshake is done. Carrier edges (Twilio today;
 * SIP, SIPREC and AudioSocket later) turn their wire messages into these; nothing past the edge
 * knows which carrier a call came from except through `carrier`.
 */

export type CallMode = 'transcribe' | 'agent';

export interface MediaFormat {
  readonly encoding: string;
  readonly sampleRate: number;
  readonly channels: number;
}

export interface LegSpec {
  /** The carrier's name for the track (Twilio: `inbound` / `outbound`). */
  readonly track: string;
  /** Who speaks on it: `caller`, `agent`, or whatever the operator configured. */
  readonly label: string;
}

export interface CallStart {
  readonly carrier: 'twilio';
  readonly callSid: string;
  readonly streamSid: string;
  readonly accountSid: string;
  readonly tracks: readonly string[];
  readonly legs: readonly LegSpec[];
  /** The speaker of what voxline plays into the call (agent mode), on the same clock as the legs. */
  readonly agentLabel: string;
  readonly customParameters: Readonly<Record<string, string>>;
  readonly mediaFormat: MediaFormat;
  readonly mode: CallMode;
  /** True when voxline may send audio, marks and clears back into the call. */
  readonly bidirectional: boolean;
}

/** Lets the core end a call from its side (idle timeout, shutdown). */
export interface CallTransport {
  close(code: number, reason: string): void;
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
