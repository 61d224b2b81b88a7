import type { FastifyReply } from 'fastify';
import type { Keyring } from '../crypto/keyring.js';
import type { SealedSource } from '../crypto/sealed-source.js';
import { VoxlineError } from '../errors.js';
import { openSealedRecording } from '../recording/sealed-recording.js';

/**
 * Serves a sealed recording decrypted, streamed. Its key, its final segment and that it is this
 * call's are checked before the status is sent (a missing key is VL_ERR_ENCRYPTION_KEY, a cut
 * file VL_ERR_SEALED_TRUNCATED, both 500 with their codes); a segment found changed while
 * streaming ends the response short of its Content-Length, so no client takes it for whole.
 */
export async function sendSealedRecording(
  reply: FastifyReply,
  callSid: string,
  source: SealedSource,
  keyring: Keyring | undefined,
): Promise<FastifyReply> {
  if (!keyring) {
    await source.close();
    throw new VoxlineError(
      'VL_ERR_ENCRYPTION_KEY',
      `${callSid}: the recording is sealed and ENCRYPTION_KEY is not set`,
    );
  }
  const recording = await openSealedRecording(source, keyring, { callSid });
  return reply
    .type('audio/wav')
    .header('content-disposition', `attachment; filename="${callSid}.wav"`)
    .header('content-length', recording.bytes)
    .header('cache-control', 'no-store')
    .send(recording.wav());
}
