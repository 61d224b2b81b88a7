import type { PauseRecord } from '../calls/call-pauses.js';
import { MAX_TAIL_BYTES } from './wav-format.js';

/** A labelled span of the call, on the call clock (ms); `endMs` null: it lasted to the end. */
export interface WavMark {
  readonly startMs: number;
  readonly endMs: number | null;
  readonly label: string;
}

/** At most this many marks are written (a call keeps at most 100 pauses), labels cut to this many bytes. */
const MAX_MARKS = 128;
const MAX_LABEL_BYTES = 80;

/** A call's pauses as marks: "paused by api" over each span. */
export function pauseMarks(pauses: readonly PauseRecord[]): WavMark[] {
  return pauses.map((p) => ({ startMs: p.startMs, endMs: p.endMs, label: `paused by ${p.by}` }));
}

/**
 * What follows the data chunk: for each mark a cue point, and in a LIST/adtl chunk an `ltxt` (the
 * region's length, purpose `rgn `) and a `labl` (the label). Positions are sample frames: the call
 * clock's ms × the sample rate, which is the file position as long as no leg skipped time (a
 * timestamp jump the aligner did not fill is left out of the file, so marks after one sit that much
 * late); clamped to the `frames` written. A pad byte first when the data chunk is odd-sized.
 * Empty without marks: the WAV is then the same as before markers existed.
 */
export function markerChunks(
  marks: readonly WavMark[],
  sampleRate: number,
  frames: number,
  dataBytes: number,
): Buffer {
  if (marks.length === 0) return Buffer.alloc(0);
  const at = (ms: number) => Math.min(frames, Math.max(0, Math.round((ms * sampleRate) / 1000)));
  const spans = marks.slice(0, MAX_MARKS).map((m, i) => {
    const start = Number.isFinite(m.startMs) ? at(m.startMs) : 0;
    const end = m.endMs === null || !Number.isFinite(m.endMs) ? frames : at(m.endMs);
    return { id: i + 1, start, length: Math.max(0, end - start), label: labelBytes(m.label) };
  });
  const cue = chunk(
    'cue ',
    Buffer.concat([
      u32(spans.length),
      ...spans.map((s) => {
        const point = Buffer.alloc(24);
        point.writeUInt32LE(s.id, 0);
        point.writeUInt32LE(s.start, 4); // play order position: the sample, there being no playlist
        point.write('data', 8, 'ascii');
        point.writeUInt32LE(0, 12); // chunk start
        point.writeUInt32LE(0, 16); // block start
        point.writeUInt32LE(s.start, 20);
        return point;
      }),
    ]),
  );
  const adtl = spans.flatMap((s) => {
    const ltxt = Buffer.alloc(20);
    ltxt.writeUInt32LE(s.id, 0);
    ltxt.writeUInt32LE(s.length, 4);
    ltxt.write('rgn ', 8, 'ascii'); // country, language, dialect, code page: 0
    return [chunk('ltxt', ltxt), chunk('labl', Buffer.concat([u32(s.id), s.label, Buffer.from([0])]))];
  });
  const list = chunk('LIST', Buffer.concat([Buffer.from('adtl', 'ascii'), ...adtl]));
  const tail = Buffer.concat([Buffer.alloc(dataBytes % 2), cue, list]);
  // Cannot happen with MAX_MARKS and MAX_LABEL_BYTES; the writers' size limit counts on it.
  if (tail.length > MAX_TAIL_BYTES) throw new RangeError('wav markers exceed MAX_TAIL_BYTES');
  return tail;
}

function labelBytes(label: string): Buffer {
  const bytes = Buffer.from(label.replaceAll('\0', ' '), 'utf8');
  if (bytes.length <= MAX_LABEL_BYTES) return bytes;
  // Cut on a character boundary: a continuation byte (10xxxxxx) is not a place to stop.
  let end = MAX_LABEL_BYTES;
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** A RIFF chunk: id, size, body, and a pad byte if the body's size is odd. */
function chunk(id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'ascii');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body, Buffer.alloc(body.length % 2)]);
}

function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(value, 0);
  return out;
}
