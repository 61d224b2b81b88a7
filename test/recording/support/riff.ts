/** A WAV's chunks read back by hand (for tests): what a player walking the RIFF list would see. */
export interface RiffChunk {
  readonly id: string;
  readonly body: Buffer;
}

export interface WavMarkers {
  readonly cues: { id: number; position: number; chunk: string; sampleOffset: number }[];
  readonly regions: { id: number; length: number; purpose: string }[];
  readonly labels: { id: number; text: string }[];
}

/** The top-level chunks; throws unless the RIFF size is the file's and the chunks fill it exactly. */
export function riffChunks(wav: Buffer): RiffChunk[] {
  if (wav.toString('ascii', 0, 4) !== 'RIFF' || wav.toString('ascii', 8, 12) !== 'WAVE')
    throw new Error('not RIFF/WAVE');
  if (wav.readUInt32LE(4) !== wav.length - 8)
    throw new Error(`RIFF size ${wav.readUInt32LE(4)}, file ${wav.length - 8}`);
  return subChunks(wav.subarray(12));
}

function subChunks(bytes: Buffer): RiffChunk[] {
  const out: RiffChunk[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 8 > bytes.length) throw new Error(`a chunk header cut at ${at}`);
    const size = bytes.readUInt32LE(at + 4);
    if (at + 8 + size > bytes.length) throw new Error(`chunk at ${at} overruns the file`);
    out.push({ id: bytes.toString('ascii', at, at + 4), body: bytes.subarray(at + 8, at + 8 + size) });
    at += 8 + size + (size % 2);
  }
  if (at !== bytes.length) throw new Error('chunks do not end with the file');
  return out;
}

/** The cue points and the LIST/adtl ltxt and labl entries. */
export function wavMarkers(wav: Buffer): WavMarkers {
  const chunks = riffChunks(wav);
  const cue = chunks.find((c) => c.id === 'cue ');
  const cues = [];
  if (cue) {
    const n = cue.body.readUInt32LE(0);
    if (cue.body.length !== 4 + 24 * n) throw new Error('cue chunk size');
    for (let i = 0; i < n; i++) {
      const p = cue.body.subarray(4 + 24 * i);
      cues.push({
        id: p.readUInt32LE(0),
        position: p.readUInt32LE(4),
        chunk: p.toString('ascii', 8, 12),
        sampleOffset: p.readUInt32LE(20),
      });
    }
  }
  const regions = [];
  const labels = [];
  for (const list of chunks.filter((c) => c.id === 'LIST' && c.body.toString('ascii', 0, 4) === 'adtl')) {
    for (const sub of subChunks(list.body.subarray(4))) {
      if (sub.id === 'ltxt')
        regions.push({
          id: sub.body.readUInt32LE(0),
          length: sub.body.readUInt32LE(4),
          purpose: sub.body.toString('ascii', 8, 12),
        });
      if (sub.id === 'labl') {
        const text = sub.body.subarray(4);
        if (text.at(-1) !== 0) throw new Error('labl text is not NUL-terminated');
        labels.push({ id: sub.body.readUInt32LE(0), text: text.subarray(0, -1).toString('utf8') });
      }
    }
  }
  return { cues, regions, labels };
}
