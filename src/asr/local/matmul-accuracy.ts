/**
 * LOCAL_MATMUL_ACCURACY: the `accuracy_level` of the 4-bit MatMulNBits nodes in Voxtral's q4 export.
 *
 * The community q4 export leaves the attribute unset (0: the kernel picks float activations). At 4
 * onnxruntime quantizes each MatMulNBits' activations to int8 on the fly and runs int8 dot products
 * (AVX-512 VNNI / AVX-VNNI / AMX on x86, dot-product instructions on ARM): about twice as fast on a
 * CPU for a small loss of precision. The attribute is part of the graph, so voxline rewrites the graph
 * files (a few MB: the weights live in external-data files) and has transformers.js load those
 * (prepared-graphs.ts puts them beside the weights).
 *
 * The rewrite reads and writes just enough of ONNX's protobuf encoding (onnx/onnx.proto) to reach
 * every NodeProto, in the main graph, in functions, and in the subgraphs that If / Loop / Scan nodes
 * hold as graph attributes (the merged decoder's If branches); every other field's bytes are kept as
 * they are.
 */

/** onnxruntime's MatMulNBits accuracy levels: 0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8 activations. */
export type MatMulAccuracy = 0 | 1 | 2 | 3 | 4;

export interface MatMulAccuracyRewrite {
  /** The model with the attribute set (the input itself when nothing had to change). */
  readonly bytes: Uint8Array;
  /** MatMulNBits nodes found (all of them now have the level). */
  readonly nodes: number;
  /** Those whose attribute was missing or had another value. */
  readonly changed: number;
}

// Field numbers from onnx/onnx.proto.
const MODEL_GRAPH = 7;
const MODEL_FUNCTIONS = 25;
const FUNCTION_NODE = 7;
const GRAPH_NODE = 1;
const NODE_OP_TYPE = 4;
const NODE_DOMAIN = 7;
const NODE_ATTRIBUTE = 5;
const ATTR_NAME = 1;
const ATTR_I = 3;
const ATTR_G = 6;
const ATTR_GRAPHS = 11;
const ATTR_TYPE = 20;
const ATTR_TYPE_INT = 2;
const ATTR_DOC_STRING = 13;
/** What a rewritten accuracy_level attribute keeps of the old one. */
const KEPT_ATTR_FIELDS: ReadonlySet<number> = new Set([ATTR_NAME, ATTR_DOC_STRING]);

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const OP_TYPE = 'MatMulNBits';
const DOMAIN = 'com.microsoft';
const ATTRIBUTE = 'accuracy_level';

/** One field of a message: its tag, and where its value and the whole field lie in the buffer. */
interface Field {
  readonly number: number;
  readonly wire: number;
  /** The whole field, tag included. */
  readonly start: number;
  readonly end: number;
  /** A length-delimited field's payload (after its length). */
  readonly valueStart: number;
}

/** Bytes to write, as pieces (a rewritten message is its unchanged slices and its new parts). */
interface Pieces {
  readonly parts: Uint8Array[];
  length: number;
}

class ProtobufError extends Error {}

function readVarint(buf: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let i = at; i < buf.length && i < at + 10; i++) {
    const byte = buf[i];
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if (byte < 0x80) return { value, next: i + 1 };
  }
  throw new ProtobufError(`bad varint at byte ${at}`);
}

function fieldsOf(buf: Uint8Array, start: number, end: number): Field[] {
  const fields: Field[] = [];
  let at = start;
  while (at < end) {
    const tag = readVarint(buf, at);
    const number = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    let valueStart = tag.next;
    let next: number;
    switch (wire) {
      case WIRE_VARINT:
        next = readVarint(buf, tag.next).next;
        break;
      case WIRE_I64:
        next = tag.next + 8;
        break;
      case WIRE_I32:
        next = tag.next + 4;
        break;
      case WIRE_LEN: {
        const len = readVarint(buf, tag.next);
        valueStart = len.next;
        next = len.next + len.value;
        break;
      }
      default:
        throw new ProtobufError(`unsupported wire type ${wire} (field ${number}) at byte ${at}`);
    }
    if (number === 0 || next > end) throw new ProtobufError(`truncated or invalid field at byte ${at}`);
    fields.push({ number, wire, start: at, end: next, valueStart });
    at = next;
  }
  return fields;
}

function varint(value: number | bigint): Uint8Array {
  // int64 values are two's complement: negatives take 10 bytes.
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

function tag(number: number, wire: number): Uint8Array {
  return varint(number * 8 + wire);
}

function pieces(): Pieces {
  return { parts: [], length: 0 };
}

function push(p: Pieces, bytes: Uint8Array): void {
  p.parts.push(bytes);
  p.length += bytes.length;
}

/** A length-delimited field holding `inner`. */
function pushMessage(p: Pieces, number: number, inner: Pieces): void {
  push(p, tag(number, WIRE_LEN));
  push(p, varint(inner.length));
  for (const part of inner.parts) push(p, part);
}

function concat(p: Pieces): Uint8Array {
  const out = new Uint8Array(p.length);
  let at = 0;
  for (const part of p.parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const encoder = new TextEncoder();

function stringOf(buf: Uint8Array, f: Field): string {
  return utf8.decode(buf.subarray(f.valueStart, f.end));
}

interface Counts {
  nodes: number;
  changed: number;
}

type Rewriter = (buf: Uint8Array, start: number, end: number, counts: Counts) => Pieces | undefined;

/**
 * Rewrites the fields numbered in `children` with `rewrite` (a length-delimited message each);
 * undefined when none of them changed (the caller keeps the original bytes).
 */
function rewriteChildren(
  buf: Uint8Array,
  start: number,
  end: number,
  counts: Counts,
  children: ReadonlyMap<number, Rewriter>,
): Pieces | undefined {
  const fields = fieldsOf(buf, start, end);
  const out = pieces();
  let changed = false;
  for (const f of fields) {
    const rewrite = f.wire === WIRE_LEN ? children.get(f.number) : undefined;
    const inner = rewrite?.(buf, f.valueStart, f.end, counts);
    if (inner) {
      pushMessage(out, f.number, inner);
      changed = true;
    } else {
      push(out, buf.subarray(f.start, f.end));
    }
  }
  return changed ? out : undefined;
}

function accuracyAttribute(level: number): Pieces {
  const attr = pieces();
  push(attr, tag(ATTR_NAME, WIRE_LEN));
  const name = encoder.encode(ATTRIBUTE);
  push(attr, varint(name.length));
  push(attr, name);
  push(attr, tag(ATTR_I, WIRE_VARINT));
  push(attr, varint(level));
  push(attr, tag(ATTR_TYPE, WIRE_VARINT));
  push(attr, varint(ATTR_TYPE_INT));
  return attr;
}

/** The rewriters of each message on the way from a ModelProto to MatMulNBits' attribute. */
function modelRewriter(level: number): Rewriter {
  const children = (map: [number, Rewriter][]) => new Map(map);

  const graph: Rewriter = (buf, start, end, counts) =>
    rewriteChildren(buf, start, end, counts, children([[GRAPH_NODE, nodeRewriter]]));

  // An attribute: its subgraphs (g, graphs) are rewritten wherever they are.
  const subgraphs: Rewriter = (buf, start, end, counts) =>
    rewriteChildren(
      buf,
      start,
      end,
      counts,
      children([
        [ATTR_G, graph],
        [ATTR_GRAPHS, graph],
      ]),
    );

  /**
   * MatMulNBits' accuracy_level attribute, set to `level`: its name and doc_string kept, then
   * `i` and `type` INT (any other value field could not stand beside an int, so none is kept).
   */
  const accuracy = (buf: Uint8Array, start: number, end: number): { bytes: Pieces; same: boolean } => {
    const fields = fieldsOf(buf, start, end);
    const ints = fields.filter((f) => f.number === ATTR_I && f.wire === WIRE_VARINT);
    const types = fields.filter((f) => f.number === ATTR_TYPE && f.wire === WIRE_VARINT);
    const same =
      ints.length === 1 &&
      readVarint(buf, ints[0].valueStart).value === level &&
      types.length === 1 &&
      readVarint(buf, types[0].valueStart).value === ATTR_TYPE_INT &&
      fields.every((f) => KEPT_ATTR_FIELDS.has(f.number) || f.number === ATTR_I || f.number === ATTR_TYPE);
    const out = pieces();
    for (const f of fields) {
      if (KEPT_ATTR_FIELDS.has(f.number)) push(out, buf.subarray(f.start, f.end));
    }
    push(out, tag(ATTR_I, WIRE_VARINT));
    push(out, varint(level));
    push(out, tag(ATTR_TYPE, WIRE_VARINT));
    push(out, varint(ATTR_TYPE_INT));
    return { bytes: out, same };
  };

  const nodeRewriter: Rewriter = (buf, start, end, counts) => {
    const fields = fieldsOf(buf, start, end);
    let opType = '';
    let domain = '';
    for (const f of fields) {
      if (f.wire !== WIRE_LEN) continue;
      if (f.number === NODE_OP_TYPE) opType = stringOf(buf, f);
      else if (f.number === NODE_DOMAIN) domain = stringOf(buf, f);
    }
    const target = opType === OP_TYPE && domain === DOMAIN;
    const out = pieces();
    let changed = false;
    let found = false;
    let nodeChanged = false;
    for (const f of fields) {
      if (f.number !== NODE_ATTRIBUTE || f.wire !== WIRE_LEN) {
        push(out, buf.subarray(f.start, f.end));
        continue;
      }
      const nameField = fieldsOf(buf, f.valueStart, f.end).find(
        (a) => a.number === ATTR_NAME && a.wire === WIRE_LEN,
      );
      if (target && nameField && stringOf(buf, nameField) === ATTRIBUTE) {
        found = true;
        const { bytes, same } = accuracy(buf, f.valueStart, f.end);
        if (same) {
          push(out, buf.subarray(f.start, f.end));
        } else {
          pushMessage(out, NODE_ATTRIBUTE, bytes);
          changed = true;
          nodeChanged = true;
        }
        continue;
      }
      const inner = subgraphs(buf, f.valueStart, f.end, counts);
      if (inner) {
        pushMessage(out, NODE_ATTRIBUTE, inner);
        changed = true;
      } else {
        push(out, buf.subarray(f.start, f.end));
      }
    }
    if (target) {
      counts.nodes++;
      if (!found) {
        pushMessage(out, NODE_ATTRIBUTE, accuracyAttribute(level));
        changed = true;
        nodeChanged = true;
      }
      if (nodeChanged) counts.changed++;
    }
    return changed ? out : undefined;
  };

  const fn: Rewriter = (buf, start, end, counts) =>
    rewriteChildren(buf, start, end, counts, children([[FUNCTION_NODE, nodeRewriter]]));

  const model: Rewriter = (buf, start, end, counts) =>
    rewriteChildren(
      buf,
      start,
      end,
      counts,
      children([
        [MODEL_GRAPH, graph],
        [MODEL_FUNCTIONS, fn],
      ]),
    );

  return model;
}

/** Throws a RangeError unless `level` is one of onnxruntime's accuracy levels. */
export function checkLevel(level: number): void {
  if (!Number.isInteger(level) || level < 0 || level > 4) {
    throw new RangeError(`accuracy_level must be an integer from 0 to 4 (got ${level})`);
  }
}

/**
 * Sets `accuracy_level` on every com.microsoft MatMulNBits node of an ONNX model (ModelProto bytes),
 * subgraphs and functions included: an existing attribute is replaced, a missing one added. Every
 * other byte keeps its meaning (fields are copied as they are; only the messages on the way to a
 * changed attribute get new lengths). Idempotent: a second pass changes nothing and returns the
 * same bytes.
 */
export function setMatMulAccuracy(model: Uint8Array, level: MatMulAccuracy): MatMulAccuracyRewrite {
  checkLevel(level);
  const counts: Counts = { nodes: 0, changed: 0 };
  let out: Pieces | undefined;
  try {
    out = modelRewriter(level)(model, 0, model.length, counts);
  } catch (err) {
    if (err instanceof ProtobufError) throw new Error(`not an ONNX model: ${err.message}`);
    throw err;
  }
  return { bytes: out ? concat(out) : model, nodes: counts.nodes, changed: counts.changed };
}
