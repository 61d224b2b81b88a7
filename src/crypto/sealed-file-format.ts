import { VoxlineError } from '../errors.js';
import { SEAL_OVERHEAD } from './sealed-box.js';

/**
 * The sealed file layout (append-only, written front to back):
 *
 *   header   magic "VXREC1\0" (7) ‖ file id (16 random bytes) ‖ u16 context length ‖ context (UTF-8)
 *            ‖ u16 wrapped length ‖ wrapped data key (Keyring.wrap: names its master key)
 *   segment  u32 box length ‖ box (sealed-box.ts: nonce ‖ ciphertext ‖ tag), one per append
 *   final    a segment like the others, flagged final in its AAD
 *   trailer  u32 segments before the final ‖ u32 the final's box length ‖ "VXE1"
 *
 * Each box's AAD is the whole header, the segment's index and the final flag: a segment moved,
 * dropped, repeated or taken from another file does not open, and only the last one opens as final.
 * All integers are big-endian. The trailer lets a reader find the final segment first.
 */
export const MAGIC = Buffer.from('VXREC1\0', 'ascii');
export const TRAILER_MAGIC = Buffer.from('VXE1', 'ascii');
export const FILE_ID_BYTES = 16;
export const TRAILER_BYTES = 12;
export const MAX_CONTEXT_BYTES = 256;
export const MAX_WRAPPED_BYTES = 512;
/** Plaintext per segment at most (a longer append is split): what bounds a reader's memory. */
export const MAX_SEGMENT_BYTES = 1 << 20;
export const MAX_BOX_BYTES = MAX_SEGMENT_BYTES + SEAL_OVERHEAD;
/** The longest header there can be: what a reader reads first. */
export const MAX_HEADER_BYTES = MAGIC.length + FILE_ID_BYTES + 2 + MAX_CONTEXT_BYTES + 2 + MAX_WRAPPED_BYTES;

export interface SealedHeader {
  /** The header's bytes, as written (every segment's AAD starts with them). */
  readonly bytes: Buffer;
  readonly context: string;
  readonly wrapped: Buffer;
}

export function encodeHeader(fileId: Buffer, context: string, wrapped: Buffer): Buffer {
  const ctx = Buffer.from(context, 'utf8');
  if (ctx.length > MAX_CONTEXT_BYTES || wrapped.length > MAX_WRAPPED_BYTES)
    throw new RangeError('sealed file context or wrapped key too long');
  return Buffer.concat([MAGIC, fileId, u16(ctx.length), ctx, u16(wrapped.length), wrapped]);
}

/**
 * The header at the start of `bytes` (the file's first MAX_HEADER_BYTES or fewer). Not a sealed
 * file: VL_ERR_DECRYPTION; the file ends inside its header: VL_ERR_SEALED_TRUNCATED.
 */
export function decodeHeader(bytes: Buffer): SealedHeader {
  const magic = bytes.subarray(0, MAGIC.length);
  if (!MAGIC.subarray(0, magic.length).equals(magic))
    throw new VoxlineError('VL_ERR_DECRYPTION', 'not a voxline sealed file (no VXREC1 header)');
  const cut = () => new VoxlineError('VL_ERR_SEALED_TRUNCATED', 'the file ends inside its header');
  let at = MAGIC.length + FILE_ID_BYTES;
  if (bytes.length < at + 2) throw cut();
  const contextBytes = bytes.readUInt16BE(at);
  if (contextBytes > MAX_CONTEXT_BYTES)
    throw new VoxlineError('VL_ERR_DECRYPTION', 'header context too long');
  at += 2;
  if (bytes.length < at + contextBytes + 2) throw cut();
  const context = bytes.subarray(at, at + contextBytes).toString('utf8');
  at += contextBytes;
  const wrappedBytes = bytes.readUInt16BE(at);
  if (wrappedBytes > MAX_WRAPPED_BYTES) throw new VoxlineError('VL_ERR_DECRYPTION', 'header key too long');
  at += 2;
  if (bytes.length < at + wrappedBytes) throw cut();
  const wrapped = Buffer.from(bytes.subarray(at, at + wrappedBytes));
  return { bytes: Buffer.from(bytes.subarray(0, at + wrappedBytes)), context, wrapped };
}

/** What a segment's box is bound to: the file's header, its place, and whether it is the last. */
export function segmentAad(header: Buffer, index: number, final: boolean): Buffer {
  const place = Buffer.alloc(5);
  place.writeUInt32BE(index, 0);
  place[4] = final ? 1 : 0;
  return Buffer.concat([Buffer.from('voxline sealed segment\0', 'ascii'), header, place]);
}

export function encodeTrailer(segments: number, finalBoxBytes: number): Buffer {
  const out = Buffer.alloc(TRAILER_BYTES);
  out.writeUInt32BE(segments, 0);
  out.writeUInt32BE(finalBoxBytes, 4);
  TRAILER_MAGIC.copy(out, 8);
  return out;
}

/** The trailer in the file's last TRAILER_BYTES, or undefined: the file was not finished. */
export function decodeTrailer(bytes: Buffer): { segments: number; finalBoxBytes: number } | undefined {
  if (bytes.length !== TRAILER_BYTES || !bytes.subarray(8).equals(TRAILER_MAGIC)) return undefined;
  return { segments: bytes.readUInt32BE(0), finalBoxBytes: bytes.readUInt32BE(4) };
}

export function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value, 0);
  return out;
}

function u16(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value, 0);
  return out;
}
