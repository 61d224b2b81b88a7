import { Readable } from 'node:stream';
import type { Keyring } from '../crypto/keyring.js';
import { openSealedFile, type SealedFile } from '../crypto/sealed-file-reader.js';
import type { SealedSource } from '../crypto/sealed-source.js';
import { VoxlineError } from '../errors.js';
import { FORMATS, headerBytesOf, type RecordingFormat, wavHeader } from './wav-format.js';

/**
 * A WAV recording in a sealed file (crypto/sealed-file-format.ts). Segment 0 describes it
 * (version ‖ format ‖ u16 channels); each later segment is one append of interleaved samples; the
 * final segment repeats the description and adds u32 data bytes and the chunks after the data
 * (the pause markers). A reader therefore knows the WAV's header before it streams the samples:
 * what it emits is, byte for byte, what the clear WavWriter writes for the same appends.
 */
const VERSION = 1;
const FORMAT_CODES: readonly RecordingFormat[] = ['pcm16', 'mulaw'];
const MAX_CHANNELS = 16;
const DESCRIPTION_BYTES = 4;

/** The data key of a call's recording is bound to this: a file moved to another call does not open. */
export function recordingContext(callSid: string): string {
  return `recording:${callSid}`;
}

export interface RecordingDescription {
  readonly format: RecordingFormat;
  readonly channels: number;
}

export function encodeDescription(d: RecordingDescription): Buffer {
  const out = Buffer.alloc(DESCRIPTION_BYTES);
  out[0] = VERSION;
  out[1] = FORMAT_CODES.indexOf(d.format);
  out.writeUInt16BE(d.channels, 2);
  return out;
}

/** The final segment: the description, u32 data bytes, the chunks after the data. */
export function encodeFinal(d: RecordingDescription, dataBytes: number, tail: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeUInt32BE(dataBytes, 0);
  return Buffer.concat([encodeDescription(d), size, tail]);
}

export interface SealedRecording {
  readonly keyId: string;
  readonly format: RecordingFormat;
  readonly channels: number;
  /** Size of the WAV `wav()` streams. */
  readonly bytes: number;
  /** False: partial mode, and the file was cut (or changed) before its end: the WAV holds what authenticated, without markers. */
  readonly complete: boolean;
  readonly durationMs: number;
  /**
   * The WAV, streamed with memory bounded by one segment; read once. The source is closed when it
   * ends or is destroyed. A segment found changed while streaming errors the stream (VL_ERR_DECRYPTION).
   */
  wav(): Readable;
  /** Releases the source without streaming. */
  close(): Promise<void>;
}

export interface OpenRecordingOptions {
  /** The call it must belong to (the route knows it; the CLI takes what the file says). */
  readonly callSid?: string;
  /** Recover a file cut short (npm run recording:decrypt -- --partial): reads it twice. */
  readonly partial?: boolean;
}

/**
 * Opens a sealed recording: checks its key, its final segment (or, partial, counts the segments
 * that authenticate), so that the failures a caller can still answer for (a missing key, a cut
 * file) are thrown here, before any byte is sent. Closes the source if it throws.
 */
export async function openSealedRecording(
  source: SealedSource,
  keyring: Keyring,
  options: OpenRecordingOptions = {},
): Promise<SealedRecording> {
  try {
    const file = await openSealedFile(source, keyring, {
      ...(options.callSid === undefined ? {} : { context: recordingContext(options.callSid) }),
      partial: options.partial === true,
    });
    const plan = options.partial ? await recoverable(file) : finished(file);
    const { format, channels, dataBytes, tail } = plan;
    const f = FORMATS[format];
    return {
      keyId: file.keyId,
      format,
      channels,
      bytes: headerBytesOf(format) + dataBytes + tail.length,
      complete: plan.complete,
      durationMs: (dataBytes / (f.bytesPerSample * channels) / f.sampleRate) * 1000,
      wav: () => Readable.from(emit(file, source, plan), { objectMode: false }),
      close: () => source.close(),
    };
  } catch (err) {
    await source.close().catch(() => undefined);
    throw err;
  }
}

interface Plan extends RecordingDescription {
  readonly dataBytes: number;
  readonly tail: Buffer;
  /** Data segments to emit (after the description). */
  readonly segments: number;
  readonly complete: boolean;
}

function finished(file: SealedFile): Plan {
  const final = file.final as Buffer;
  if (final.length < DESCRIPTION_BYTES + 4)
    throw new VoxlineError('VL_ERR_DECRYPTION', 'the final segment is not a recording’s');
  return {
    ...decodeDescription(final),
    dataBytes: final.readUInt32BE(DESCRIPTION_BYTES),
    tail: final.subarray(DESCRIPTION_BYTES + 4),
    segments: (file.count as number) - 1,
    complete: true,
  };
}

/** Partial: a first pass counts what authenticates; all of it, with the final segment, is the whole file. */
async function recoverable(file: SealedFile): Promise<Plan> {
  let description: RecordingDescription | undefined;
  let segments = 0;
  let dataBytes = 0;
  for await (const segment of file.segments()) {
    if (!description) {
      description = decodeDescription(segment);
      continue;
    }
    segments++;
    dataBytes += segment.length;
  }
  if (!description)
    throw new VoxlineError(
      'VL_ERR_SEALED_TRUNCATED',
      'the file is cut before any audio (nothing to recover)',
    );
  if (file.final && segments + 1 === file.count) {
    const whole = finished(file);
    if (whole.dataBytes === dataBytes && sameDescription(whole, description)) return whole;
  }
  return { ...description, dataBytes, tail: Buffer.alloc(0), segments, complete: false };
}

/**
 * Header, data, tail. Each chunk is held back until the next one has authenticated, and the source
 * is closed before the last goes out: a client never has the whole Content-Length of a file whose
 * end did not check out, and once it has it, the response ends with no more I/O.
 */
async function* emit(file: SealedFile, source: SealedSource, plan: Plan): AsyncGenerator<Buffer> {
  let open = true;
  const close = async () => {
    if (open) {
      open = false;
      await source.close();
    }
  };
  try {
    let held = wavHeader(plan.format, plan.channels, plan.dataBytes, plan.tail.length);
    let index = -1;
    let bytes = 0;
    for await (const segment of file.segments()) {
      index++;
      if (index === 0) {
        if (!sameDescription(decodeDescription(segment), plan))
          throw new VoxlineError('VL_ERR_DECRYPTION', 'the first and the final segment disagree');
        continue;
      }
      bytes += segment.length;
      if (index > plan.segments || bytes > plan.dataBytes) break;
      yield held;
      held = segment;
    }
    if (index !== plan.segments || bytes !== plan.dataBytes)
      throw new VoxlineError(
        'VL_ERR_DECRYPTION',
        `the segments hold ${bytes} bytes of audio, the final segment says ${plan.dataBytes}`,
      );
    await close();
    yield plan.tail.length > 0 ? Buffer.concat([held, plan.tail]) : held;
  } finally {
    await close();
  }
}

function decodeDescription(bytes: Buffer): RecordingDescription {
  const format = FORMAT_CODES[bytes[1] ?? -1];
  const channels = bytes.length >= DESCRIPTION_BYTES ? bytes.readUInt16BE(2) : 0;
  if (bytes[0] !== VERSION || !format || channels < 1 || channels > MAX_CHANNELS)
    throw new VoxlineError('VL_ERR_DECRYPTION', 'not a sealed recording (unknown description)');
  return { format, channels };
}

function sameDescription(a: RecordingDescription, b: RecordingDescription): boolean {
  return a.format === b.format && a.channels === b.channels;
}
