/**
 * Per-tensor facts the mix policy is built on (spec §4.2–§4.4, §4.7, §4.8): which tensors may be
 * quantized, their category, the loader's write order, the shape fallback and the imatrix requirement.
 * Pure functions of names, shapes and types.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { LlamaFtype } from './ftype.js';
import { PolicyError } from './errors.js';
import { compareEncoded, encodedLength } from '../formats/gguf-string.js';

export enum TensorCategory {
  TOKEN_EMBD = 'token_embd', ATTN_Q = 'attn_q', ATTN_V = 'attn_v', ATTN_K = 'attn_k', ATTN_QKV = 'attn_qkv',
  ATTN_KV_B = 'attn_kv_b', ATTN_OUTPUT = 'attn_output', FFN_UP = 'ffn_up', FFN_GATE = 'ffn_gate',
  FFN_DOWN = 'ffn_down', OUTPUT = 'output', OTHER = 'other',
}

/** `ggml_n_dims`: dimensions up to the last one above 1, at least 1 (a [4096, 1] tensor is 1-D). */
export function nDims(ne: readonly number[]): number {
  for (let i = Math.min(ne.length, 4) - 1; i >= 1; i--) if (ne[i] > 1) return i + 1;
  return 1;
}

// substrings that keep a tensor in its input type: tiny, routing, positional or multimodal tables
const NEVER_QUANTIZED = [
  'ffn_gate_inp.weight', 'ffn_gate_tid2eid.weight', 'altup', 'laurel', 'per_layer_model_proj', 'ssm_conv1d',
  'shortconv.conv.weight', 'indexer.k_proj.weight', 'indexer.q_proj.weight', 'time_mix_first.weight',
  'time_mix_w0.weight', 'time_mix_w1.weight', 'time_mix_w2.weight', 'time_mix_v0.weight', 'time_mix_v1.weight',
  'time_mix_v2.weight', 'time_mix_a0.weight', 'time_mix_a1.weight', 'time_mix_a2.weight', 'time_mix_g1.weight',
  'time_mix_g2.weight', 'time_mix_decay_w1.weight', 'time_mix_decay_w2.weight', 'time_mix_lerp_fused.weight',
  'attn_rel_b.weight', '.position_embd', 'sam.pos_embd', 'sam.neck.', 'sam.net_', '.rel_pos', '.patch_embd',
  '.patch_merger', 'a.rvq.codebook', 'mm.a.code_embd',
];

export interface QuantizabilityOptions {
  onlyCopy?: boolean;
  leaveOutputTensor?: boolean;
}

/** `tensor_allows_quantization` (§4.3). */
export function tensorAllowsQuantization(name: string, ne: readonly number[], opts: QuantizabilityOptions = {}): boolean {
  if (opts.onlyCopy) return false;
  if (nDims(ne) < 2) return false;
  // llama.cpp tests `rfind("weight") == size - 6` in size_t: for a 5-byte name both sides are npos, so such
  // a name counts as ending in "weight"
  if (!(name.endsWith('weight') || (name.length <= 5 && utf8Length(name) === 5))) return false;
  if (name.includes('_norm.weight')) return false;
  if (opts.leaveOutputTensor && name === 'output.weight') return false;
  if (name === 'position_embd.weight' || name === 'token_types.weight') return false;
  return !NEVER_QUANTIZED.some((s) => name.includes(s));
}

const utf8Length = encodedLength;

/** `tensor_get_category` (§4.4): first match wins. */
export function tensorCategory(name: string): TensorCategory {
  if (name === 'output.weight') return TensorCategory.OUTPUT;
  if (name === 'token_embd.weight' || name === 'per_layer_token_embd.weight') return TensorCategory.TOKEN_EMBD;
  if (name.includes('attn_qkv.weight')) return TensorCategory.ATTN_QKV;
  if (name.includes('attn_kv_b.weight')) return TensorCategory.ATTN_KV_B;
  if (name.includes('attn_v.weight')) return TensorCategory.ATTN_V;
  if (name.includes('attn_k.weight')) return TensorCategory.ATTN_K;
  if (name.includes('attn_q.weight')) return TensorCategory.ATTN_Q;
  if (name.includes('attn_output.weight')) return TensorCategory.ATTN_OUTPUT;
  if (name.includes('ffn_up')) return TensorCategory.FFN_UP;
  if (name.includes('ffn_gate')) return TensorCategory.FFN_GATE;
  if (name.includes('ffn_down')) return TensorCategory.FFN_DOWN;
  return TensorCategory.OTHER;
}

/** attn_v-like tensors share one counter and the attn_v rules. */
export function isAttnVLike(c: TensorCategory): boolean {
  return c === TensorCategory.ATTN_V || c === TensorCategory.ATTN_QKV || c === TensorCategory.ATTN_KV_B;
}

/** `use_more_bits`: the first and last eighth of the layers, and every third one in between. */
export function useMoreBits(i: number, n: number): boolean {
  const n8 = Math.trunc(n / 8);
  return i < n8 || i >= Math.trunc((7 * n) / 8) || (i - n8) % 3 === 2;
}

/**
 * C's `sscanf(name, "blk.%d.", &n)`: the literal prefix, then %d (leading white space, a sign, digits).
 * The trailing "." is not needed for a match. undefined when no number is read.
 */
export function blockIndex(name: string): number | undefined {
  if (!name.startsWith('blk.')) return undefined;
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(name.slice(4));
  if (!m) return undefined;
  // %d of a value past int range is undefined in C; glibc saturates via strtol then truncates. Keep it simple.
  return Number(m[1]) | 0;
}

/**
 * Byte-wise comparison of the names' bytes (gguf-string.ts encodings). ASCII code units order like their
 * bytes; at the first difference involving anything else (multi-byte characters, escaped invalid bytes),
 * the two encodings are compared.
 */
function utf8Compare(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x === y) continue;
    return x < 0x80 && y < 0x80 ? x - y : compareEncoded(a, b);
  }
  return a.length - b.length;
}

/**
 * The loader's `weight_name_comparer` (§4.2): tensors without a leading `blk.N.` first (N = −1), then by
 * N, then by byte-wise name. This is the order of the type decisions, the tensor infos and the data.
 */
export function compareTensorNames(a: string, b: string): number {
  const la = blockIndex(a) ?? -1, lb = blockIndex(b) ?? -1;
  return la !== lb ? la - lb : utf8Compare(a, b);
}

// §4.7: the smaller-block type that replaces a 256-block type when a row does not split into blocks
const FALLBACK = new Map<GgmlType, GgmlType>([
  [GgmlType.IQ1_S, GgmlType.IQ4_NL], [GgmlType.IQ1_M, GgmlType.IQ4_NL], [GgmlType.IQ2_XXS, GgmlType.IQ4_NL],
  [GgmlType.IQ2_XS, GgmlType.IQ4_NL], [GgmlType.IQ2_S, GgmlType.IQ4_NL], [GgmlType.IQ3_XXS, GgmlType.IQ4_NL],
  [GgmlType.IQ3_S, GgmlType.IQ4_NL], [GgmlType.IQ4_XS, GgmlType.IQ4_NL],
  [GgmlType.Q2_0, GgmlType.Q4_0], [GgmlType.Q2_K, GgmlType.Q4_0], [GgmlType.Q3_K, GgmlType.Q4_0],
  [GgmlType.TQ1_0, GgmlType.Q4_0], [GgmlType.TQ2_0, GgmlType.Q4_0],
  [GgmlType.Q4_K, GgmlType.Q5_0], [GgmlType.Q5_K, GgmlType.Q5_1], [GgmlType.Q6_K, GgmlType.Q8_0],
]);

/**
 * `tensor_type_fallback` (§4.7) for a row of `ncols` values. Returns the type unchanged when the row fits;
 * otherwise the table's fallback (a type of block ≤ 32 stands for itself), or F16 when that does not fit
 * either. A type with blocks > 32 and no table entry (q1_0, nvfp4) throws `no-fallback`.
 */
export function fallbackType(target: GgmlType, ncols: number, tensor = ''): GgmlType {
  const block = typeLayout(target).blockSize;
  if (ncols % block === 0) return target;
  let t = FALLBACK.get(target);
  if (t === undefined) {
    if (block > 32) {
      throw new PolicyError('no-fallback',
        `no tensor type fallback is defined for type ${typeLayout(target).name} ` +
        `(tensor ${tensor}: ncols ${ncols} not divisible by ${block})`, tensor || undefined);
    }
    t = target;
  }
  return ncols % typeLayout(t).blockSize === 0 ? t : GgmlType.F16;
}

const IMATRIX_TYPES = new Set([
  GgmlType.IQ3_XXS, GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ2_S, GgmlType.IQ1_M, GgmlType.IQ1_S,
]);

/** `tensor_requires_imatrix` (§4.8): the final type needs importance data to give usable results. */
export function requiresImatrix(name: string, type: GgmlType, ftype: number): boolean {
  if (name === 'token_embd.weight' || name === 'per_layer_token_embd.weight' || name === 'output.weight') return false;
  if (IMATRIX_TYPES.has(type)) return true;
  return type === GgmlType.Q2_K && ftype === LlamaFtype.Q2_K_S;
}
