/**
 * GGUF reader (spec §5.1, §5.2): header, ordered KVs and tensor infos, validated the way llama.cpp's
 * gguf_init_from_file_impl and llama_model_loader validate them, plus split-model merging and row reads.
 * Browser-safe: all I/O goes through a ByteSource. Why this does not use @huggingface/gguf: gguf-kv.ts.
 */
import { GgufFormatError, quoteName } from '../errors.js';
import { GgmlType, hasTypeLayout, typeLayout } from '../core/ggml-type.js';
import type { ByteSource } from './byte-source.js';
import { decodeString } from './gguf-string.js';
import { GGUF_VALUE_SIZE, GGUF_VALUE_TYPE_NAME, GgufValueType, kvNumber, type GgufArray, type GgufKv, type GgufScalar } from './gguf-kv.js';

export const GGUF_MAGIC = 'GGUF';
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
export const GGML_MAX_DIMS = 4;
/** tensor names are stored in a 64-byte C array in ggml, terminator included */
export const GGML_MAX_NAME = 64;
/** llama.cpp's GGUF_MAX_STRING_LENGTH: longer strings are refused by the reference reader too */
export const MAX_STRING_BYTES = 2 ** 30;
/** llama.cpp's GGUF_MAX_ARRAY_ELEMENTS */
export const MAX_ARRAY_ELEMENTS = 2 ** 30;
/** the metadata is parsed from memory; real headers (tokenizer included) are a few MiB */
export const MAX_HEADER_BYTES = 2 ** 30;
/** smallest KV record: 8-byte key length, 1-byte key, 4-byte type, 1-byte value; bounds n_kv by the file size */
export const MIN_KV_BYTES = 14;
/** smallest tensor info: 8-byte name length, n_dims, type, 8-byte offset; bounds n_tensors by the file size */
export const MIN_TENSOR_INFO_BYTES = 24;
/** first read of a header; grown fourfold until the header fits (each try re-parses from the start) */
const INITIAL_HEADER_READ = 1 << 20;

export interface GgufTensorInfo {
  readonly name: string;
  /** n_dims as stored in the file */
  readonly nDims: number;
  /** always 4 entries, missing dimensions are 1 (ggml's convention); ne[0] is the row length */
  readonly ne: readonly number[];
  readonly type: GgmlType;
  /** offset relative to the file's data section */
  readonly offset: number;
  readonly nbytes: number;
  /** absolute offset of the tensor's first byte in its file */
  readonly dataOffset: number;
  /** index of the file (split shard) holding the data; 0 for single files */
  readonly shard: number;
}

export interface GgufFile {
  readonly name: string;
  readonly size: number;
  readonly version: number;
  readonly kvs: readonly GgufKv[];
  readonly tensors: readonly GgufTensorInfo[];
  readonly alignment: number;
  /** absolute offset of the data section */
  readonly dataOffset: number;
  /** end of the tensor infos, before the padding to the alignment */
  readonly metaEnd: number;
}

export const padTo = (n: number, align: number): number => Math.ceil(n / align) * align;

/** Bytes of a tensor: ne0/blck · type_size · ne1 · ne2 · ne3 (ggml_nbytes for contiguous tensors). */
export function tensorNBytes(type: GgmlType, ne: readonly number[]): number {
  const t = typeLayout(type);
  let n = (ne[0] / t.blockSize) * t.typeSize;
  for (let i = 1; i < ne.length; i++) n *= ne[i];
  return n;
}

/** Thrown inside the synchronous parser when the bytes loaded so far end before the header does. */
class NeedMore {
  constructor(readonly end: number) {}
}


class HeaderParser {
  pos = 0;
  private readonly dv: DataView;
  constructor(private readonly bytes: Uint8Array, private readonly fileSize: number, readonly file: string) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fail(detail: string): never {
    throw new GgufFormatError(this.file, detail);
  }
  /** A field that runs past the end of the file. */
  truncated(detail: string): never {
    this.fail(`truncated: ${detail} (the file has ${this.fileSize} bytes)`);
  }
  need(n: number, what: string): void {
    const end = this.pos + n;
    if (end <= this.bytes.length) return;
    if (end > this.fileSize) this.truncated(`${what} at offset ${this.pos} needs ${n} bytes`);
    throw new NeedMore(end);
  }
  remaining(): number {
    return this.fileSize - this.pos;
  }
  u32(what: string): number { this.need(4, what); const v = this.dv.getUint32(this.pos, true); this.pos += 4; return v; }
  i32(what: string): number { this.need(4, what); const v = this.dv.getInt32(this.pos, true); this.pos += 4; return v; }
  u64(what: string): bigint { this.need(8, what); const v = this.dv.getBigUint64(this.pos, true); this.pos += 8; return v; }
  i64(what: string): bigint { this.need(8, what); const v = this.dv.getBigInt64(this.pos, true); this.pos += 8; return v; }
  raw(n: number, what: string): Uint8Array { this.need(n, what); const b = this.bytes.subarray(this.pos, this.pos + n); this.pos += n; return b; }
  slice(start: number, end: number): Uint8Array { return this.bytes.slice(start, end); }

  stringBytes(what: string): Uint8Array {
    const start = this.pos;
    const len = this.u64(`length of ${what}`);
    if (len > BigInt(MAX_STRING_BYTES)) this.fail(`${what} at offset ${start} has length ${len}, more than the limit ${MAX_STRING_BYTES}`);
    if (len > BigInt(this.remaining())) this.truncated(`${what} at offset ${start} has length ${len} but only ${this.remaining()} bytes remain`);
    return this.raw(Number(len), what);
  }
  /** a string, decoded losslessly (invalid UTF-8 bytes survive a write, see gguf-string.ts) */
  string(what: string): string {
    return decodeString(this.stringBytes(what));
  }
}

/** A value: scalar or array (`key` arrives quoted for messages); `normalized` is set when a bool byte other than 0/1 was seen. */
function readValue(p: HeaderParser, key: string, type: GgufValueType, isArray: boolean): { value: GgufScalar | GgufArray; normalized: boolean } {
  const what = `value of key ${key}`;
  if (!isArray) {
    if (type === GgufValueType.STRING) return { value: p.string(what), normalized: false };
    const arr = readArray(p, key, type, 1);
    const v = (arr.value as ArrayLike<GgufScalar>)[0];
    return { value: v, normalized: arr.normalized };
  }
  const n = p.u64(`element count of key ${key}`);
  if (n > BigInt(MAX_ARRAY_ELEMENTS)) p.fail(`key ${key} is an array of ${n} elements, more than the limit ${MAX_ARRAY_ELEMENTS}`);
  return readArray(p, key, type, Number(n));
}

/** `key` arrives quoted (quoteName) */
function readArray(p: HeaderParser, key: string, type: GgufValueType, n: number): { value: GgufArray; normalized: boolean } {
  const what = `value of key ${key}`;
  // strings need at least their 8-byte length each: refuse counts the file cannot hold before allocating
  const minBytes = n * (type === GgufValueType.STRING ? 8 : GGUF_VALUE_SIZE[type]);
  if (minBytes > p.remaining()) p.truncated(`key ${key} holds ${n} ${GGUF_VALUE_TYPE_NAME[type]} values (at least ${minBytes} bytes) but only ${p.remaining()} bytes remain`);
  if (type === GgufValueType.STRING) {
    const out: string[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = p.string(`element ${i} of key ${key}`);
    return { value: out, normalized: false };
  }
  const src = p.raw(minBytes, what);
  if (type === GgufValueType.BOOL) {
    const out: boolean[] = new Array(n);
    let normalized = false;
    for (let i = 0; i < n; i++) {
      out[i] = src[i] !== 0;
      if (src[i] > 1) normalized = true;
    }
    return { value: out, normalized };
  }
  // aligned copy for the typed-array view (never Buffer#slice, which is a view, not a copy)
  const buf = new Uint8Array(src).buffer;
  const views: Record<number, (b: ArrayBuffer) => GgufArray> = {
    [GgufValueType.UINT8]: (b) => new Uint8Array(b), [GgufValueType.INT8]: (b) => new Int8Array(b),
    [GgufValueType.UINT16]: (b) => new Uint16Array(b), [GgufValueType.INT16]: (b) => new Int16Array(b),
    [GgufValueType.UINT32]: (b) => new Uint32Array(b), [GgufValueType.INT32]: (b) => new Int32Array(b),
    [GgufValueType.FLOAT32]: (b) => new Float32Array(b), [GgufValueType.FLOAT64]: (b) => new Float64Array(b),
    [GgufValueType.UINT64]: (b) => new BigUint64Array(b), [GgufValueType.INT64]: (b) => new BigInt64Array(b),
  };
  return { value: views[type](buf), normalized: false };
}

const isValueType = (t: number): boolean => Number.isInteger(t) && t >= 0 && t <= GgufValueType.FLOAT64;

function parseVersionAndCounts(p: HeaderParser): { version: number; nTensors: number; nKv: number } {
  const magic = p.raw(4, 'magic');
  if (String.fromCharCode(...magic) !== GGUF_MAGIC) {
    const shown = Array.from(magic, (c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '?')).join('');
    p.fail(`not a GGUF file: magic is '${shown}', expected 'GGUF'`);
  }
  const version = p.u32('version');
  if (version === 0) p.fail('bad GGUF version 0');
  if ((version & 0xffff) === 0) p.fail(`GGUF version field reads ${version} (0x${version.toString(16)}): a big-endian file, which is not supported`);
  if (version === 1) p.fail('GGUF version 1 is no longer supported (llama.cpp reads versions 2 and 3)');
  if (version > GGUF_VERSION) p.fail(`GGUF version ${version} is newer than the supported version ${GGUF_VERSION}`);
  const nt = p.i64('n_tensors');
  const nk = p.i64('n_kv');
  if (nt < 0n) p.fail(`n_tensors is ${nt}, negative`);
  if (nk < 0n) p.fail(`n_kv is ${nk}, negative`);
  const minBytes = nk * BigInt(MIN_KV_BYTES) + nt * BigInt(MIN_TENSOR_INFO_BYTES);
  if (minBytes > BigInt(p.remaining())) {
    p.fail(`n_kv = ${nk} and n_tensors = ${nt} need at least ${minBytes} header bytes but only ${p.remaining()} remain after the counts`);
  }
  return { version, nTensors: Number(nt), nKv: Number(nk) };
}

function parseKvs(p: HeaderParser, nKv: number): GgufKv[] {
  const kvs: GgufKv[] = [];
  const seen = new Map<string, number>();
  for (let i = 0; i < nKv; i++) {
    const start = p.pos;
    const keyBytes = p.stringBytes(`key ${i}`);
    if (keyBytes.length === 0) p.fail(`key ${i} at offset ${start} is empty`);
    const key = decodeString(keyBytes);
    const shown = quoteName(key);
    const prev = seen.get(key);
    if (prev !== undefined) p.fail(`duplicate key ${shown} (KV ${prev} and KV ${i})`);
    seen.set(key, i);
    let type = p.i32(`type of key ${shown}`);
    const isArray = type === GgufValueType.ARRAY;
    if (isArray) type = p.i32(`element type of key ${shown}`);
    if (!isValueType(type) || type === GgufValueType.ARRAY) {
      p.fail(`key ${shown} has invalid GGUF value type ${type}${isArray ? ' (array element)' : ''}`);
    }
    const { value, normalized } = readValue(p, shown, type, isArray);
    const entry: GgufKv = { key, type, isArray, value };
    // bools are re-encoded as 0/1 like llama.cpp does; everything else keeps its bytes
    kvs.push(normalized ? entry : { ...entry, raw: p.slice(start, p.pos) });
  }
  return kvs;
}

function alignmentOf(p: HeaderParser, kvs: GgufKv[]): number {
  const a = kvs.find((k) => k.key === 'general.alignment');
  if (!a) return GGUF_DEFAULT_ALIGNMENT;
  if (a.isArray || a.type !== GgufValueType.UINT32) {
    p.fail(`key 'general.alignment' must be of type u32 but is ${a.isArray ? 'arr' : GGUF_VALUE_TYPE_NAME[a.type]}`);
  }
  const v = a.value as number;
  if (v === 0 || (v & (v - 1)) !== 0) p.fail(`general.alignment ${v} is not a power of 2`);
  return v;
}

interface RawTensor { name: string; nDims: number; ne: number[]; type: GgmlType; offset: bigint; nbytes: number }

function parseTensorInfo(p: HeaderParser, i: number, names: Set<string>): RawTensor {
  const nameBytes = p.stringBytes(`name of tensor ${i}`);
  // ggml keeps the name as a C string (ggml_set_name): it ends at the first NUL, for the duplicate check too
  const nul = nameBytes.indexOf(0);
  const name = decodeString(nul < 0 ? nameBytes : nameBytes.subarray(0, nul));
  const shown = quoteName(name);
  if (nameBytes.length >= GGML_MAX_NAME) p.fail(`tensor ${i} name ${shown} is ${nameBytes.length} bytes, the limit is ${GGML_MAX_NAME - 1}`);
  if (names.has(name)) p.fail(`duplicate tensor name ${shown} (tensor ${i})`);
  names.add(name);
  const nDims = p.u32(`n_dims of tensor ${shown}`);
  if (nDims > GGML_MAX_DIMS) p.fail(`tensor ${shown} has ${nDims} dimensions, more than ${GGML_MAX_DIMS}`);
  const ne = [1, 1, 1, 1];
  for (let j = 0; j < nDims; j++) {
    const v = p.i64(`ne[${j}] of tensor ${shown}`);
    if (v < 0n) p.fail(`tensor ${shown} dimension ${j} is ${v}, negative`);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) p.fail(`tensor ${shown} dimension ${j} is ${v}, more than 2^53`);
    ne[j] = Number(v);
  }
  const nel = ne[0] * ne[1] * ne[2] * ne[3];
  if (!Number.isSafeInteger(nel)) p.fail(`tensor ${shown} with shape [${ne.join(', ')}] has more than 2^53 elements`);
  const type = p.i32(`type of tensor ${shown}`);
  if (!hasTypeLayout(type)) p.fail(`tensor ${shown} has unknown ggml type id ${type}`);
  const t = typeLayout(type);
  if (ne[0] % t.blockSize !== 0) {
    p.fail(`tensor ${shown} of type ${t.name} has ${ne[0]} values per row, not a multiple of the block size ${t.blockSize}`);
  }
  const offset = p.u64(`offset of tensor ${shown}`);
  return { name, nDims, ne, type, offset, nbytes: tensorNBytes(type, ne) };
}

/** Parse a GGUF header from the file's first bytes; throws NeedMore when `bytes` ends too early. */
function parseHeader(bytes: Uint8Array, fileSize: number, file: string): GgufFile {
  const p = new HeaderParser(bytes, fileSize, file);
  const { version, nTensors, nKv } = parseVersionAndCounts(p);
  const kvs = parseKvs(p, nKv);
  const alignment = alignmentOf(p, kvs);
  const names = new Set<string>();
  const raw: RawTensor[] = [];
  for (let i = 0; i < nTensors; i++) raw.push(parseTensorInfo(p, i, names));
  const metaEnd = p.pos;
  // llama.cpp pads to the data section only when there are tensors
  const dataOffset = nTensors > 0 ? padTo(metaEnd, alignment) : metaEnd;
  if (dataOffset > fileSize) p.fail(`data section would start at offset ${dataOffset}, past the end of the file (${fileSize} bytes)`);
  const tensors: GgufTensorInfo[] = [];
  let expected = 0;
  for (const r of raw) {
    if (r.offset !== BigInt(expected)) {
      p.fail(`tensor ${quoteName(r.name)} has offset ${r.offset}, expected ${expected} (data packed in order, each tensor padded to ${alignment})`);
    }
    const abs = dataOffset + expected;
    if (abs + r.nbytes > fileSize) {
      p.fail(`tensor ${quoteName(r.name)} data (${r.nbytes} bytes at offset ${abs}) ends at ${abs + r.nbytes}, past the end of the file (${fileSize} bytes)`);
    }
    tensors.push({ name: r.name, nDims: r.nDims, ne: r.ne, type: r.type, offset: expected, nbytes: r.nbytes, dataOffset: abs, shard: 0 });
    expected += padTo(r.nbytes, alignment);
  }
  return { name: file, size: fileSize, version, kvs, tensors, alignment, dataOffset, metaEnd };
}

/** Parse a GGUF file held in memory (imatrix files, tests). */
export function parseGgufBytes(bytes: Uint8Array, name: string): GgufFile {
  return parseHeader(bytes, bytes.length, name);
}

/** Read and validate a GGUF header through a random-access source, reading only the header bytes. */
export async function readGgufHeader(source: ByteSource, shard = 0): Promise<GgufFile> {
  let want = Math.min(source.size, INITIAL_HEADER_READ);
  for (;;) {
    const bytes = await source.read(0, want);
    if (bytes.length < want) throw new GgufFormatError(source.name, `read ${bytes.length} bytes at offset 0, expected ${want}`);
    try {
      const f = parseHeader(bytes, source.size, source.name);
      return shard === 0 ? f : { ...f, tensors: f.tensors.map((t) => ({ ...t, shard })) };
    } catch (e) {
      if (!(e instanceof NeedMore)) throw e;
      if (e.end > MAX_HEADER_BYTES) throw new GgufFormatError(source.name, `header extends past ${MAX_HEADER_BYTES} bytes (the limit)`);
      want = Math.min(source.size, MAX_HEADER_BYTES, Math.max(want * 4, e.end + (e.end >> 2)));
    }
  }
}
