/**
 * The KV list llama-quantize writes (spec §5.3): the input's KVs in order, then quantization_version and
 * file_type moved to the end, split keys dropped, --override-kv entries, the imatrix keys, and the pruned
 * block count.
 */
import {
  copyKvsAsC, findKv, kvBool, kvF32, kvString, kvU32, removeSplitKvs, setKv, kvNumber, type GgufKv,
} from '../formats/gguf-kv.js';
import { imatrixKvs, type Imatrix } from '../formats/imatrix.js';
import { GgmlType } from '../core/ggml-type.js';
import { LLAMA_FTYPE_GUESSED } from '../policy/ftype.js';
import { compareTensorNames } from '../policy/tensor-type.js';
import type { KvOverride } from './options.js';

/** GGML_QNT_VERSION */
export const QUANTIZATION_VERSION = 2;

/** How a --override-kv entry is written: int as UINT32 of |value|, float as FLOAT32 (llama_model_quantize_impl). */
export function overrideKv(o: KvOverride): GgufKv {
  switch (o.kind) {
    case 'int': return kvU32(o.key, Math.abs(o.value) >>> 0);
    case 'float': return kvF32(o.key, o.value);
    case 'bool': return kvBool(o.key, o.value);
    case 'str': return kvString(o.key, o.value);
  }
}

/** The KVs as the model loader sees them: --override-kv applies there too (it can change the policy). */
export function loaderKvs(kvs: readonly GgufKv[], overrides: readonly KvOverride[]): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (const e of kvs) m.set(e.key, e.value);
  for (const o of overrides) m.set(o.key, o.value);
  return m;
}

const GUESS_FTYPE: Partial<Record<GgmlType, number>> = {
  [GgmlType.F32]: 0, [GgmlType.F16]: 1, [GgmlType.BF16]: 32, [GgmlType.Q4_0]: 2, [GgmlType.Q4_1]: 3,
  [GgmlType.Q5_0]: 8, [GgmlType.Q5_1]: 9, [GgmlType.Q8_0]: 7, [GgmlType.Q2_K]: 10, [GgmlType.Q3_K]: 12,
  [GgmlType.Q4_K]: 15, [GgmlType.Q5_K]: 17, [GgmlType.Q6_K]: 18, [GgmlType.TQ1_0]: 36, [GgmlType.TQ2_0]: 37,
  [GgmlType.IQ2_XXS]: 19, [GgmlType.IQ2_XS]: 20, [GgmlType.IQ2_S]: 28, [GgmlType.IQ3_XXS]: 23,
  [GgmlType.IQ1_S]: 24, [GgmlType.IQ1_M]: 31, [GgmlType.IQ4_NL]: 25, [GgmlType.IQ4_XS]: 30, [GgmlType.IQ3_S]: 26,
  [GgmlType.NVFP4]: 39, [GgmlType.Q1_0]: 40, [GgmlType.Q2_0]: 41,
};

/**
 * The loader's ftype (used as general.file_type in COPY mode): general.file_type when present, else the
 * most frequent tensor type (first to reach the maximum, in loader order) with the "guessed" bit.
 */
export function loaderFtype(kv: Map<string, unknown>, tensors: readonly { name: string; type: GgmlType }[]): number {
  const declared = kv.get('general.file_type');
  if (typeof declared === 'number') return declared >>> 0;
  const counts = new Map<GgmlType, number>();
  let best = GgmlType.F32;
  let bestN = 0;
  for (const t of [...tensors].sort((a, b) => compareTensorNames(a.name, b.name))) {
    const n = (counts.get(t.type) ?? 0) + 1;
    counts.set(t.type, n);
    if (n > bestN) { bestN = n; best = t.type; }
  }
  return (GUESS_FTYPE[best] ?? 0) | LLAMA_FTYPE_GUESSED;
}

export function outputKvs(args: {
  input: readonly GgufKv[];
  fileType: number;
  overrides: readonly KvOverride[];
  imatrix: Imatrix | null;
  imatrixPath?: string;
  arch: string;
  blockCount?: number;
}): GgufKv[] {
  let kvs: GgufKv[] = copyKvsAsC(args.input);
  kvs = setKv(kvs, kvU32('general.quantization_version', QUANTIZATION_VERSION));
  kvs = setKv(kvs, kvU32('general.file_type', args.fileType >>> 0));
  kvs = removeSplitKvs(kvs);
  for (const o of args.overrides) kvs = setKv(kvs, overrideKv(o));
  if (args.imatrix) for (const e of imatrixKvs(args.imatrix, args.imatrixPath ?? '')) kvs = setKv(kvs, e);
  if (args.blockCount !== undefined) kvs = setKv(kvs, kvU32(`${args.arch}.block_count`, args.blockCount));
  return kvs;
}

export { findKv, kvNumber };
