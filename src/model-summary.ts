/**
 * What a GGUF model is, for `inspect` and the page: architecture, parameter count, tensors, metadata (long
 * arrays summarised) and what each ftype would produce for it (type-catalog.ts). Browser-safe.
 */
import type { GgufModel } from './formats/gguf-model.js';
import { GGUF_VALUE_TYPE_NAME, type GgufKv } from './formats/gguf-kv.js';
import { ftypeName } from './policy/ftype.js';
import { modelFactsFromKv, type ModelFacts } from './policy/model-facts.js';
import { loaderKvs } from './pipeline/output-kvs.js';
import { typeLayout } from './core/ggml-type.js';
import { canonicalFtypes, estimateFtype, type FtypeEstimate } from './type-catalog.js';

/** arrays longer than this are shown as their length, element type and first values */
export const ARRAY_HEAD = 8;

export interface KvSummary {
  key: string;
  /** `u32`, `str`, ... or `arr[str]` */
  type: string;
  /** scalars as JSON values (64-bit integers beyond 2^53 as strings); arrays: their first ARRAY_HEAD values */
  value: unknown;
  /** arrays: the element count */
  length?: number;
}

export interface TensorSummary {
  name: string;
  shape: number[];
  type: string;
  bytes: number;
}

export interface ModelSummary {
  file: string;
  files: number;
  architecture: string | null;
  name: string | null;
  fileType: string | null;
  parameters: number;
  tensorBytes: number;
  bitsPerWeight: number;
  tensors: TensorSummary[];
  metadata: KvSummary[];
  /** per canonical ftype; empty with `estimatesError` when the model's metadata cannot be planned */
  estimates: FtypeEstimate[];
  estimatesError?: string;
}

function jsonScalar(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}

export function summariseKv(e: GgufKv): KvSummary {
  const type = GGUF_VALUE_TYPE_NAME[e.type] ?? `type ${e.type}`;
  if (!e.isArray) return { key: e.key, type, value: jsonScalar(e.value) };
  const arr = e.value as ArrayLike<unknown>;
  const head = Array.from({ length: Math.min(arr.length, ARRAY_HEAD) }, (_, i) => jsonScalar(arr[i]));
  return { key: e.key, type: `arr[${type}]`, value: head, length: arr.length };
}

export function modelFacts(model: GgufModel): ModelFacts {
  return modelFactsFromKv(loaderKvs(model.kvs, []), model.tensors.map((t) => ({ name: t.name, ne: [...t.ne], type: t.type })));
}

export function summariseModel(model: GgufModel): ModelSummary {
  const kv = loaderKvs(model.kvs, []);
  const str = (k: string) => (typeof kv.get(k) === 'string' ? (kv.get(k) as string) : null);
  const ft = kv.get('general.file_type');
  const parameters = model.tensors.reduce((n, t) => n + t.ne.reduce((a, b) => a * b, 1), 0);
  const tensorBytes = model.tensors.reduce((n, t) => n + t.nbytes, 0);
  let estimates: FtypeEstimate[] = [];
  let estimatesError: string | undefined;
  try {
    const facts = modelFacts(model);
    estimates = canonicalFtypes().map((f) => estimateFtype(facts, f));
  } catch (e) {
    estimatesError = (e as Error).message;
  }
  return {
    file: model.name,
    files: model.files.length,
    architecture: str('general.architecture'),
    name: str('general.name'),
    fileType: typeof ft === 'number' ? ftypeName(ft) : null,
    parameters,
    tensorBytes,
    bitsPerWeight: parameters ? (tensorBytes * 8) / parameters : 0,
    tensors: model.tensors.map((t) => ({ name: t.name, shape: t.ne.slice(0, Math.max(1, t.nDims)), type: typeLayout(t.type).name, bytes: t.nbytes })),
    metadata: model.kvs.map(summariseKv),
    estimates,
    ...(estimatesError ? { estimatesError } : {}),
  };
}
