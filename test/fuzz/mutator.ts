/**
 * A seeded generator of hostile GGUF models and imatrix files (GGUF and legacy .dat). A small valid file
 * is described structurally (KVs, tensor infos, data), mutated at that level (duplicate names, nested
 * arrays, invalid UTF-8 and NULs, other types and shapes, misaligned or disordered offsets, odd
 * alignments, NaN data...), serialized while recording the span and kind of every field, then mutated at
 * the byte level through those spans (truncation at a section boundary or inside a field, extreme counts,
 * lengths, dims, offsets and types, byte flips). Everything derives from the seed, so a case is
 * reproduced by its seed alone. Written apart from src/formats (the serializer is its own).
 */
import { mulberry32 } from '../../src/synthetic-model.js';

export type Rand = () => number;

export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const int = (r: Rand, n: number) => Math.floor(r() * n);
const latin1 = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));

// ---------------------------------------------------------------------------------------------------
// serialization with field spans

export type FieldKind =
  | 'magic' | 'version' | 'n_tensors' | 'n_kv' | 'strlen' | 'strbytes' | 'vtype' | 'etype' | 'arrcount'
  | 'value' | 'ndims' | 'dim' | 'ggmltype' | 'offset' | 'pad' | 'data'
  | 'dat-count' | 'dat-len' | 'dat-name' | 'dat-i32' | 'dat-values';

export interface Span { start: number; end: number; kind: FieldKind; section: string }

class SpanWriter {
  bytes: number[] = [];
  spans: Span[] = [];
  section = 'header';
  private put(n: number, kind: FieldKind, f: (dv: DataView) => void): void {
    const dv = new DataView(new ArrayBuffer(n));
    f(dv);
    const start = this.bytes.length;
    for (let i = 0; i < n; i++) this.bytes.push(dv.getUint8(i));
    this.spans.push({ start, end: this.bytes.length, kind, section: this.section });
  }
  u32(v: number, kind: FieldKind) { this.put(4, kind, (d) => d.setUint32(0, v >>> 0, true)); }
  i32(v: number, kind: FieldKind) { this.put(4, kind, (d) => d.setInt32(0, v | 0, true)); }
  u64(v: bigint, kind: FieldKind) { this.put(8, kind, (d) => d.setBigUint64(0, BigInt.asUintN(64, v), true)); }
  raw(b: ArrayLike<number>, kind: FieldKind) {
    const start = this.bytes.length;
    for (let i = 0; i < b.length; i++) this.bytes.push(b[i] & 0xff);
    this.spans.push({ start, end: this.bytes.length, kind, section: this.section });
  }
  str(b: Uint8Array) {
    this.u64(BigInt(b.length), 'strlen');
    this.raw(b, 'strbytes');
  }
}

/** GGUF value types (gguf.h) */
export const VT = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STR: 8, ARR: 9, U64: 10, I64: 11, F64: 12 } as const;
const VSIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

export interface KvDesc {
  key: Uint8Array;
  /** value type; for arrays the element type */
  type: number;
  isArray?: boolean;
  /** per element: a number/bigint for fixed-size types, bytes for strings, raw bytes for anything else */
  values: (number | bigint | Uint8Array)[];
  /** written count when it must lie */
  count?: bigint;
}

export interface TensorDesc {
  name: Uint8Array;
  ne: bigint[];
  type: number;
  /** stored offset; default: packed in order, padded to the alignment */
  offset?: bigint;
  data: Uint8Array;
}

export interface GgufDesc {
  magic: Uint8Array;
  version: number;
  kvs: KvDesc[];
  tensors: TensorDesc[];
  alignment: number;
}

function writeValue(w: SpanWriter, type: number, v: number | bigint | Uint8Array): void {
  if (v instanceof Uint8Array) {
    if (type === VT.STR) w.str(v);
    else w.raw(v, 'value');
    return;
  }
  const n = VSIZE[type] ?? 4;
  const dv = new DataView(new ArrayBuffer(n));
  if (type === VT.F32) dv.setFloat32(0, Number(v), true);
  else if (type === VT.F64) dv.setFloat64(0, Number(v), true);
  else if (n === 8) dv.setBigUint64(0, BigInt.asUintN(64, BigInt(v)), true);
  else if (n === 4) dv.setUint32(0, Number(v) >>> 0, true);
  else if (n === 2) dv.setUint16(0, Number(v) & 0xffff, true);
  else dv.setUint8(0, Number(v) & 0xff);
  w.raw(new Uint8Array(dv.buffer), 'value');
}

export interface Serialized { bytes: Uint8Array; spans: Span[] }

export function serializeGguf(d: GgufDesc): Serialized {
  const w = new SpanWriter();
  w.raw(d.magic, 'magic');
  w.u32(d.version, 'version');
  w.u64(BigInt(d.tensors.length), 'n_tensors');
  w.u64(BigInt(d.kvs.length), 'n_kv');
  for (const [i, kv] of d.kvs.entries()) {
    w.section = `kv ${i}`;
    w.str(kv.key);
    if (kv.isArray) {
      w.i32(VT.ARR, 'vtype');
      w.i32(kv.type, 'etype');
      w.u64(kv.count ?? BigInt(kv.values.length), 'arrcount');
    } else {
      w.i32(kv.type, 'vtype');
    }
    for (const v of kv.values) writeValue(w, kv.type, v);
  }
  let off = 0n;
  const align = BigInt(d.alignment > 0 ? d.alignment : 32);
  for (const [i, t] of d.tensors.entries()) {
    w.section = `tensor info ${i}`;
    w.str(t.name);
    w.u32(t.ne.length, 'ndims');
    for (const x of t.ne) w.u64(x, 'dim');
    w.i32(t.type, 'ggmltype');
    w.u64(t.offset ?? off, 'offset');
    off += ((BigInt(t.data.length) + align - 1n) / align) * align;
  }
  w.section = 'padding';
  const pad = (Number(align) - (w.bytes.length % Number(align))) % Number(align);
  if (d.tensors.length) w.raw(new Uint8Array(pad), 'pad');
  for (const [i, t] of d.tensors.entries()) {
    w.section = `data ${i}`;
    w.raw(t.data, 'data');
    const p = (Number(align) - (t.data.length % Number(align))) % Number(align);
    if (p) w.raw(new Uint8Array(p), 'pad');
  }
  return { bytes: Uint8Array.from(w.bytes), spans: w.spans };
}

// ---------------------------------------------------------------------------------------------------
// the base model

const N_EMBD = 64;
const N_FF = 128;
const N_VOCAB = 32;

/** tensor data of `n` values: F32, F16 or BF16 bit patterns of small values, or Q8_0 blocks */
function tensorData(r: Rand, type: number, n: number): Uint8Array {
  if (type === 0) {
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) f[i] = (r() - 0.5) * 0.2;
    return new Uint8Array(f.buffer);
  }
  if (type === 1 || type === 30) {
    const h = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      if (type === 1) h[i] = (r() < 0.5 ? 0x8000 : 0) | ((10 + int(r, 5)) << 10) | int(r, 1024);
      else h[i] = (r() < 0.5 ? 0x8000 : 0) | ((118 + int(r, 6)) << 7) | int(r, 128);
    }
    return new Uint8Array(h.buffer);
  }
  if (type === 8) {
    const out = new Uint8Array((n / 32) * 34);
    for (let b = 0; b < n / 32; b++) {
      out[b * 34] = 0x00;
      out[b * 34 + 1] = 0x1c; // fp16 scale 2^-8
      for (let i = 0; i < 32; i++) out[b * 34 + 2 + i] = int(r, 256);
    }
    return out;
  }
  return Uint8Array.from({ length: n * 4 }, () => int(r, 256));
}

const ELEMENT_BYTES: Record<number, number> = { 0: 4, 1: 2, 30: 2, 24: 1, 25: 2, 26: 4, 27: 8, 28: 8 };

/** bytes for a tensor of type `type` and shape `ne` (0 when the row does not split into blocks) */
export function nbytesOf(type: number, ne: readonly bigint[]): number {
  const n = ne.reduce((a, b) => a * b, 1n);
  if (n > 1n << 24n) return 0;
  if (ELEMENT_BYTES[type]) return Number(n) * ELEMENT_BYTES[type];
  if (type === 8) return ne[0] % 32n === 0n ? (Number(n) / 32) * 34 : 0;
  return 0;
}

const u32kv = (k: string, v: number): KvDesc => ({ key: latin1(k), type: VT.U32, values: [v] });

export function baseModel(r: Rand): GgufDesc {
  const w = pick(r, [0, 1, 30]);
  const tensors: [string, number[], number][] = [
    ['token_embd.weight', [N_EMBD, N_VOCAB], w],
    ['output_norm.weight', [N_EMBD], 0],
    ['output.weight', [N_EMBD, N_VOCAB], w],
    ['blk.0.attn_norm.weight', [N_EMBD], 0],
    ['blk.0.attn_q.weight', [N_EMBD, N_EMBD], w],
    ['blk.0.attn_k.weight', [N_EMBD, N_EMBD / 2], w],
    ['blk.0.attn_v.weight', [N_EMBD, N_EMBD / 2], w],
    ['blk.0.attn_output.weight', [N_EMBD, N_EMBD], w],
    ['blk.0.ffn_norm.weight', [N_EMBD], 0],
    ['blk.0.ffn_gate.weight', [N_EMBD, N_FF], w],
    ['blk.0.ffn_up.weight', [N_EMBD, N_FF], w],
    ['blk.0.ffn_down.weight', [N_FF, N_EMBD], r() < 0.2 ? 8 : w],
  ];
  const tokens = Array.from({ length: N_VOCAB }, (_, i) => latin1(i < 3 ? ['<unk>', '<s>', '</s>'][i] : `t${i}`));
  const kvs: KvDesc[] = [
    { key: latin1('general.architecture'), type: VT.STR, values: [latin1('llama')] },
    { key: latin1('general.name'), type: VT.STR, values: [latin1('fuzz')] },
    u32kv('llama.context_length', 128),
    u32kv('llama.embedding_length', N_EMBD),
    u32kv('llama.feed_forward_length', N_FF),
    u32kv('llama.block_count', 1),
    u32kv('llama.attention.head_count', 2),
    u32kv('llama.attention.head_count_kv', 1),
    { key: latin1('llama.attention.layer_norm_rms_epsilon'), type: VT.F32, values: [1e-5] },
    u32kv('general.file_type', w === 0 ? 0 : w === 1 ? 1 : 32),
    { key: latin1('tokenizer.ggml.model'), type: VT.STR, values: [latin1('llama')] },
    { key: latin1('tokenizer.ggml.tokens'), type: VT.STR, isArray: true, values: tokens },
    { key: latin1('tokenizer.ggml.scores'), type: VT.F32, isArray: true, values: tokens.map(() => 0) },
    { key: latin1('tokenizer.ggml.token_type'), type: VT.I32, isArray: true, values: tokens.map(() => 1) },
    { key: latin1('tokenizer.ggml.add_bos_token'), type: VT.BOOL, values: [1] },
    { key: latin1('general.size'), type: VT.U64, values: [123n] },
  ];
  return {
    magic: latin1('GGUF'), version: 3, alignment: 32, kvs,
    tensors: tensors.map(([name, ne, type]) => ({ name: latin1(name), ne: ne.map(BigInt), type, data: tensorData(r, type, ne.reduce((a, b) => a * b, 1)) })),
  };
}

// ---------------------------------------------------------------------------------------------------
// structural mutations

const BAD_BYTES: number[][] = [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x00], [0x0a], [0x1b, 0x5b, 0x32, 0x4a], [0xe2, 0x80, 0xae], [0xc0, 0xaf], [0xef, 0xbb, 0xbf]];

/** `b` with a bad byte sequence inserted at, or written over, a random place */
function spoil(r: Rand, b: Uint8Array, keepLength: boolean): Uint8Array {
  const bad = pick(r, BAD_BYTES);
  const at = int(r, b.length + 1);
  if (keepLength && b.length >= bad.length) {
    const out = new Uint8Array(b);
    out.set(bad, Math.min(at, b.length - bad.length));
    return out;
  }
  return Uint8Array.from([...b.subarray(0, at), ...bad, ...b.subarray(at)]);
}

const ALL_TYPES = [0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 19, 20, 23, 24, 25, 26, 27, 28, 29, 30, 34, 35, 39, 40, 41, 42, 4, 5, 31, 43, 100, -1, 0x7fffffff];

type Mutation = (r: Rand, d: GgufDesc) => string;

export const STRUCTURAL: Record<string, Mutation> = {
  'duplicate tensor name': (r, d) => {
    const a = int(r, d.tensors.length), b = int(r, d.tensors.length);
    d.tensors[b].name = d.tensors[a].name;
    return `tensor ${b} renamed as tensor ${a}`;
  },
  'duplicate key': (r, d) => {
    const a = int(r, d.kvs.length);
    d.kvs.splice(int(r, d.kvs.length + 1), 0, { ...d.kvs[a] });
    return `key ${a} repeated`;
  },
  'nested array': (r, d) => {
    const inner = new SpanWriter();
    inner.i32(VT.U32, 'etype');
    inner.u64(2n, 'arrcount');
    inner.u32(1, 'value');
    inner.u32(2, 'value');
    d.kvs.splice(int(r, d.kvs.length + 1), 0, { key: latin1('fuzz.nested'), type: VT.ARR, isArray: true, values: [Uint8Array.from(inner.bytes)] });
    return 'array of arrays';
  },
  'invalid UTF-8 in a tensor name': (r, d) => {
    const i = int(r, d.tensors.length);
    d.tensors[i].name = spoil(r, d.tensors[i].name, r() < 0.5);
    return `tensor ${i} name spoiled`;
  },
  'invalid UTF-8 in a key': (r, d) => {
    const i = int(r, d.kvs.length);
    d.kvs[i].key = spoil(r, d.kvs[i].key, r() < 0.5);
    return `key ${i} spoiled`;
  },
  'invalid UTF-8 in a string value': (r, d) => {
    const strs = d.kvs.filter((k) => k.type === VT.STR);
    const kv = pick(r, strs);
    const j = int(r, kv.values.length);
    kv.values[j] = spoil(r, kv.values[j] as Uint8Array, false);
    return `string value of ${Buffer.from(kv.key).toString('latin1')}[${j}] spoiled`;
  },
  'long tensor name': (r, d) => {
    const i = int(r, d.tensors.length);
    const n = pick(r, [62, 63, 64, 65, 200, 5000]);
    d.tensors[i].name = Uint8Array.from({ length: n }, (_, k) => d.tensors[i].name[k % d.tensors[i].name.length]);
    return `tensor ${i} name ${n} bytes`;
  },
  'other stored type': (r, d) => {
    const i = int(r, d.tensors.length);
    const t = d.tensors[i];
    // half the time an integer or F64 type: stored types that are neither float nor quantized
    t.type = r() < 0.5 ? pick(r, [24, 25, 26, 27, 28]) : pick(r, ALL_TYPES);
    const n = nbytesOf(t.type, t.ne);
    if (t.type === 8 && n) t.data = tensorData(r, 8, Number(t.ne.reduce((a, b) => a * b, 1n)));
    else if (n) t.data = Uint8Array.from({ length: n }, () => int(r, 256));
    return `tensor ${i} stored type ${t.type}`;
  },
  'other shape': (r, d) => {
    const i = int(r, d.tensors.length);
    const t = d.tensors[i];
    const shapes: bigint[][] = [[], [0n], [0n, 64n], [63n, 64n], [48n, 32n], [64n, 2n, 4n], [64n, 1n, 1n, 1n], [32n, 2n, 2n, 2n, 2n], [1n << 62n, 4n], [-1n, 64n], [(1n << 53n) + 1n], [64n, 1n << 40n]];
    t.ne = pick(r, shapes);
    const n = nbytesOf(t.type, t.ne);
    if (r() < 0.7 && n) t.data = Uint8Array.from({ length: n }, () => int(r, 256) & 0x3f);
    return `tensor ${i} shape [${t.ne.join(', ')}]`;
  },
  'alignment': (r, d) => {
    const v = pick(r, [1, 8, 64, 0, 3, 48, 1 << 30]);
    const type = pick(r, [VT.U32, VT.U32, VT.U64, VT.I32, VT.STR]);
    d.kvs.push({ key: latin1('general.alignment'), type, values: [type === VT.STR ? latin1(String(v)) : type === VT.U64 ? BigInt(v) : v] });
    if (type === VT.U32 && v > 0 && (v & (v - 1)) === 0 && v <= 64) d.alignment = v;
    return `general.alignment ${type}:${v}`;
  },
  'misaligned offset': (r, d) => {
    const i = int(r, d.tensors.length);
    d.tensors[i].offset = BigInt(pick(r, [1, 31, 32, 64, -32, 1 << 20, 2 ** 40]));
    return `tensor ${i} offset set`;
  },
  'swapped data order': (r, d) => {
    const a = int(r, d.tensors.length), b = int(r, d.tensors.length);
    [d.tensors[a], d.tensors[b]] = [d.tensors[b], d.tensors[a]];
    const oa = d.tensors[a].offset;
    d.tensors[a].offset = d.tensors[b].offset ?? 0n;
    d.tensors[b].offset = oa ?? 1024n;
    return `tensors ${a} and ${b} swapped with offsets`;
  },
  'drop tensor': (r, d) => `tensor ${d.tensors.splice(int(r, d.tensors.length), 1).length ? 'dropped' : ''}`,
  'drop key': (r, d) => {
    const i = int(r, d.kvs.length);
    const k = Buffer.from(d.kvs[i].key).toString('latin1');
    d.kvs.splice(i, 1);
    return `key ${k} dropped`;
  },
  'key value type': (r, d) => {
    const i = int(r, d.kvs.length);
    d.kvs[i].type = pick(r, [13, -1, 255, VT.ARR, VT.BOOL, VT.U64, VT.STR, VT.F64]);
    return `key ${i} value type ${d.kvs[i].type}`;
  },
  'bool bytes': (r, d) => {
    d.kvs.push({ key: latin1('fuzz.bools'), type: VT.BOOL, isArray: true, values: [0, 1, 2, 255] });
    return 'bool array with 2 and 255';
  },
  'array count lies': (r, d) => {
    const arrs = d.kvs.filter((k) => k.isArray);
    const kv = pick(r, arrs);
    kv.count = pick(r, [0n, 1n, BigInt(kv.values.length + 1), 1n << 30n, (1n << 30n) + 1n, 1n << 62n, (1n << 64n) - 1n]);
    return `array ${Buffer.from(kv.key).toString('latin1')} count ${kv.count}`;
  },
  'non-finite data': (r, d) => {
    const f32 = d.tensors.filter((t) => t.type === 0 && t.data.length >= 4);
    if (!f32.length) return 'no f32 tensor';
    const t = pick(r, f32);
    new DataView(t.data.buffer, t.data.byteOffset).setUint32(4 * int(r, t.data.length / 4), pick(r, [0x7fc00000, 0x7f800000, 0xff800000, 0x7f800001]), true);
    return `non-finite value in ${Buffer.from(t.name).toString('latin1')}`;
  },
  'split keys': (r, d) => {
    d.kvs.push({ key: latin1('split.count'), type: pick(r, [VT.U16, VT.U32]), values: [pick(r, [0, 1, 2, 65535])] });
    if (r() < 0.5) d.kvs.push({ key: latin1('split.no'), type: VT.U16, values: [pick(r, [0, 1])] });
    return 'split.* keys';
  },
  'architecture': (r, d) => {
    const kv = d.kvs.find((k) => Buffer.from(k.key).toString('latin1') === 'general.architecture');
    if (kv) kv.values = [latin1(pick(r, ['', 'llama\0x', 'nonexistent', 'qwen2', 'x'.repeat(300)]))];
    return 'general.architecture changed';
  },
  'block count': (r, d) => {
    const kv = d.kvs.find((k) => Buffer.from(k.key).toString('latin1') === 'llama.block_count');
    if (kv) { kv.type = pick(r, [VT.U32, VT.I32, VT.U64, VT.F32]); kv.values = [pick(r, [0, 2, 1000, 0xffffffff])]; }
    return 'llama.block_count changed';
  },
  'version and magic': (r, d) => {
    if (r() < 0.5) d.version = pick(r, [0, 1, 2, 4, 0x03000000, 0xffffffff]);
    else d.magic = latin1(pick(r, ['GGUG', 'FUGG', '\0\0\0\0', 'GGU']));
    return `version ${d.version} magic ${Buffer.from(d.magic).toString('latin1')}`;
  },
  'many tensors': (r, d) => {
    const n = pick(r, [100, 500]);
    for (let i = 0; i < n; i++) d.tensors.push({ name: latin1(`extra.${i}.weight`), ne: [32n, 1n], type: 0, data: new Uint8Array(128) });
    return `${n} extra small tensors`;
  },
};

// ---------------------------------------------------------------------------------------------------
// byte-level mutations through the spans

const EXTREMES_64 = [0n, 1n, 31n, 63n, 64n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 1n << 53n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n];
const EXTREMES_32 = [0, 1, 2, 4, 5, 9, 12, 13, 26, 30, 39, 255, 0x7fffffff, 0x80000000, 0xffffffff];

function setSpan(b: Uint8Array, s: Span, v: bigint): void {
  const dv = new DataView(b.buffer, b.byteOffset);
  const n = s.end - s.start;
  if (n === 8) dv.setBigUint64(s.start, BigInt.asUintN(64, v), true);
  else if (n === 4) dv.setUint32(s.start, Number(BigInt.asUintN(32, v)), true);
}

export function byteMutation(r: Rand, s: Serialized): { bytes: Uint8Array; what: string } {
  let b = new Uint8Array(s.bytes);
  const headerSpans = s.spans.filter((x) => x.kind !== 'data' && x.kind !== 'pad');
  const which = pick(r, ['truncate-boundary', 'truncate-inside', 'extreme', 'extreme', 'extreme', 'flip', 'append', 'strlen']);
  if (which === 'truncate-boundary') {
    const sections = [...new Set(s.spans.map((x) => x.section))];
    const sec = pick(r, sections);
    const first = s.spans.find((x) => x.section === sec)!;
    const at = r() < 0.5 ? first.start : s.spans.filter((x) => x.section === sec).pop()!.end - 1;
    return { bytes: b.subarray(0, at), what: `truncated at ${at} (${sec})` };
  }
  if (which === 'truncate-inside') {
    const sp = pick(r, s.spans);
    const at = sp.start + int(r, Math.max(1, sp.end - sp.start));
    return { bytes: b.subarray(0, at), what: `truncated at ${at} inside ${sp.kind} of ${sp.section}` };
  }
  if (which === 'extreme' || which === 'strlen') {
    const kinds: FieldKind[] = which === 'strlen' ? ['strlen'] : ['n_tensors', 'n_kv', 'strlen', 'arrcount', 'dim', 'offset', 'ndims', 'ggmltype', 'vtype', 'etype', 'dat-count', 'dat-len', 'dat-i32'];
    const cands = s.spans.filter((x) => kinds.includes(x.kind));
    if (!cands.length) return { bytes: b, what: 'unchanged' };
    const sp = pick(r, cands);
    const v = sp.end - sp.start === 8 ? pick(r, [...EXTREMES_64, BigInt(b.length), BigInt(b.length - sp.end + 1)]) : BigInt(pick(r, EXTREMES_32));
    setSpan(b, sp, v);
    return { bytes: b, what: `${sp.kind} of ${sp.section} at ${sp.start} set to ${v}` };
  }
  if (which === 'append') {
    const extra = Uint8Array.from({ length: pick(r, [1, 31, 4096]) }, () => int(r, 256));
    return { bytes: Uint8Array.from([...b, ...extra]), what: `${extra.length} bytes appended` };
  }
  const n = 1 + int(r, 4);
  const at: number[] = [];
  for (let i = 0; i < n; i++) {
    const sp = pick(r, headerSpans);
    const p = sp.start + int(r, sp.end - sp.start);
    b[p] ^= 1 << int(r, 8);
    at.push(p);
  }
  return { bytes: b, what: `bits flipped at ${at.join(',')}` };
}

// ---------------------------------------------------------------------------------------------------
// imatrix files

/** the weights of the base model that an imatrix covers (name, ne0) */
export const IMATRIX_WEIGHTS: [string, number][] = [
  ['blk.0.attn_q.weight', N_EMBD], ['blk.0.attn_k.weight', N_EMBD], ['blk.0.attn_v.weight', N_EMBD], ['blk.0.attn_output.weight', N_EMBD],
  ['blk.0.ffn_gate.weight', N_EMBD], ['blk.0.ffn_up.weight', N_EMBD], ['blk.0.ffn_down.weight', N_FF],
];

export function imatrixGgufDesc(r: Rand): GgufDesc {
  const tensors: TensorDesc[] = [];
  for (const [name, n] of IMATRIX_WEIGHTS) {
    const sums = new Float32Array(n).map(() => r() * 10);
    tensors.push({ name: latin1(`${name}.in_sum2`), ne: [BigInt(n), 1n], type: 0, data: new Uint8Array(sums.buffer) });
    tensors.push({ name: latin1(`${name}.counts`), ne: [1n, 1n], type: 0, data: new Uint8Array(new Float32Array([10]).buffer) });
  }
  return {
    magic: latin1('GGUF'), version: 3, alignment: 32, tensors,
    kvs: [
      { key: latin1('general.type'), type: VT.STR, values: [latin1('imatrix')] },
      { key: latin1('imatrix.datasets'), type: VT.STR, isArray: true, values: [latin1('fuzz.txt')] },
      u32kv('imatrix.chunk_count', 10),
      u32kv('imatrix.chunk_size', 512),
    ],
  };
}

export const IMATRIX_STRUCTURAL: Record<string, Mutation> = {
  'duplicate tensor name': STRUCTURAL['duplicate tensor name'],
  'invalid UTF-8 in a tensor name': STRUCTURAL['invalid UTF-8 in a tensor name'],
  'drop tensor': STRUCTURAL['drop tensor'],
  'drop key': STRUCTURAL['drop key'],
  'key value type': STRUCTURAL['key value type'],
  'other stored type': STRUCTURAL['other stored type'],
  'other shape': STRUCTURAL['other shape'],
  'non-finite data': STRUCTURAL['non-finite data'],
  'array count lies': STRUCTURAL['array count lies'],
  'invalid UTF-8 in a string value': STRUCTURAL['invalid UTF-8 in a string value'],
  'counts zero or negative': (r, d) => {
    const c = d.tensors.filter((t) => Buffer.from(t.name).toString('latin1').endsWith('.counts'));
    const t = pick(r, c);
    t.data = new Uint8Array(new Float32Array([pick(r, [0, -1, 0.4, 1e30, -1e30])]).buffer);
    return `counts of ${Buffer.from(t.name).toString('latin1')} changed`;
  },
  'entry of another size': (r, d) => {
    const i = int(r, d.tensors.length);
    const n = pick(r, [1n, 32n, 128n, 65n]);
    d.tensors[i].ne = [n, 1n];
    d.tensors[i].data = new Uint8Array(Number(n) * 4);
    return `tensor ${i} resized to ${n}`;
  },
};

export interface DatEntry { name: Uint8Array; ncall: number; values: Float32Array; nval?: number; len?: number }

export function imatrixDatEntries(r: Rand): DatEntry[] {
  return IMATRIX_WEIGHTS.map(([name, n]) => ({ name: latin1(name), ncall: 10, values: new Float32Array(n).map(() => r() * 10) }));
}

export function serializeDat(entries: DatEntry[], trailer: { chunks?: number; dataset?: Uint8Array } = { chunks: 10, dataset: latin1('fuzz.txt') }, count?: number): Serialized {
  const w = new SpanWriter();
  w.i32(count ?? entries.length, 'dat-count');
  for (const [i, e] of entries.entries()) {
    w.section = `entry ${i}`;
    w.i32(e.len ?? e.name.length, 'dat-len');
    w.raw(e.name, 'dat-name');
    w.i32(e.ncall, 'dat-i32');
    w.i32(e.nval ?? e.values.length, 'dat-i32');
    w.raw(new Uint8Array(e.values.buffer, e.values.byteOffset, e.values.byteLength), 'dat-values');
  }
  w.section = 'trailer';
  if (trailer.chunks !== undefined) w.i32(trailer.chunks, 'dat-i32');
  if (trailer.dataset) {
    w.i32(trailer.dataset.length, 'dat-len');
    w.raw(trailer.dataset, 'dat-name');
  }
  return { bytes: Uint8Array.from(w.bytes), spans: w.spans };
}

function datMutation(r: Rand, entries: DatEntry[]): { s: Serialized; what: string } {
  const i = int(r, entries.length);
  const which = pick(r, ['name', 'nval', 'ncall', 'nan', 'dup', 'len', 'count', 'trailer', 'none']);
  let count: number | undefined;
  let trailer: { chunks?: number; dataset?: Uint8Array } = { chunks: 10, dataset: latin1('fuzz.txt') };
  if (which === 'name') entries[i].name = spoil(r, entries[i].name, r() < 0.5);
  if (which === 'nval') entries[i].nval = pick(r, [0, -1, 1, entries[i].values.length + 1, 0x7fffffff, 0x40000000]);
  if (which === 'ncall') entries[i].ncall = pick(r, [0, -1, 0x7fffffff]);
  if (which === 'nan') entries[i].values[int(r, entries[i].values.length)] = pick(r, [NaN, Infinity, -Infinity]);
  if (which === 'dup') entries.push({ ...entries[i], values: new Float32Array(entries[i].values.length + 32) });
  if (which === 'len') entries[i].len = pick(r, [0, -1, -100, 0x7fffffff, entries[i].name.length + 1]);
  if (which === 'count') count = pick(r, [0, -1, entries.length + 1, 0x7fffffff]);
  if (which === 'trailer') trailer = pick(r, [{}, { chunks: -5 }, { chunks: 3, dataset: spoil(r, latin1('data'), false) }, { chunks: 1, dataset: new Uint8Array(0) }]);
  return { s: serializeDat(entries, trailer, count), what: `.dat ${which} (entry ${i})` };
}

// ---------------------------------------------------------------------------------------------------
// cases

export type CaseKind = 'gguf' | 'imatrix';

export interface FuzzCase {
  kind: CaseKind;
  seed: number;
  /** the mutated file (the model, or the imatrix for kind 'imatrix') */
  bytes: Uint8Array;
  /** imatrix cases: 'gguf' or 'dat' */
  format: 'gguf' | 'dat';
  what: string[];
  ftype: { id: number; name: string; onlyCopy?: boolean };
  allowRequantize: boolean;
}

const FTYPES = [
  { id: 7, name: 'Q8_0' }, { id: 2, name: 'Q4_0' }, { id: 15, name: 'Q4_K_M' }, { id: 1, name: 'F16' },
  { id: 0, name: 'COPY', onlyCopy: true }, { id: 10, name: 'Q2_K' }, { id: 9, name: 'Q5_1' },
];

function applyStructural(r: Rand, d: GgufDesc, table: Record<string, Mutation>, what: string[]): void {
  const names = Object.keys(table);
  const n = r() < 0.3 ? 0 : 1 + int(r, 2);
  for (let i = 0; i < n; i++) {
    const m = pick(r, names);
    try {
      what.push(`${m}: ${table[m](r, d)}`);
    } catch {
      // the file no longer has what this mutation edits (no tensors, no arrays left...)
      what.push(`${m}: not applicable`);
    }
  }
}

/** The case for `seed` (every choice derives from it). */
export function makeCase(kind: CaseKind, seed: number): FuzzCase {
  const r = mulberry32(seed * 2654435761);
  const what: string[] = [];
  const ftype = pick(r, FTYPES);
  const allowRequantize = r() < 0.3;
  let format: 'gguf' | 'dat' = 'gguf';
  let s: Serialized;
  if (kind === 'gguf') {
    const d = baseModel(r);
    applyStructural(r, d, STRUCTURAL, what);
    s = serializeGguf(d);
  } else if (r() < 0.5) {
    const d = imatrixGgufDesc(r);
    applyStructural(r, d, IMATRIX_STRUCTURAL, what);
    s = serializeGguf(d);
  } else {
    format = 'dat';
    const m = datMutation(r, imatrixDatEntries(r));
    what.push(m.what);
    s = m.s;
  }
  let bytes = s.bytes;
  if (what.length === 0 || r() < 0.4) {
    const m = byteMutation(r, s);
    bytes = m.bytes;
    what.push(m.what);
  }
  return { kind, seed, bytes, format, what, ftype, allowRequantize };
}

/** The valid base model the imatrix cases quantize (seeded, F32 weights so that the imatrix is used). */
export function imatrixBaseModel(): Uint8Array {
  const r = mulberry32(12345);
  let d = baseModel(r);
  while (d.tensors[4].type !== 0 || d.tensors[11].type !== 0) d = baseModel(r);
  return serializeGguf(d).bytes;
}
