import type { CallKeys } from '../crypto/call-keys.js';
import type { SequencedEvent } from '../transcripts/call-transcript.js';
import type { CallSnapshot } from './call.js';

/** A call's recording as the store keeps it: what recording.ready said, and where the file is. */
export interface StoredRecording {
  readonly format: string;
  readonly sampleRate: number;
  readonly durationMs: number;
  readonly bytes: number;
  readonly sha256: string;
  /** With RECORDING_STORE=s3://…: the object (`s3://bucket/key`); null: only on `instance`'s disk. */
  readonly objectUrl: string | null;
  /** The object is confirmed (size and sha256) and the local file deleted. */
  readonly uploaded: boolean;
  /** The instance that wrote the file (its DATA_DIR holds it until it is uploaded). */
  readonly instance: string;
}

/** A call as the store keeps it: its last snapshot, and which instance holds (or held) it. */
export interface StoredCall extends Omit<CallSnapshot, 'state' | 'endReason'> {
  readonly state: CallSnapshot['state'];
  readonly endReason: string | null;
  /** The voxline instance that holds the call, and when it last wrote its state. */
  readonly instance: { readonly id: string; readonly seenAt: string };
  /** Once the call's recording is finished; null before, or when the call is not recorded. */
  readonly recording: StoredRecording | null;
}

/** A live call's holder writes its state this often; a record older than STALE_MS is a lost call. */
export const CALL_REFRESH_MS = 5_000;
export const STALE_MS = 30_000;

/** A transcript as stored: finals and errors (partials are superseded and never stored). */
export interface StoredTranscript {
  readonly events: readonly SequencedEvent[];
  readonly complete: boolean;
}

/** What a follower of a call held elsewhere hears: new stored events, live partials, the end. */
export type CallFeedEvent = SequencedEvent | { readonly type: 'end' };

/**
 * Call records and final transcripts, durable and (on PostgreSQL) shared, so that any instance
 * answers for any call. SQLite: one process, records that outlive restarts. Its contract is
 * test/calls/call-store-contract.test.ts, run on both, in clear and sealed. With a keyring
 * (ENCRYPTION_KEY) what callers said is sealed at rest under a data key per call; a read that
 * meets a value it cannot open fails with VL_ERR_ENCRYPTION_KEY or VL_ERR_DECRYPTION (a 500
 * with that code from the API), never with garbage.
 */
export interface CallStore {
  readonly shared: boolean;
  /** Upserts the call's record (state, legs, figures) as `instance` holds it now. */
  saveCall(snapshot: CallSnapshot, instance: string, now: number): Promise<void>;
  /** Keeps a final or an error; a partial is only passed to followers (shared stores). */
  addTranscriptEvent(callSid: string, event: SequencedEvent): Promise<void>;
  /** Every leg's last final is in. */
  endTranscript(callSid: string): Promise<void>;
  /** The call's finished recording (its record must exist: saved at the call's start). */
  saveRecording(callSid: string, recording: StoredRecording): Promise<void>;
  /** The recording's object is confirmed in the bucket. */
  recordingUploaded(callSid: string): Promise<void>;
  getCall(callSid: string, now: number): Promise<StoredCall | undefined>;
  /**
   * Where the call is, from the clear columns alone (no key needed): what erasure must know even
   * when the snapshot no longer opens (its key lost or retired past keeping).
   */
  locateCall(callSid: string, now: number): Promise<CallWhereabouts | undefined>;
  /** Newest first. */
  listCalls(state: 'live' | 'ended' | 'all', limit: number, now: number): Promise<StoredCall[]>;
  transcript(callSid: string, afterSeq: number): Promise<StoredTranscript | undefined>;
  /**
   * The call's stored transcript events after `afterSeq`, then (shared stores) each new one as its
   * holder stores it, live partials too, then `end` once the transcript is complete. Returns unfollow.
   */
  follow(callSid: string, afterSeq: number, listener: (event: CallFeedEvent) => void): Promise<() => void>;
  /**
   * Keeps (or replaces) one of the call's post-call documents: the refined transcript or the
   * analysis, as JSON text, sealed like its transcript events. The call's record must exist.
   */
  saveDocument(callSid: string, kind: CallDocumentKind, body: string): Promise<void>;
  /** The document as saved, or undefined when there is none (yet). */
  document(callSid: string, kind: CallDocumentKind): Promise<string | undefined>;
  /** Retention: calls that ended before `cutoff`, with their transcripts, documents and data keys. Returns calls deleted. */
  prune(cutoff: number): Promise<number>;
  /**
   * Erasure: the call's record, every stored transcript event and document of it and its data key row, in one
   * transaction (crypto-shredding: any copy of its sealed rows left elsewhere no longer opens).
   */
  eraseCall(callSid: string): Promise<{ calls: number; transcriptEvents: number }>;
  close(): Promise<void>;
}

/**
 * What the stores seal with ENCRYPTION_KEY (the AAD's table, each with its row): a call's
 * snapshot (it holds the numbers, custom parameters, DTMF, the agent's turns), each stored
 * transcript event (by seq), each post-call document (by kind), and on PostgreSQL each partial
 * passed through NOTIFY (by seq). The
 * clear columns are what lists and retention select on (state, times, instance) and the
 * recording's whereabouts (no caller data; its upload mark is set in SQL).
 */
export const SEALED_SNAPSHOT = 'calls';
export const SEALED_EVENT = 'transcript_events';
export const SEALED_PARTIAL = 'notify';
export const SEALED_DOCUMENT = 'call_documents';

/**
 * What comes after the call: the batch engine's refined transcript, the LLM's analysis, and
 * `postcall`: that post-call work for the call is over (what a restart need not do again).
 */
export type CallDocumentKind = 'refined' | 'analysis' | 'postcall';

/**
 * A live record whose holder stopped writing (it died) reads as ended: instance_lost. A sealed
 * snapshot is opened with the call's key (`wrapped`: its key row, where the key is not cached).
 */
export function asStored(row: CallRow, now: number, keys: CallKeys, wrapped?: Uint8Array | null): StoredCall {
  const snapshot = JSON.parse(
    keys.open(row.snapshot, SEALED_SNAPSHOT, row.call_sid, 'snapshot', wrapped),
  ) as CallSnapshot;
  const lost = snapshot.state === 'live' && now - row.updated_at > STALE_MS;
  return {
    ...snapshot,
    state: lost ? 'ended' : snapshot.state,
    endReason: lost ? 'instance_lost' : snapshot.endReason,
    instance: { id: row.instance, seenAt: new Date(row.updated_at).toISOString() },
    recording: row.recording ? (JSON.parse(row.recording) as StoredRecording) : null,
  };
}

/** A call's state, holder and recording, as the clear columns keep them. */
export type CallWhereabouts = Pick<StoredCall, 'state' | 'instance' | 'recording'>;

/** The columns a CallWhereabouts is read from. */
export const WHEREABOUTS_ROW = 'call_sid, state, instance, updated_at, recording';

/** A whereabouts row as both stores read it; a live record gone stale reads as ended (its holder died). */
export type WhereaboutsRow = Omit<CallRow, 'snapshot'> & { readonly state: string };

export function asWhereabouts(row: WhereaboutsRow, now: number): CallWhereabouts {
  const state = row.state === 'live' && now - row.updated_at <= STALE_MS ? 'live' : 'ended';
  return {
    state,
    instance: { id: row.instance, seenAt: new Date(row.updated_at).toISOString() },
    recording: row.recording ? (JSON.parse(row.recording) as StoredRecording) : null,
  };
}

/** A calls row as both stores read it (the snapshot, maybe sealed, and the recording as JSON text). */
export interface CallRow {
  readonly call_sid: string;
  readonly snapshot: string;
  readonly instance: string;
  readonly updated_at: number;
  readonly recording: string | null;
}

/** The columns a CallRow is read from. */
export const CALL_ROW = 'call_sid, snapshot, instance, updated_at, recording';
