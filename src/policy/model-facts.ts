/**
 * The model facts the mix policy reads (spec §4.2): architecture, block count, head counts, expert count
 * and the one model type that matters (70B), taken from the GGUF key/values the way llama.cpp's loader
 * reads them. KV overrides must already be applied to `kv` (they change what the loader sees).
 */
import type { GgmlType } from '../core/ggml-type.js';
import { PolicyError } from './errors.js';

export interface TensorFacts {
  name: string;
  /** ggml shape, ne[0] = row length */
  ne: number[];
  /** the tensor's type in the input file */
  type: GgmlType;
}

export interface ModelFacts {
  arch: string;
  /** `<arch>.block_count` (n_layer_all) */
  nLayer: number;
  /** layer 0 of `<arch>.attention.head_count` */
  nHead: number;
  /** layer 0 of `<arch>.attention.head_count_kv` (defaults to nHead) */
  nHeadKv: number;
  /** `<arch>.expert_count`, 0 when absent */
  nExpert: number;
  /** llama.cpp classified the model as 70B; derived by `detect70B` when left out */
  is70B?: boolean;
  tensors: TensorFacts[];
}

type KvSource = Map<string, unknown> | Record<string, unknown>;

function getKv(kv: KvSource, key: string): unknown {
  let v = kv instanceof Map ? kv.get(key) : kv[key];
  // accept reader records of the form { type, value }
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v) && 'value' in v) {
    v = (v as { value: unknown }).value;
  }
  return v;
}

/** A scalar, or element 0 of an array (per-layer head counts); undefined when absent or empty. */
function firstNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v) || ArrayBuffer.isView(v)) {
    const a = v as ArrayLike<number | bigint>;
    return a.length > 0 ? Number(a[0]) : undefined;
  }
  return undefined;
}

/**
 * The only `llm_type` the policy uses (`load_arch_hparams` in src/models/*.cpp). `nLayerMain` is
 * n_layer() = block_count − nextn_predict_layers.
 */
export function detect70B(arch: string, nLayerMain: number, nHead: number, nHeadKv: number, nExpert: number): boolean {
  switch (arch) {
    case 'llama': return nExpert !== 8 && nLayerMain === 80 && nHead !== nHeadKv;
    case 'qwen2': case 'deci': case 'olmo': return nLayerMain === 80;
    case 'jais2': return nLayerMain === 68;
    default: return false;
  }
}

export function modelFactsFromKv(kv: KvSource, tensors: TensorFacts[]): ModelFacts {
  const arch = getKv(kv, 'general.architecture');
  if (typeof arch !== 'string') throw new PolicyError('model-metadata', 'key general.architecture is missing or not a string');
  const nLayer = firstNumber(getKv(kv, `${arch}.block_count`));
  if (nLayer === undefined) throw new PolicyError('model-metadata', `key ${arch}.block_count is missing`);
  const nHead = firstNumber(getKv(kv, `${arch}.attention.head_count`)) ?? 0;
  const nHeadKv = firstNumber(getKv(kv, `${arch}.attention.head_count_kv`)) ?? nHead;
  const nExpert = firstNumber(getKv(kv, `${arch}.expert_count`)) ?? 0;
  const nextn = firstNumber(getKv(kv, `${arch}.nextn_predict_layers`)) ?? 0;
  return {
    arch, nLayer, nHead, nHeadKv, nExpert, tensors,
    is70B: detect70B(arch, nLayer - nextn, nHead, nHeadKv, nExpert),
  };
}
