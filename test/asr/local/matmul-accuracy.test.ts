import { cp, lstat, mkdtemp, readFile, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { setMatMulAccuracy } from '../../../src/asr/local/matmul-accuracy.js';
import { prepareMatMulAccuracy } from '../../../src/asr/local/prepared-graphs.js';

/** The tiny model's q4 graphs (test/fixtures/tiny-voxtral/build_tiny_q4.py; README.md there). */
const TINY = new URL('../../fixtures/tiny-voxtral', import.meta.url).pathname;
const ONNX = join(TINY, 'onnx');
const GRAPHS = ['audio_encoder', 'embed_tokens', 'decoder_model_merged'];

// A few lines of protobuf, to build models field by field and to read the rewrite back.
type Value = number | bigint | string | Uint8Array | Field[];
type Field = [number, Value];

function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

function encode(fields: readonly Field[]): Uint8Array {
  const out: number[] = [];
  for (const [number, value] of fields) {
    if (typeof value === 'number' || typeof value === 'bigint') {
      out.push(...varint(number * 8), ...varint(value));
      continue;
    }
    const bytes =
      typeof value === 'string'
        ? new TextEncoder().encode(value)
        : value instanceof Uint8Array
          ? value
          : encode(value);
    out.push(...varint(number * 8 + 2), ...varint(bytes.length), ...bytes);
  }
  return Uint8Array.from(out);
}

interface Decoded {
  readonly number: number;
  readonly int?: bigint;
  readonly bytes?: Uint8Array;
}

function decode(buf: Uint8Array): Decoded[] {
  const out: Decoded[] = [];
  let at = 0;
  const read = () => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[at++];
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (b < 0x80) return v;
    }
  };
  while (at < buf.length) {
    const tag = Number(read());
    const wire = tag & 7;
    if (wire === 0) out.push({ number: tag >> 3, int: read() });
    else if (wire === 2) {
      const len = Number(read());
      out.push({ number: tag >> 3, bytes: buf.subarray(at, at + len) });
      at += len;
    } else throw new Error(`wire ${wire} in a test model`);
  }
  return out;
}

const text = (b?: Uint8Array) => new TextDecoder().decode(b);
const sub = (fields: Decoded[], n: number) =>
  fields.filter((f) => f.number === n).map((f) => decode(f.bytes!));

interface SeenNode {
  readonly opType: string;
  readonly domain: string;
  /** accuracy_level values (more than one would be a bug). */
  readonly levels: bigint[];
  readonly depth: number;
}

/** Every node of a model, subgraphs (attribute g and graphs) and functions included. */
function nodesOf(model: Uint8Array): SeenNode[] {
  const seen: SeenNode[] = [];
  const visitGraph = (graph: Decoded[], depth: number) => {
    for (const node of sub(graph, 1)) visitNode(node, depth);
  };
  const visitNode = (node: Decoded[], depth: number) => {
    const levels: bigint[] = [];
    for (const attr of sub(node, 5)) {
      if (text(attr.find((f) => f.number === 1)?.bytes) === 'accuracy_level') {
        levels.push(attr.find((f) => f.number === 3)?.int ?? -1n);
        expect(attr.find((f) => f.number === 20)?.int).toBe(2n); // type INT
      }
      for (const g of [...sub(attr, 6), ...sub(attr, 11)]) visitGraph(g, depth + 1);
    }
    const str = (n: number) => text(node.find((f) => f.number === n)?.bytes);
    seen.push({ opType: str(4), domain: str(7), levels, depth });
  };
  const top = decode(model);
  for (const g of sub(top, 7)) visitGraph(g, 0);
  for (const fn of sub(top, 25)) for (const node of sub(fn, 7)) visitNode(node, 0);
  return seen;
}

const nbits = (extra: Field[] = [], domain = 'com.microsoft'): Field[] => [
  [1, 'x'],
  [1, 'w'],
  [2, 'y'],
  [3, 'a MatMulNBits'],
  [4, 'MatMulNBits'],
  [7, domain],
  [
    5,
    [
      [1, 'K'],
      [3, 16],
      [20, 2],
    ],
  ],
  [
    5,
    [
      [1, 'N'],
      [3, 8],
      [20, 2],
    ],
  ],
  ...extra,
];

/** A model with MatMulNBits nodes at depth 0, 1 (If branches) and 2 (a Loop body inside a branch). */
function syntheticModel(): Uint8Array {
  const leaf: Field[] = [
    [1, nbits()],
    [2, 'leaf'],
  ];
  const branch = (name: string): Field[] => [
    [1, nbits()],
    [
      1,
      [
        [4, 'Loop'],
        [
          5,
          [
            [1, 'body'],
            [6, leaf],
            [20, 5],
          ],
        ],
      ],
    ],
    [2, name],
  ];
  const graph: Field[] = [
    [
      1,
      nbits([
        [
          5,
          [
            [1, 'accuracy_level'],
            [3, 1],
            [20, 2],
            [13, 'was one'],
          ],
        ],
      ]),
    ], // replaced
    [1, nbits([], 'ai.onnx.contrib')], // another domain's op of the same name: left alone
    [
      1,
      [
        [4, 'MatMul'],
        [1, 'x'],
        [1, 'w'],
      ],
    ],
    [
      1,
      [
        [4, 'If'],
        [
          5,
          [
            [1, 'then_branch'],
            [6, branch('then')],
            [20, 5],
          ],
        ],
        [
          5,
          [
            [1, 'else_branch'],
            [6, branch('else')],
            [20, 5],
          ],
        ],
      ],
    ],
    [
      1,
      [
        [4, 'SequenceMap'],
        [
          5,
          [
            [1, 'bodies'],
            [11, leaf],
            [11, leaf],
            [20, 10],
          ],
        ],
      ],
    ], // GRAPHS
    [2, 'main'],
    [
      5,
      [
        [1, 8],
        [2, 1],
        [8, 'w'],
        [9, new Uint8Array([1, 2, 3, 4])],
      ],
    ], // an initializer
  ];
  const fn: Field[] = [
    [1, 'f'],
    [7, nbits()],
    [10, 'custom'],
  ];
  return encode([
    [1, 8], // ir_version
    [2, 'test'],
    [7, graph],
    [
      8,
      [
        [1, ''],
        [2, 17],
      ],
    ],
    [
      14,
      [
        [1, 'kept'],
        [2, 'verbatim'],
      ],
    ], // metadata_props
    [25, fn],
  ]);
}

describe('setMatMulAccuracy (the ONNX rewrite behind LOCAL_MATMUL_ACCURACY)', () => {
  it('sets every com.microsoft MatMulNBits, in If branches, nested bodies, graph lists and functions', () => {
    const before = syntheticModel();
    const { bytes, nodes, changed } = setMatMulAccuracy(before, 4);
    expect(nodes).toBe(8);
    expect(changed).toBe(8);
    const seen = nodesOf(bytes).filter((n) => n.opType === 'MatMulNBits');
    expect(seen.map((n) => [n.domain, n.depth, n.levels])).toEqual(
      expect.arrayContaining([
        ['com.microsoft', 0, [4n]],
        ['ai.onnx.contrib', 0, []],
        ['com.microsoft', 1, [4n]],
        ['com.microsoft', 2, [4n]],
      ]),
    );
    expect(seen.filter((n) => n.domain === 'com.microsoft').every((n) => n.levels.length === 1)).toBe(true);
    expect(seen.filter((n) => n.depth === 1)).toHaveLength(4); // the If's branches, the graph list's entries
    expect(seen.filter((n) => n.depth === 2)).toHaveLength(2); // the Loop bodies inside the branches
    // Everything else is the same: the fields around the changed messages, byte for byte.
    const top = decode(bytes);
    expect(top.map((f) => f.number)).toEqual([1, 2, 7, 8, 14, 25]);
    const original = decode(before);
    for (const i of [0, 1, 3, 4]) {
      expect(top[i].int).toEqual(original[i].int);
      expect(top[i].bytes && Buffer.from(top[i].bytes!)).toEqual(
        original[i].bytes && Buffer.from(original[i].bytes!),
      );
    }
    const graph = decode(top[2].bytes!);
    const initializer = graph.find((f) => f.number === 5)!;
    expect(Buffer.from(initializer.bytes!)).toEqual(
      Buffer.from(
        encode([
          [1, 8],
          [2, 1],
          [8, 'w'],
          [9, new Uint8Array([1, 2, 3, 4])],
        ]),
      ),
    );
    // The replaced attribute keeps its doc_string.
    const firstNode = decode(graph.find((f) => f.number === 1)!.bytes!);
    const acc = sub(firstNode, 5).find(
      (a) => text(a.find((f) => f.number === 1)?.bytes) === 'accuracy_level',
    )!;
    expect(text(acc.find((f) => f.number === 13)?.bytes)).toBe('was one');
  });

  it('is idempotent, and a level set back gives back the same bytes', () => {
    const at4 = setMatMulAccuracy(syntheticModel(), 4);
    const again = setMatMulAccuracy(at4.bytes, 4);
    expect(again.changed).toBe(0);
    expect(again.nodes).toBe(8);
    expect(again.bytes).toBe(at4.bytes); // nothing to change: the very same buffer
    const at0 = setMatMulAccuracy(at4.bytes, 0);
    expect(at0.changed).toBe(8);
    expect(nodesOf(at0.bytes).flatMap((n) => n.levels)).toEqual(Array(8).fill(0n));
    expect(Buffer.from(setMatMulAccuracy(at0.bytes, 4).bytes)).toEqual(Buffer.from(at4.bytes));
  });

  it('refuses what is not a model or not a level', () => {
    expect(() => setMatMulAccuracy(new Uint8Array([0x3a, 0x40, 1]), 4)).toThrow(/not an ONNX model/);
    expect(() => setMatMulAccuracy(syntheticModel(), 5 as 4)).toThrow(RangeError);
    expect(setMatMulAccuracy(new Uint8Array(), 4)).toMatchObject({ nodes: 0, changed: 0 });
  });

  it('finds the q4 fixture’s 12 MatMulNBits, the decoder’s If branches included', async () => {
    const counts: Record<string, number> = {};
    for (const graph of GRAPHS) {
      const bytes = new Uint8Array(await readFile(join(ONNX, `${graph}_q4.onnx`)));
      const result = setMatMulAccuracy(bytes, 4);
      counts[graph] = result.changed;
      const seen = nodesOf(result.bytes).filter((n) => n.opType === 'MatMulNBits');
      expect(seen.every((n) => n.levels.length === 1 && n.levels[0] === 4n)).toBe(true);
      if (graph === 'decoder_model_merged') expect(seen.filter((n) => n.depth === 1)).toHaveLength(2);
    }
    expect(counts).toEqual({ audio_encoder: 6, embed_tokens: 0, decoder_model_merged: 6 });
  });

  it('onnxruntime runs the rewritten graph: level 0 exactly as the export, level 4 close to it', async () => {
    const original = new Uint8Array(await readFile(join(ONNX, 'audio_encoder_q4.onnx')));
    const past = 5;
    let seed = 1;
    const rand = (n: number) =>
      Float32Array.from({ length: n }, () => {
        seed = (seed * 16807) % 2147483647;
        return seed / 2147483647 - 0.5;
      });
    const feeds = {
      input_features: new ort.Tensor('float32', rand(128 * 8), [1, 128, 8]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(past + 4).fill(1n), [1, past + 4]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from([5n, 6n, 7n, 8n]), [1, 4]),
      past_padding_cache: new ort.Tensor('float32', rand(144 * 2), [1, 144, 2]),
      ...Object.fromEntries(
        [0, 1].flatMap((i) =>
          ['key', 'value'].map((kind) => [
            `past_key_values.${i}.${kind}`,
            new ort.Tensor('float32', rand(2 * past * 8), [1, 2, past, 8]),
          ]),
        ),
      ),
    };
    const run = async (bytes: Uint8Array) => {
      const session = await ort.InferenceSession.create(bytes);
      const out = (await session.run(feeds)).audio_embeds.data as Float32Array;
      await session.release();
      return out;
    };
    const want = await run(original);
    expect(await run(setMatMulAccuracy(original, 0).bytes)).toEqual(want);
    const at4 = await run(setMatMulAccuracy(original, 4).bytes);
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < want.length; i++) {
      diff += (at4[i] - want[i]) ** 2;
      norm += want[i] ** 2;
    }
    const relative = Math.sqrt(diff / norm);
    expect(relative).toBeLessThan(0.05);
    expect(relative).toBeGreaterThan(0); // int8 activations: onnxruntime took the attribute
  });
});

describe('prepareMatMulAccuracy (the graphs voxline loads instead of the export’s)', () => {
  async function loads(graph: string | undefined): Promise<void> {
    // onnxruntime 1.30 reads external data only from a plain file (no link) beside the graph.
    const session = await ort.InferenceSession.create(graph ?? 'missing');
    expect(session.outputNames).toContain('logits');
    await session.release();
  }

  async function copyOfTiny(): Promise<string> {
    const source = await mkdtemp(join(tmpdir(), 'voxline-model-'));
    await cp(TINY, source, { recursive: true });
    return source;
  }

  it('writes the rewritten graphs beside the weights (nothing copied), and only when they differ', async () => {
    const source = await copyOfTiny();
    const root = await mkdtemp(join(tmpdir(), 'voxline-prepared-'));
    const options = { source, graphs: GRAPHS, suffix: '_q4', level: 4 as const, root };
    const racing = await Promise.all([1, 2, 3].map(() => prepareMatMulAccuracy(options)));
    const prepared = racing[0];
    expect(prepared.nodes).toBe(12);
    expect(prepared.copied).toEqual([]);
    expect([...prepared.files]).toEqual(
      GRAPHS.map((g) => [`${g}_q4.onnx`, join(source, 'onnx', `${g}_q4.acc4.onnx`)]),
    );
    for (const r of racing) expect([...r.files]).toEqual([...prepared.files]);
    const decoder = prepared.files.get('decoder_model_merged_q4.onnx');
    await loads(decoder);
    const rewritten = new Uint8Array(await readFile(decoder ?? ''));
    expect(setMatMulAccuracy(rewritten, 4)).toMatchObject({ nodes: 6, changed: 0 });
    // The original is untouched; a second preparation leaves the rewritten file as it is.
    expect(
      setMatMulAccuracy(
        new Uint8Array(await readFile(join(source, 'onnx', 'decoder_model_merged_q4.onnx'))),
        4,
      ).changed,
    ).toBe(6);
    const before = (await stat(decoder ?? '')).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    await prepareMatMulAccuracy(options);
    expect((await stat(decoder ?? '')).mtimeMs).toBe(before);
    await expect(prepareMatMulAccuracy({ ...options, suffix: '_q2' })).rejects.toThrow(/no such graph/);
  });

  it('where it may not write beside them: copies of graphs and weights, once, renewed when the model changes', async () => {
    const source = await copyOfTiny();
    const root = await mkdtemp(join(tmpdir(), 'voxline-prepared-'));
    const options = { source, graphs: GRAPHS, suffix: '_q4', level: 4 as const, root, beside: false };
    const racing = await Promise.all([1, 2].map(() => prepareMatMulAccuracy(options)));
    expect(racing.flatMap((r) => r.copied)).toEqual(['decoder_model_merged_q4.onnx_data']);
    const decoder = racing[0].files.get('decoder_model_merged_q4.onnx') ?? '';
    expect(racing[1].files.get('decoder_model_merged_q4.onnx')).toBe(decoder);
    const folder = dirname(decoder);
    expect(folder.startsWith(root)).toBe(true);
    expect(basename(folder)).toMatch(/^acc4-[0-9a-f]{12}-[0-9a-f]{12}$/);
    expect((await lstat(join(folder, 'decoder_model_merged_q4.onnx_data'))).isFile()).toBe(true);
    await loads(decoder);
    expect(await prepareMatMulAccuracy(options)).toMatchObject({ nodes: 12, copied: [] });
    expect(
      (await prepareMatMulAccuracy({ ...options, level: 0 })).files.get('decoder_model_merged_q4.onnx'),
    ).not.toBe(decoder);

    await utimes(join(source, 'onnx', 'audio_encoder_q4.onnx'), new Date(), new Date(Date.now() + 60_000));
    const next = await prepareMatMulAccuracy(options);
    expect(next.copied).toEqual(['decoder_model_merged_q4.onnx_data']);
    expect(dirname(next.files.get('decoder_model_merged_q4.onnx') ?? '')).not.toBe(folder);
    await expect(stat(folder)).rejects.toThrow(/ENOENT/);
  });
});
