/**
 * npm run recording:decrypt -- <in> <out.wav> [--partial]: writes the WAV inside a sealed
 * recording (a file from DATA_DIR/recordings, or an object fetched from the bucket). The keys come
 * from ENCRYPTION_KEY and ENCRYPTION_RETIRED_KEYS, checked as the server checks them; nothing else
 * is read from the environment, and no key is ever printed. --partial recovers a file cut short
 * (a crash mid-call): the segments that authenticate, under a header giving their sizes.
 *
 * Exit codes: 0 written; 1 it does not decrypt (VL_ERR_DECRYPTION, VL_ERR_ENCRYPTION_KEY) or cannot
 * be read or written; 2 usage or key configuration; 3 cut short (VL_ERR_SEALED_TRUNCATED: try --partial).
 */

import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { encryptionConfigFrom } from '../crypto/encryption-config.js';
import { Keyring } from '../crypto/keyring.js';
import { fileSource } from '../crypto/sealed-source.js';
import { isVoxlineError } from '../errors.js';
import { openSealedRecording } from './sealed-recording.js';

const USAGE = 'usage: npm run recording:decrypt -- <sealed recording> <out.wav> [--partial]\n';

function fail(code: number, message: string): never {
  process.stderr.write(`recording:decrypt: ${message}\n`);
  process.exit(code);
}

const args = process.argv.slice(2);
const partial = args.includes('--partial');
const [input, output, ...extra] = args.filter((a) => a !== '--partial');
if (!input || !output || extra.length > 0 || [input, output].some((a) => a.startsWith('--')))
  fail(2, `expected an input and an output file\n${USAGE}`);
if (resolve(input) === resolve(output)) fail(2, 'the output would overwrite the input');

const { value, problems } = encryptionConfigFrom({
  ENCRYPTION_KEY: process.env.ENCRYPTION_KEY,
  ENCRYPTION_RETIRED_KEYS: process.env.ENCRYPTION_RETIRED_KEYS,
});
if (problems.length > 0) fail(2, problems.join('\n'));
if (!value) fail(2, 'ENCRYPTION_KEY is not set: set it (and ENCRYPTION_RETIRED_KEYS) as the server has them');

try {
  const source = await fileSource(input).catch((err: Error) => fail(1, `${input}: ${err.message}`));
  const recording = await openSealedRecording(source, new Keyring(value), { partial });
  try {
    // 'wx': never over an existing file; a clear WAV is written only where asked for.
    await pipeline(recording.wav(), createWriteStream(output, { flags: 'wx' }));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') await unlink(output).catch(() => undefined);
    throw err;
  }
  const seconds = (recording.durationMs / 1000).toFixed(1);
  const how = recording.complete ? '' : ' (cut short: the audio up to the cut, without pause markers)';
  process.stderr.write(
    `recording:decrypt: wrote ${output}: ${recording.format}, ${recording.channels} channels, ${seconds} s, ${recording.bytes} bytes; key ${recording.keyId}${how}\n`,
  );
} catch (err) {
  if (isVoxlineError(err, 'VL_ERR_SEALED_TRUNCATED'))
    fail(3, `${err.code}: ${err.message}${partial ? '' : '\n  --partial recovers the audio before the cut'}`);
  if (isVoxlineError(err)) fail(1, `${err.code}: ${err.message}`);
  const e = err as NodeJS.ErrnoException;
  fail(1, e.code === 'EEXIST' ? `${output} exists: not overwritten` : e.message);
}
