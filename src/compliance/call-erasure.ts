import type { CallRegistry } from '../calls/call-registry.js';
import type { CallStore, CallWhereabouts } from '../calls/call-store.js';
import { VoxlineError } from '../errors.js';
import { eraseRecording } from '../recording/recording-erasure.js';
import type { Recordings } from '../recording/recordings.js';
import type { OutboxStore, PruneResult } from '../webhooks/outbox-store.js';

export interface ErasureDeps {
  readonly registry: CallRegistry;
  /** The call store's writer: whether a call still has writes queued. */
  readonly records: { writing(callSid: string): boolean };
  readonly store: CallStore;
  readonly outbox: OutboxStore | undefined;
  readonly recordings: Recordings | undefined;
  /** Post-call work (refined transcript, analysis): stopped for the call before anything is erased. */
  readonly postcall?: { forget(callSid: string): Promise<void> };
  readonly instance: string;
  readonly now: () => number;
}

/** What an erasure found and deleted (what the call.delete audit entry keeps; a type, so it is a record). */
export type Erasure = {
  /** The call was in this instance's memory (its history of ended calls). */
  memory: boolean;
  /** Rows of the call store: the call's record, and its stored transcript events. */
  record: number;
  transcriptEvents: number;
  recordingUploadCancelled: boolean;
  recordingObject: boolean;
  recordingFile: boolean;
  /** Webhook events of the call (pending, delivered or dead-lettered), their deliveries, its sequence row. */
  outbox: PruneResult;
  /** With ?force=true: what this instance could not reach (another instance's memory or disk). */
  unreachable: string[];
};

/**
 * Erases a call everywhere this instance can reach: its recording (upload, object, file), its
 * webhook events, then its record and transcript, then its place in memory. The record goes last
 * so that an erasure that fails half way still knows where the rest is, and asking again finishes
 * it. Refused (nothing erased) while the call is live or still being finished, and, in a cluster,
 * when another instance holds it in memory or its recording on disk (unless `force`). `progress`
 * hears what is done after each step.
 */
export async function eraseCall(
  deps: ErasureDeps,
  callSid: string,
  options: { force: boolean },
  progress: (done: Erasure) => void = () => undefined,
): Promise<Erasure> {
  const { registry, store, recordings } = deps;
  const held = registry.get(callSid);
  if (held?.state === 'live')
    throw new VoxlineError('VL_ERR_CALL_LIVE', `${callSid} is live on this instance`);
  if (held && (!held.transcript.complete || recordings?.writing(callSid) || deps.records.writing(callSid))) {
    throw new VoxlineError('VL_ERR_CALL_LIVE', `${callSid} has just ended and is still being written`);
  }
  // The clear columns, not the snapshot: a call whose sealed record no longer opens is still erased.
  const stored = await store.locateCall(callSid, deps.now());
  if (stored?.state === 'live') {
    throw new VoxlineError('VL_ERR_CALL_LIVE', `${callSid} is live on ${stored.instance.id}`);
  }
  const done: Erasure = {
    memory: false,
    record: 0,
    transcriptEvents: 0,
    recordingUploadCancelled: false,
    recordingObject: false,
    recordingFile: false,
    outbox: { events: 0, deliveries: 0, sequences: 0 },
    unreachable: out(deps, callSid, stored, options.force),
  };

  // First: a post-call job must not write a document or send an event after the erasure.
  await deps.postcall?.forget(callSid);
  if (recordings) {
    const recording = await eraseRecording(recordings, callSid);
    done.recordingUploadCancelled = recording.uploadCancelled;
    done.recordingObject = recording.object;
    done.recordingFile = recording.file;
    progress(done);
  }
  if (deps.outbox) {
    done.outbox = await deps.outbox.eraseCall(callSid);
    progress(done);
  }
  const rows = await store.eraseCall(callSid);
  done.record = rows.calls;
  done.transcriptEvents = rows.transcriptEvents;
  done.memory = registry.forget(callSid);
  progress(done);

  const found =
    done.memory ||
    done.record > 0 ||
    done.transcriptEvents > 0 ||
    done.recordingObject ||
    done.recordingFile ||
    done.outbox.events > 0 ||
    done.outbox.deliveries > 0 ||
    done.unreachable.length > 0;
  if (!found) throw new VoxlineError('VL_ERR_CALL_NOT_FOUND', callSid);
  return done;
}

/**
 * What of the call is out of this instance's reach: in a cluster, another instance's memory
 * (its history of ended calls) or disk (a recording not uploaded); a bucket this instance is not
 * configured for. Refused unless `force` (the operator says that instance is gone); then listed.
 */
function out(
  deps: ErasureDeps,
  callSid: string,
  stored: CallWhereabouts | undefined,
  force: boolean,
): string[] {
  const unreachable: string[] = [];
  const refuse = (code: 'VL_ERR_CALL_ELSEWHERE' | 'VL_ERR_RECORDING_ELSEWHERE', what: string) => {
    if (!force) throw new VoxlineError(code, `${callSid}: ${what}`);
    unreachable.push(what);
  };
  // One process on SQLite: whatever instance name a record has, its files are on this disk.
  if (deps.store.shared && stored && stored.instance.id !== deps.instance) {
    refuse('VL_ERR_CALL_ELSEWHERE', `held in the memory of ${stored.instance.id}`);
  }
  const recording = stored?.recording;
  if (deps.store.shared && recording && !recording.uploaded && recording.instance !== deps.instance) {
    refuse('VL_ERR_RECORDING_ELSEWHERE', `recording file on the disk of ${recording.instance}`);
  }
  if (recording?.objectUrl && recording.objectUrl !== deps.recordings?.uploads?.urlOf(callSid)) {
    refuse('VL_ERR_RECORDING_ELSEWHERE', `${recording.objectUrl}, which RECORDING_STORE here does not name`);
  }
  return unreachable;
}
