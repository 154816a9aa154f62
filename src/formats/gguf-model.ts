/**
 * A model made of one GGUF file or of `name-0000K-of-0000N.gguf` shards (llama_model_loader's split
 * handling), and reading tensor rows from it. Browser-safe: shards are opened through a callback.
 */
import { GgufFormatError, InternalError, quoteName } from '../errors.js';
import { GgmlType, rowSize, typeLayout } from '../core/ggml-type.js';
import { F16_TO_F32_BITS } from '../core/half.js';
import type { ByteSource } from './byte-source.js';
import { GgufValueType, findKv, type GgufKv } from './gguf-kv.js';
import { readGgufHeader, type GgufFile, type GgufTensorInfo } from './gguf-reader.js';

export interface GgufModel {
  /** name of the first (or only) file */
  readonly name: string;
  readonly files: readonly GgufFile[];
  /** one source per file, indexed by GgufTensorInfo.shard */
  readonly sources: readonly ByteSource[];
  /** the KVs of the first file, as llama.cpp's loader uses them */
  readonly kvs: readonly GgufKv[];
  /** tensors of all files in file order, each with its shard index and absolute data offset */
  readonly tensors: readonly GgufTensorInfo[];
  close(): Promise<void>;
}

const SHARD_NAME = /^(.*)-(\d{5,})-of-(\d{5,})\.gguf$/;

/** `prefix-0000K-of-0000N.gguf` -> { prefix, index: K-1, count: N }; null for other names. */
export function parseShardName(path: string): { prefix: string; index: number; count: number } | null {
  const m = SHARD_NAME.exec(path);
  return m ? { prefix: m[1], index: Number(m[2]) - 1, count: Number(m[3]) } : null;
}

/** llama_split_path: `<prefix>-%05d-of-%05d.gguf` with a 1-based shard number. */
export function splitPath(prefix: string, index: number, count: number): string {
  const p5 = (n: number) => String(n).padStart(5, '0');
  return `${prefix}-${p5(index + 1)}-of-${p5(count)}.gguf`;
}

/**
 * The paths of all shards, given the first one (llama_get_list_splits): its name must end exactly in
 * `-00001-of-<count>.gguf`.
 */
export function shardPaths(firstPath: string, count: number): string[] {
  const suffix = splitPath('', 0, count);
  if (firstPath.length <= suffix.length || !firstPath.endsWith(suffix)) {
    throw new GgufFormatError(firstPath, `split.count is ${count} but the file name does not end in '${suffix}'`);
  }
  const prefix = firstPath.slice(0, firstPath.length - suffix.length);
  return Array.from({ length: count }, (_, i) => splitPath(prefix, i, count));
}

/** A split.* key's value, requiring the type llama.cpp's loader reads it as. */
function splitKey(f: GgufFile, key: string, type: GgufValueType): number | undefined {
  const e = findKv(f.kvs, key);
  if (!e) return undefined;
  if (e.isArray || e.type !== type) {
    throw new GgufFormatError(f.name, `key ${quoteName(key)} has type ${e.isArray ? 'array' : GgufValueType[e.type]}, expected ${GgufValueType[type]}`);
  }
  return e.value as number;
}

/**
 * Open a model: the first file's header, and when it declares `split.count` > 1, every shard (named from
 * the first file's name; `openShard` turns a name into a source). Validates split.no of each shard,
 * split.tensors.count, and tensor names unique across shards.
 */
export async function openGgufModel(first: ByteSource, openShard: (name: string) => Promise<ByteSource>): Promise<GgufModel> {
  const files: GgufFile[] = [];
  const sources: ByteSource[] = [first];
  const close = async () => {
    for (const s of sources) await s.close?.();
  };
  try {
    const f0 = await readGgufHeader(first);
    files.push(f0);
    const nSplit = splitKey(f0, 'split.count', GgufValueType.UINT16) ?? 0;
    if (nSplit > 1) {
      const no = splitKey(f0, 'split.no', GgufValueType.UINT16);
      if (no === undefined) throw new GgufFormatError(f0.name, `split.count is ${nSplit} but key 'split.no' is missing`);
      if (no !== 0) throw new GgufFormatError(f0.name, `is shard ${no + 1} of ${nSplit} (split.no = ${no}); open the model from its first shard`);
      const paths = shardPaths(first.name, nSplit);
      for (let i = 1; i < nSplit; i++) {
        const src = await openShard(paths[i]);
        sources.push(src);
        const f = await readGgufHeader(src, i);
        const idx = splitKey(f, 'split.no', GgufValueType.UINT16);
        if (idx === undefined) throw new GgufFormatError(f.name, `key 'split.no' is missing in this shard (expected ${i})`);
        if (idx !== i) throw new GgufFormatError(f.name, `split.no is ${idx}, expected ${i}`);
        files.push(f);
      }
    }
    const tensors = files.flatMap((f) => f.tensors);
    const seen = new Map<string, number>();
    for (const t of tensors) {
      const prev = seen.get(t.name);
      if (prev !== undefined) throw new GgufFormatError(files[t.shard].name, `tensor ${quoteName(t.name)} is duplicated (also in ${files[prev].name})`);
      seen.set(t.name, t.shard);
    }
    if (nSplit > 1) {
      const declared = splitKey(f0, 'split.tensors.count', GgufValueType.INT32);
      if (declared === undefined) throw new GgufFormatError(f0.name, `key 'split.tensors.count' is missing`);
      if (declared !== tensors.length) throw new GgufFormatError(f0.name, `split.tensors.count is ${declared} but the ${nSplit} shards hold ${tensors.length} tensors`);
    }
    return { name: first.name, files, sources, kvs: f0.kvs, tensors, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Number of rows (ne[1]·ne[2]·ne[3]) and bytes per row of a tensor. */
export function tensorRows(t: GgufTensorInfo): { rows: number; rowBytes: number } {
  return { rows: t.ne[1] * t.ne[2] * t.ne[3], rowBytes: rowSize(t.type, t.ne[0]) };
}

/** The raw bytes of rows [rowStart, rowStart + rowCount) of a tensor. */
export async function readTensorRows(source: ByteSource, t: GgufTensorInfo, rowStart: number, rowCount: number): Promise<Uint8Array> {
  const { rows, rowBytes } = tensorRows(t);
  if (!(rowStart >= 0 && rowCount >= 0 && rowStart + rowCount <= rows)) {
    throw new InternalError(`tensor ${quoteName(t.name)}: rows ${rowStart}..${rowStart + rowCount} out of range (${rows} rows)`);
  }
  const offset = t.dataOffset + rowStart * rowBytes;
  const length = rowCount * rowBytes;
  const data = await source.read(offset, length);
  if (data.length !== length) {
    throw new GgufFormatError(source.name, `tensor ${quoteName(t.name)}: read ${data.length} bytes at offset ${offset}, expected ${length} (file changed or truncated?)`);
  }
  return data;
}

/**
 * F32, F16 or BF16 data as binary32 values, bit for bit (F16/BF16 widening is exact). `out` is reused
 * when given (it must hold the values). Assumes a little-endian host, as WebAssembly and every
 * WebGPU platform are.
 */
export function toFloat32(type: GgmlType, bytes: Uint8Array, out?: Float32Array): Float32Array {
  const n = bytes.length / typeLayout(type).typeSize;
  const dst = out ? out.subarray(0, n) : new Float32Array(n);
  if (dst.length < n) throw new RangeError(`output holds ${dst.length} values, need ${n}`);
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, n);
  if (type === GgmlType.F32) {
    new Uint8Array(dst.buffer, dst.byteOffset, n * 4).set(bytes);
  } else if (type === GgmlType.F16) {
    const lut = F16_TO_F32_BITS;
    const src = bytes.byteOffset % 2 === 0 ? new Uint16Array(bytes.buffer, bytes.byteOffset, n) : new Uint16Array(new Uint8Array(bytes).buffer);
    for (let i = 0; i < n; i++) bits[i] = lut[src[i]];
  } else if (type === GgmlType.BF16) {
    const src = bytes.byteOffset % 2 === 0 ? new Uint16Array(bytes.buffer, bytes.byteOffset, n) : new Uint16Array(new Uint8Array(bytes).buffer);
    for (let i = 0; i < n; i++) bits[i] = src[i] << 16;
  } else {
    throw new RangeError(`toFloat32: type ${typeLayout(type).name} is not F32/F16/BF16`);
  }
  return dst;
}
