/**
 * GGUF output layout exactly as llama-quantize writes it (spec §5.3, §5.5): the meta block (header, KVs,
 * tensor infos, zero padding) and every tensor's offset, plus the per-shard plan of --keep-split.
 * Browser-safe; the bytes go to any ByteSink.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { InternalError, UsageError, quoteName } from '../errors.js';
import { encodedLength } from './gguf-string.js';
import { ByteWriter, kvI32, kvU16, setKv, writeKv, type GgufKv } from './gguf-kv.js';
import { GGML_MAX_DIMS, GGML_MAX_NAME, GGUF_VERSION, padTo, tensorNBytes } from './gguf-reader.js';
import { splitPath } from './gguf-model.js';

/**
 * llama-quantize builds its output in an empty gguf context whose alignment is the default 32, and never
 * applies a copied `general.alignment` to the layout: offsets and padding use 32 even when the copied KV
 * says 64 (spec §5.3 "alignment pitfall"). Reproducing that is what byte identity requires.
 */
export const OUTPUT_ALIGNMENT = 32;

/** Shared zeros for padding writes (padding is always < OUTPUT_ALIGNMENT). */
export const ZERO_PAD: Uint8Array = new Uint8Array(OUTPUT_ALIGNMENT);

export interface OutputTensor {
  readonly name: string;
  /** 1 to 4 dimensions; trailing 1s are dropped on output */
  readonly ne: readonly number[];
  readonly type: GgmlType;
}

export interface OutputPlan {
  /** header + KVs + tensor infos + zero padding to a multiple of 32 */
  readonly meta: Uint8Array;
  /** per tensor, its offset relative to the data section */
  readonly offsets: readonly number[];
  /** per tensor, its data size (before padding) */
  readonly nbytes: readonly number[];
  /** absolute offset of the data section (= meta.length) */
  readonly dataOffset: number;
  /** data section size, every tensor padded to 32, the last one too */
  readonly dataSize: number;
  readonly fileSize: number;
}

/** ggml_n_dims: dimensions up to the last one that is not 1, at least 1 ([4096, 1] is 1-D). */
export function ggmlNDims(ne: readonly number[]): number {
  for (let i = Math.min(ne.length, GGML_MAX_DIMS) - 1; i >= 1; i--) if (ne[i] !== 1) return i + 1;
  return 1;
}

/** Zero bytes written after `nbytes` of tensor data. */
export const paddingAfter = (nbytes: number): number => padTo(nbytes, OUTPUT_ALIGNMENT) - nbytes;

/** Layout of an output file whose KVs and tensors (in write order, with their output types) are given. */
export function planOutput(input: { kvs: readonly GgufKv[]; tensors: readonly OutputTensor[] }): OutputPlan {
  const w = new ByteWriter();
  w.bytes(new TextEncoder().encode('GGUF'));
  w.u32(GGUF_VERSION);
  w.i64(input.tensors.length);
  w.i64(input.kvs.length);
  for (const kv of input.kvs) writeKv(w, kv);
  const offsets: number[] = [];
  const nbytes: number[] = [];
  let offset = 0;
  for (const t of input.tensors) {
    // names read from a file are at most 63 bytes; this guards names made elsewhere (API callers)
    const nameBytes = encodedLength(t.name);
    if (nameBytes >= GGML_MAX_NAME) throw new UsageError(`output tensor name ${quoteName(t.name)} is ${nameBytes} bytes, longer than the GGUF limit of ${GGML_MAX_NAME - 1}`);
    const ne = [1, 1, 1, 1].map((one, i) => t.ne[i] ?? one);
    const blk = typeLayout(t.type).blockSize;
    if (ne[0] % blk !== 0) throw new InternalError(`tensor ${quoteName(t.name)}: ${ne[0]} values per row is not a multiple of the ${typeLayout(t.type).name} block size ${blk}`);
    const nDims = ggmlNDims(ne);
    w.string(t.name);
    w.u32(nDims);
    for (let j = 0; j < nDims; j++) w.i64(ne[j]);
    w.i32(t.type);
    w.u64(offset);
    const n = tensorNBytes(t.type, ne);
    offsets.push(offset);
    nbytes.push(n);
    offset += padTo(n, OUTPUT_ALIGNMENT);
  }
  w.zeros(padTo(w.length, OUTPUT_ALIGNMENT) - w.length);
  const meta = w.finish();
  return { meta, offsets, nbytes, dataOffset: meta.length, dataSize: offset, fileSize: meta.length + offset };
}

// ---------------------------------------------------------------------------------------------------
// --keep-split (llama_model_quantize_impl with keep_split; quantize.cpp's output naming)

/**
 * The output prefix the shards are named from: quantize.cpp drops the last 5 characters of the output path
 * when it contains ".gguf" anywhere (so "a.gguf" -> "a", but also "a.gguf.bak" -> "a.ggu"), then each
 * shard is `<prefix>-%05d-of-%05d.gguf`. (With no output path, quantize.cpp uses
 * `<input dir>/ggml-model-<FTYPE>` without suffix.)
 */
export function keepSplitOutputPrefix(outPath: string): string {
  return outPath.includes('.gguf') ? outPath.slice(0, outPath.length - 5) : outPath;
}

export interface SplitTensorRef {
  readonly name: string;
  readonly shard: number;
  /** absolute data offset in the input shard */
  readonly dataOffset: number;
}

/**
 * With --keep-split the tensors are processed and written ordered by (input shard, offset in the shard),
 * i.e. each shard's own data order, instead of the loader's name order (also for a single input file).
 */
export function keepSplitOrder<T extends SplitTensorRef>(tensors: readonly T[]): T[] {
  return [...tensors].sort((a, b) => a.shard - b.shard || a.dataOffset - b.dataOffset);
}

export interface KeepSplitShard {
  readonly index: number;
  readonly path: string;
  /** the shard's KV list, to pass to planOutput */
  readonly kvs: GgufKv[];
  /** names of the shard's tensors, in write order */
  readonly tensors: string[];
}

/**
 * Per-shard outputs: one per input shard, tensors staying in their shard. Shard 0 carries all of `kvs`
 * (the single-output KV list); the others start empty. With more than one shard, each then gets
 * split.no (u16), split.count (u16) and split.tensors.count (i32, all tensors) appended.
 * `tensors` must be in keepSplitOrder.
 */
export function planKeepSplit(prefix: string, kvs: readonly GgufKv[], tensors: readonly SplitTensorRef[]): KeepSplitShard[] {
  const nSplit = tensors.reduce((m, t) => Math.max(m, t.shard + 1), 1);
  const shards: KeepSplitShard[] = Array.from({ length: nSplit }, (_, i) => ({
    index: i,
    path: splitPath(prefix, i, nSplit),
    kvs: i === 0 ? [...kvs] : [],
    tensors: [],
  }));
  for (const t of tensors) shards[t.shard].tensors.push(t.name);
  const empty = shards.find((s) => s.tensors.length === 0 && s.index > 0);
  // llama.cpp dereferences a null context there; refuse instead
  if (empty) throw new UsageError(`--keep-split: input shard ${empty.index + 1} of ${nSplit} holds no tensors`);
  if (nSplit > 1) {
    for (const s of shards) {
      let k = setKv(s.kvs, kvU16('split.no', s.index));
      k = setKv(k, kvU16('split.count', nSplit));
      k = setKv(k, kvI32('split.tensors.count', tensors.length));
      s.kvs.splice(0, s.kvs.length, ...k);
    }
  }
  return shards;
}
