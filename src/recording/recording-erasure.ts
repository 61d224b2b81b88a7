import { unlink } from 'node:fs/promises';
import type { Recordings } from './recordings.js';

export interface RecordingErasure {
  /** An upload was queued or in flight, and was dropped (waited for if in flight). */
  readonly uploadCancelled: boolean;
  /** An object was under the call's key in the bucket (RECORDING_STORE=s3://…), and is deleted. */
  readonly object: boolean;
  /** A file was in DATA_DIR/recordings, and is deleted. */
  readonly file: boolean;
}

/**
 * Erases a finished recording: its upload first (so nothing is put after), then the object, then
 * the local file. Each step is safe to repeat, so a failed erasure can simply be asked for again.
 */
export async function eraseRecording(recordings: Recordings, callSid: string): Promise<RecordingErasure> {
  const uploads = recordings.uploads;
  const uploadCancelled = (await uploads?.cancel(callSid)) ?? false;
  let object = false;
  if (uploads) {
    const key = uploads.keyOf(callSid);
    object = (await uploads.store.head(key)) !== undefined;
    await uploads.store.delete(key);
  }
  const path = recordings.pathOf(callSid);
  const file = path
    ? await unlink(path).then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return false;
          throw err;
        },
      )
    : false;
  return { uploadCancelled, object, file };
}
