/**
 * GGUF key/value pairs: value types (gguf.h `enum gguf_type`), an ordered KV list with exact
 * re-serialization, and the edits llama-quantize makes (spec §5.1, §5.3).
 *
 * Why not @huggingface/gguf 0.4.6 for this: it keeps metadata in a plain object, so duplicate keys are
 * silently merged and integer-like keys ("0", "12") are reordered ahead of the others by JavaScript's
 * property order; its strings go through TextDecoder/TextEncoder, which replaces invalid UTF-8 and so
 * changes bytes; scalar float NaN payloads are canonicalised; it caps arrays at 1e6 elements and strings
 * at 10 MB where llama.cpp accepts 2^30; and it only reads URLs or local paths, not an arbitrary
 * random-access source. Byte-identical copies are the hard requirement, so this small reader/writer
 * keeps each KV record's original bytes (`raw`) and writes them back unchanged.
 */

export enum GgufValueType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

/** bytes per value of the fixed-size types (0 for STRING and ARRAY) */
export const GGUF_VALUE_SIZE: readonly number[] = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];

export const GGUF_VALUE_TYPE_NAME: readonly string[] =
  ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'str', 'arr', 'u64', 'i64', 'f64'];

export type GgufScalar = number | bigint | boolean | string;
export type GgufArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array
  | Float64Array | BigUint64Array | BigInt64Array | boolean[] | string[];

export interface GgufKv {
  readonly key: string;
  /** the value type; for arrays, the element type */
  readonly type: GgufValueType;
  readonly isArray: boolean;
  /** u64/i64 are bigint; arrays are typed arrays (bool: boolean[], string: string[]) */
  readonly value: GgufScalar | GgufArray;
  /**
   * The record exactly as read (key, type, value): written back as is, so strings that are not valid
   * UTF-8 and float NaN payloads survive a copy. Absent for KVs made here.
   */
  readonly raw?: Uint8Array;
}

import { decodeString, encodeString } from './gguf-string.js';

// ---------------------------------------------------------------------------------------------------
// constructors

function kv(key: string, type: GgufValueType, value: GgufScalar | GgufArray, isArray = false): GgufKv {
  if (key.length === 0) throw new RangeError('GGUF keys must not be empty');
  return { key, type, isArray, value };
}

export const kvU8 = (key: string, v: number) => kv(key, GgufValueType.UINT8, v);
export const kvI8 = (key: string, v: number) => kv(key, GgufValueType.INT8, v);
export const kvU16 = (key: string, v: number) => kv(key, GgufValueType.UINT16, v);
export const kvI16 = (key: string, v: number) => kv(key, GgufValueType.INT16, v);
export const kvU32 = (key: string, v: number) => kv(key, GgufValueType.UINT32, v);
export const kvI32 = (key: string, v: number) => kv(key, GgufValueType.INT32, v);
export const kvF32 = (key: string, v: number) => kv(key, GgufValueType.FLOAT32, v);
export const kvF64 = (key: string, v: number) => kv(key, GgufValueType.FLOAT64, v);
export const kvU64 = (key: string, v: bigint) => kv(key, GgufValueType.UINT64, v);
export const kvI64 = (key: string, v: bigint) => kv(key, GgufValueType.INT64, v);
export const kvBool = (key: string, v: boolean) => kv(key, GgufValueType.BOOL, v);

/**
 * A STRING KV. Given bytes (a C string cut at 127 bytes can end inside a UTF-8 sequence), they are
 * written exactly.
 */
export function kvString(key: string, v: string | Uint8Array): GgufKv {
  if (typeof v === 'string') return kv(key, GgufValueType.STRING, v);
  const value = decodeString(v);
  const w = new ByteWriter();
  w.string(key);
  w.i32(GgufValueType.STRING);
  w.u64(v.length);
  w.bytes(v);
  return { key, type: GgufValueType.STRING, isArray: false, value, raw: w.finish() };
}

export function kvArray(key: string, type: GgufValueType, values: GgufArray): GgufKv {
  if (type === GgufValueType.ARRAY) throw new RangeError('GGUF does not support nested arrays');
  return kv(key, type, values, true);
}

// ---------------------------------------------------------------------------------------------------
// lookups and edits (all return new lists; KV objects are immutable)

export function findKv(kvs: readonly GgufKv[], key: string): GgufKv | undefined {
  return kvs.find((k) => k.key === key);
}

/** gguf_remove_key: drop `key` wherever it is. */
export function removeKv(kvs: readonly GgufKv[], key: string): GgufKv[] {
  return kvs.filter((k) => k.key !== key);
}

/** gguf_set_val_*: remove any existing `key` and append the new pair at the end. */
export function setKv(kvs: readonly GgufKv[], entry: GgufKv): GgufKv[] {
  const out = removeKv(kvs, entry.key);
  out.push(entry);
  return out;
}

/** A string as a C string: up to its first NUL. */
const cString = (s: string): string => {
  const z = s.indexOf('\0');
  return z < 0 ? s : s.slice(0, z);
};

/**
 * The input's KVs as llama.cpp's gguf_set_kv copies them into the output: keys and string values (array
 * elements too) are passed as C strings, so each ends at its first NUL, and each KV is set in turn (a key
 * that becomes equal to an earlier one replaces it, at the end). KVs without a NUL keep their bytes.
 */
export function copyKvsAsC(kvs: readonly GgufKv[]): GgufKv[] {
  let out: GgufKv[] = [];
  const keys = new Set<string>();
  for (const e of kvs) {
    const strs = e.type === GgufValueType.STRING ? (e.isArray ? (e.value as string[]) : [e.value as string]) : [];
    let c = e;
    if (e.key.includes('\0') || strs.some((s) => s.includes('\0'))) {
      const value = e.type !== GgufValueType.STRING ? e.value : e.isArray ? strs.map(cString) : cString(strs[0]);
      c = { key: cString(e.key), type: e.type, isArray: e.isArray, value };
    }
    if (keys.has(c.key)) out = setKv(out, c);
    else out.push(c);
    keys.add(c.key);
  }
  return out;
}

export const SPLIT_KEYS = ['split.no', 'split.count', 'split.tensors.count'] as const;

/** §5.3 step 4: the input's split.* keys never reach a single output. */
export function removeSplitKvs(kvs: readonly GgufKv[]): GgufKv[] {
  return kvs.filter((k) => !(SPLIT_KEYS as readonly string[]).includes(k.key));
}

/** A scalar integer or float KV as a number (u64/i64 converted when safe); undefined when absent. */
export function kvNumber(kvs: readonly GgufKv[], key: string): number | undefined {
  const e = findKv(kvs, key);
  if (!e || e.isArray) return undefined;
  if (typeof e.value === 'number') return e.value;
  if (typeof e.value === 'bigint' && e.value <= BigInt(Number.MAX_SAFE_INTEGER) && e.value >= -BigInt(Number.MAX_SAFE_INTEGER)) {
    return Number(e.value);
  }
  return undefined;
}

export function kvStringValue(kvs: readonly GgufKv[], key: string): string | undefined {
  const e = findKv(kvs, key);
  return e && !e.isArray && e.type === GgufValueType.STRING ? (e.value as string) : undefined;
}

// ---------------------------------------------------------------------------------------------------
// serialization

/** A growable little-endian byte buffer. */
export class ByteWriter {
  private buf = new Uint8Array(4096);
  private dv = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  u8(v: number): void { this.room(1); this.dv.setUint8(this.length, v); this.length += 1; }
  i8(v: number): void { this.room(1); this.dv.setInt8(this.length, v); this.length += 1; }
  u16(v: number): void { this.room(2); this.dv.setUint16(this.length, v, true); this.length += 2; }
  i16(v: number): void { this.room(2); this.dv.setInt16(this.length, v, true); this.length += 2; }
  u32(v: number): void { this.room(4); this.dv.setUint32(this.length, v, true); this.length += 4; }
  i32(v: number): void { this.room(4); this.dv.setInt32(this.length, v, true); this.length += 4; }
  f32(v: number): void { this.room(4); this.dv.setFloat32(this.length, v, true); this.length += 4; }
  f64(v: number): void { this.room(8); this.dv.setFloat64(this.length, v, true); this.length += 8; }
  u64(v: number | bigint): void { this.room(8); this.dv.setBigUint64(this.length, BigInt(v), true); this.length += 8; }
  i64(v: number | bigint): void { this.room(8); this.dv.setBigInt64(this.length, BigInt(v), true); this.length += 8; }
  bytes(b: Uint8Array): void { this.room(b.length); this.buf.set(b, this.length); this.length += b.length; }
  string(s: string): void {
    const b = encodeString(s);
    this.u64(b.length);
    this.bytes(b);
  }
  zeros(n: number): void { this.room(n); this.buf.fill(0, this.length, this.length + n); this.length += n; }
  finish(): Uint8Array { return this.buf.slice(0, this.length); }
}

function writeScalar(w: ByteWriter, type: GgufValueType, v: GgufScalar): void {
  switch (type) {
    case GgufValueType.UINT8: return w.u8(v as number);
    case GgufValueType.INT8: return w.i8(v as number);
    case GgufValueType.UINT16: return w.u16(v as number);
    case GgufValueType.INT16: return w.i16(v as number);
    case GgufValueType.UINT32: return w.u32(v as number);
    case GgufValueType.INT32: return w.i32(v as number);
    case GgufValueType.FLOAT32: return w.f32(v as number);
    // llama.cpp stores bools as C++ bool and writes 0 or 1, whatever byte the input had
    case GgufValueType.BOOL: return w.u8(v ? 1 : 0);
    case GgufValueType.STRING: return w.string(v as string);
    case GgufValueType.UINT64: return w.u64(v as bigint);
    case GgufValueType.INT64: return w.i64(v as bigint);
    case GgufValueType.FLOAT64: return w.f64(v as number);
    default: throw new RangeError(`invalid GGUF value type ${type}`);
  }
}

/** Append one KV record; a KV read from a file is copied byte for byte. */
export function writeKv(w: ByteWriter, e: GgufKv): void {
  if (e.raw) return w.bytes(e.raw);
  w.string(e.key);
  if (!e.isArray) {
    w.i32(e.type);
    return writeScalar(w, e.type, e.value as GgufScalar);
  }
  const arr = e.value as GgufArray;
  w.i32(GgufValueType.ARRAY);
  w.i32(e.type);
  w.u64(arr.length);
  if (ArrayBuffer.isView(arr) && e.type !== GgufValueType.BOOL) {
    // typed arrays hold the exact little-endian element bits (x86/ARM/WebAssembly hosts are all LE)
    const view = arr as Exclude<GgufArray, boolean[] | string[]>;
    if (view.BYTES_PER_ELEMENT !== GGUF_VALUE_SIZE[e.type]) throw new RangeError(`KV '${e.key}': array storage does not match type ${GGUF_VALUE_TYPE_NAME[e.type]}`);
    return w.bytes(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  }
  for (const v of arr as (boolean | string)[]) writeScalar(w, e.type, v);
}

/** The KV record as bytes, ignoring `raw` (tests use this to check the encoder against the input). */
export function encodeKv(e: GgufKv): Uint8Array {
  const w = new ByteWriter();
  writeKv(w, { ...e, raw: undefined });
  return w.finish();
}
