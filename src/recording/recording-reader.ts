import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { fileSource, isSealedFile } from '../crypto/sealed-source.js';
import { VoxlineError } from '../errors.js';
import { objectSource } from './object-source.js';
import type { Recordings } from './recordings.js';
import { openSealedRecording } from './sealed-recording.js';

/**
 * A finished recording as the WAV a listener gets (decrypted where it is sealed), for voxline's
 * own post-call work: from this instance's disk while the file is there, else from the bucket
 * (the upload deletes the local copy once the object is confirmed). Throws
 * VL_ERR_RECORDING_NOT_FOUND when neither has it; a file deleted between the look and the read
 * errors the stream, and the caller's retry reads the object.
 */
export async function readRecordingWav(callSid: string, recordings: Recordings): Promise<Readable> {
  const path = recordings.pathOf(callSid);
  if (
    path &&
    (await stat(path).then(
      () => true,
      () => false,
    ))
  ) {
    if (!(await isSealedFile(path))) return createReadStream(path);
    return (await openSealed(callSid, await fileSource(path), recordings)).wav();
  }
  const uploads = recordings.uploads;
  if (!uploads) throw new VoxlineError('VL_ERR_RECORDING_NOT_FOUND', callSid);
  const key = uploads.keyOf(callSid);
  const object = await uploads.store.head(key);
  if (!object) throw new VoxlineError('VL_ERR_RECORDING_NOT_FOUND', callSid);
  if (!object.sealed) return uploads.store.get(key, 0, object.bytes);
  return (await openSealed(callSid, objectSource(uploads.store, key, object.bytes), recordings)).wav();
}

async function openSealed(
  callSid: string,
  source: Parameters<typeof openSealedRecording>[0],
  recordings: Recordings,
) {
  if (!recordings.keyring) {
    await source.close();
    throw new VoxlineError(
      'VL_ERR_ENCRYPTION_KEY',
      `${callSid}: the recording is sealed and ENCRYPTION_KEY is not set`,
    );
  }
  return openSealedRecording(source, recordings.keyring, { callSid });
}
