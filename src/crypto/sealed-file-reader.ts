import { VoxlineError } from '../errors.js';
import { Keyring } from './keyring.js';
import { open, SEAL_OVERHEAD } from './sealed-box.js';
import {
  decodeHeader,
  decodeTrailer,
  MAX_BOX_BYTES,
  MAX_HEADER_BYTES,
  type SealedHeader,
  segmentAad,
  TRAILER_BYTES,
} from './sealed-file-format.js';
import type { SealedSource } from './sealed-source.js';

export interface OpenSealedOptions {
  /** What the data key must be bound to (e.g. `recording:<callSid>`); default: what the header says. */
  readonly context?: string;
  /**
   * A file cut short (a crash while writing) opens too: `final` is then undefined. Either way
   * `segments()` yields the segments that authenticate, up to the first that is missing, cut or
   * changed, and stops there without an error (the caller counts what it got).
   */
  readonly partial?: boolean;
}

/** An opened sealed file: its key and final segment checked; the others read on demand. */
export interface SealedFile {
  readonly keyId: string;
  readonly context: string;
  /** The final segment's plaintext; undefined only in partial mode, when the file was not finished. */
  readonly final: Buffer | undefined;
  /** Segments before the final (the trailer's count), when the file is finished. */
  readonly count: number | undefined;
  /**
   * The segments before the final, in order, each authenticated before it is yielded; memory is
   * bounded by one segment. Can be read more than once. A segment that does not open (moved,
   * dropped, repeated, changed) is VL_ERR_DECRYPTION, unless partial: the walk stops there.
   */
  segments(): AsyncGenerator<Buffer>;
}

/**
 * Opens a sealed file: the header (VL_ERR_DECRYPTION if it is not one), its data key
 * (VL_ERR_ENCRYPTION_KEY for a master key not configured), and its final segment, found from the
 * trailer (VL_ERR_SEALED_TRUNCATED when there is none: the file was cut). Every failure is a
 * VoxlineError; the source's own I/O errors pass through.
 */
export async function openSealedFile(
  source: SealedSource,
  keyring: Keyring,
  options: OpenSealedOptions = {},
): Promise<SealedFile> {
  const header = decodeHeader(await source.read(0, Math.min(source.size, MAX_HEADER_BYTES)));
  const context = options.context ?? header.context;
  if (context !== header.context)
    throw new VoxlineError('VL_ERR_DECRYPTION', `the file is sealed for ${JSON.stringify(header.context)}`);
  const key = keyring.unwrap(header.wrapped, context);
  const keyId = Keyring.keyIdOf(header.wrapped);
  const start = header.bytes.length;
  const finished = await finalSegment(source, key, header);
  if (typeof finished === 'string' && !options.partial) {
    const code = finished === 'cut' ? 'VL_ERR_SEALED_TRUNCATED' : 'VL_ERR_DECRYPTION';
    throw new VoxlineError(code, finished === 'cut' ? 'no final segment' : finished);
  }
  if (typeof finished === 'string') {
    return {
      keyId,
      context,
      final: undefined,
      count: undefined,
      segments: () => walk(source, key, header, start, source.size, Number.POSITIVE_INFINITY, true),
    };
  }
  return {
    keyId,
    context,
    final: finished.plaintext,
    count: finished.count,
    segments: () =>
      walk(source, key, header, start, finished.offset, finished.count, options.partial === true),
  };
}

/** The final segment, or why there is none: 'cut' (no trailer), or what is wrong with it. */
async function finalSegment(
  source: SealedSource,
  key: Buffer,
  header: SealedHeader,
): Promise<{ plaintext: Buffer; count: number; offset: number } | string> {
  const start = header.bytes.length;
  if (source.size < start + TRAILER_BYTES) return 'cut';
  const trailer = decodeTrailer(await source.read(source.size - TRAILER_BYTES, source.size));
  if (!trailer) return 'cut';
  const offset = source.size - TRAILER_BYTES - trailer.finalBoxBytes - 4;
  if (trailer.finalBoxBytes < SEAL_OVERHEAD || trailer.finalBoxBytes > MAX_BOX_BYTES || offset < start)
    return 'the trailer does not point at a final segment';
  const frame = await source.read(offset, source.size - TRAILER_BYTES);
  if (frame.length !== trailer.finalBoxBytes + 4 || frame.readUInt32BE(0) !== trailer.finalBoxBytes)
    return 'the trailer does not point at a final segment';
  try {
    const plaintext = open(
      key,
      frame.subarray(4),
      segmentAad(header.bytes, trailer.segments, true),
      'the final segment',
    );
    return { plaintext, count: trailer.segments, offset };
  } catch (err) {
    if (err instanceof VoxlineError)
      return 'the final segment did not authenticate (a wrong key, or changed)';
    throw err;
  }
}

/** Opens the segments in [from, to): `count` of them exactly, or (partial) as many as open. */
async function* walk(
  source: SealedSource,
  key: Buffer,
  header: SealedHeader,
  from: number,
  to: number,
  count: number,
  partial: boolean,
): AsyncGenerator<Buffer> {
  let index = 0;
  const frames = boxes(source.stream(from, to));
  try {
    while (index < count) {
      let box: Buffer | undefined;
      let plaintext: Buffer;
      try {
        const next = await frames.next();
        box = next.done ? undefined : next.value;
        if (!box) {
          if (partial) return;
          throw new VoxlineError('VL_ERR_DECRYPTION', `segment ${index} of ${count} is missing`);
        }
        plaintext = open(key, box, segmentAad(header.bytes, index, false), `segment ${index}`);
      } catch (err) {
        if (partial && err instanceof VoxlineError) return;
        throw err;
      }
      index++;
      yield plaintext;
    }
    if (!partial && !(await frames.next()).done)
      throw new VoxlineError('VL_ERR_DECRYPTION', `more segments than the ${count} the trailer counts`);
  } finally {
    await frames.return(undefined);
  }
}

/** The boxes of `u32 length ‖ box` frames in a byte stream; bytes left over are VL_ERR_DECRYPTION. */
async function* boxes(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer, void> {
  const pending: Buffer[] = [];
  let have = 0;
  let need: number | undefined;
  const take = (n: number): Buffer => {
    const out = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const first = pending[0] as Buffer;
      const part = Math.min(first.length, n - got);
      first.copy(out, got, 0, part);
      got += part;
      if (part === first.length) pending.shift();
      else pending[0] = first.subarray(part);
    }
    have -= n;
    return out;
  };
  for await (const chunk of chunks) {
    pending.push(chunk);
    have += chunk.length;
    for (;;) {
      if (need === undefined) {
        if (have < 4) break;
        need = take(4).readUInt32BE(0);
        if (need < SEAL_OVERHEAD || need > MAX_BOX_BYTES)
          throw new VoxlineError('VL_ERR_DECRYPTION', `a segment claims ${need} bytes`);
      }
      if (have < need) break;
      const box = take(need);
      need = undefined;
      yield box;
    }
  }
  if (have > 0 || need !== undefined)
    throw new VoxlineError('VL_ERR_DECRYPTION', 'the segments do not line up (a cut or changed length)');
}
