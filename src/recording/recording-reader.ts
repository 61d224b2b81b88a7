import { createReadStream } from 'node:fs';
import { addAbortSignal, type Readable } from 'node:stream';
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
 * (its upload confirmed) is read from the bucket instead. `signal` ends the read: the stream is
 * destroyed with an AbortError, and no bucket request outlives it.
 */
export async function readRecordingWav(
  callSid: string,
  recordings: Recordings,
  signal: AbortSignal,
): Promise<Readable> {
  signal.throwIfAborted();
  const local = await readLocal(callSid, recordings).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (local) return addAbortSignal(signal, local);
  return addAbortSignal(signal, await readObject(callSid, recordings, signal));
}

/** The file on this instance's disk, or undefined when it is not (or no longer) there. */
async function readLocal(callSid: string, recordings: Recordings): Promise<Readable | undefined> {
  const path = recordings.pathOf(callSid);
  if (!path) return undefined;
  // No file (uploaded and deleted, or another instance's): ENOENT, which the caller takes as absent.
  if (!(await isSealedFile(path))) return await opened(createReadStream(path));
  return (await openSealed(callSid, await fileSource(path), recordings)).wav();
}

async function readObject(callSid: string, recordings: Recordings, signal: AbortSignal): Promise<Readable> {
  const uploads = recordings.uploads;
  if (!uploads) throw new VoxlineError('VL_ERR_RECORDING_NOT_FOUND', callSid);
  const key = uploads.keyOf(callSid);
  const object = await uploads.store.head(key, signal);
  if (!object) throw new VoxlineError('VL_ERR_RECORDING_NOT_FOUND', callSid);
  if (!object.sealed) return uploads.store.get(key, 0, object.bytes, signal);
  return (await openSealed(callSid, objectSource(uploads.store, key, object.bytes), recordings)).wav();
}

/** The stream once its file is open (a file gone meanwhile rejects here, with ENOENT). */
function opened(stream: ReturnType<typeof createReadStream>): Promise<Readable> {
  return new Promise((resolve, reject) => {
    stream.once('open', () => resolve(stream));
    stream.once('error', reject);
  });
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
