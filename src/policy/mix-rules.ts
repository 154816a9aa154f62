/**
 * The per-ftype mixture rules (`llama_tensor_get_type_impl`, spec §4.6): which tensors of a model get
 * more (or fewer) bits than the ftype's default type. Branch letters follow the spec.
 * The counters in MixState advance here, and only here, exactly as llama.cpp's do.
 */
import { GgmlType as T, typeLayout } from '../core/ggml-type.js';
import { LlamaFtype as F } from './ftype.js';
import { PolicyError } from './errors.js';
import { TensorCategory as C, isAttnVLike, useMoreBits, blockIndex } from './tensor-rules.js';

export interface MixState {
  arch: string;
  /** n_head ÷ n_head_kv of layer 0 (0 when n_head_kv is 0) */
  nGqa: number;
  nExpert: number;
  is70B: boolean;
  hasImatrix: boolean;
  tiedEmbeddings: boolean;
  outputTensorType?: T;
  /** attn_v-like tensors in the file, and how many the rules have seen */
  nAttnV: number;
  iAttnV: number;
  /** n_ffn_down = n_ffn_gate = n_ffn_up = block_count */
  nFfn: number;
  iFfnDown: number;
  iFfnGate: number;
  iFfnUp: number;
}

const IQ_LOW = new Set<number>([F.IQ2_XXS, F.IQ2_XS, F.IQ1_S, F.IQ2_S, F.IQ2_M, F.IQ1_M]);
const OUTPUT_Q5K = new Set<number>([F.IQ2_XXS, F.IQ2_XS, F.IQ3_XXS, F.IQ1_S, F.IQ2_S, F.IQ2_M, F.IQ1_M]);
const ATTN_OUT_E8_Q5K = new Set<number>([
  F.Q2_K, F.IQ3_XS, F.IQ3_XXS, F.Q3_K_S, F.Q3_K_M, F.IQ4_NL, F.Q4_K_S, F.Q4_K_M, F.IQ3_S, F.IQ3_M, F.IQ4_XS,
]);

/**
 * `layer_info`: with experts the layer comes from the name (experts of a layer need not be contiguous),
 * otherwise it is the running count of that category.
 */
function layerInfo(s: MixState, counter: number, name: string): [number, number] {
  if (Math.max(1, s.nExpert) <= 1) return [counter, s.nFfn];
  const i = blockIndex(name);
  if (i === undefined) throw new PolicyError('bad-layer', `Failed to determine layer for tensor ${name}`, name);
  if (i < 0 || i >= s.nFfn) {
    throw new PolicyError('bad-layer', `Bad layer ${i} for tensor ${name}. Must be in [0, ${s.nFfn})`, name);
  }
  return [i, s.nFfn];
}

/** A: output.weight, and token_embd when the model has no separate output.weight. */
function outputRule(s: MixState, t: T, ne: readonly number[], ftype: number): T {
  if (s.outputTensorType !== undefined) return s.outputTensorType;
  if (ftype === F.MXFP4_MOE) return T.Q8_0;
  if (s.arch === 'falcon' || ne[0] % typeLayout(t).blockSize !== 0) return T.Q8_0;
  if (OUTPUT_Q5K.has(ftype)) return T.Q5_K;
  return t !== T.Q8_0 ? T.Q6_K : t;
}

/** C: a token_embd that is not tied to the output. */
function tokenEmbdRule(t: T, ftype: number): T {
  if (ftype === F.IQ2_XXS || ftype === F.IQ2_XS || ftype === F.IQ1_S || ftype === F.IQ1_M) return T.Q2_K;
  if (ftype === F.IQ2_S || ftype === F.IQ2_M || ftype === F.IQ3_XXS) return T.IQ3_S;
  if (ftype === F.TQ1_0 || ftype === F.TQ2_0 || ftype === F.Q2_0) return T.Q4_K;
  return t;
}

/** D: the IQ1/IQ2 family, for everything but output and token_embd. */
function lowBitRule(s: MixState, t: T, ftype: number, cat: C): T {
  const iq2sm = ftype === F.IQ2_S || ftype === F.IQ2_M;
  if (isAttnVLike(cat)) {
    t = s.nGqa >= 4 || s.nExpert >= 4 ? T.Q4_K : iq2sm ? T.IQ3_S : T.Q2_K;
    s.iAttnV++;
  } else if (s.nExpert === 8 && cat === C.ATTN_K) {
    t = T.Q4_K;
  } else if (cat === C.FFN_DOWN) {
    // the running count even for MoE models, unlike branch H
    if (s.iFfnDown < Math.trunc(s.nFfn / 8)) t = iq2sm ? T.IQ3_S : T.Q2_K;
    s.iFfnDown++;
  } else if (cat === C.ATTN_OUTPUT) {
    if (s.nExpert === 8) t = T.Q5_K;
    else if (ftype === F.IQ1_S || ftype === F.IQ1_M) t = T.IQ2_XXS;
    else if (iq2sm) t = T.IQ3_S;
  }
  return t;
}

/** E: attn_v, attn_qkv, attn_kv_b. */
function attnVRule(s: MixState, t: T, ftype: number): T {
  const gqa4 = s.nGqa >= 4;
  if (ftype === F.Q2_K) t = gqa4 ? T.Q4_K : T.Q3_K;
  else if (ftype === F.Q2_K_S && gqa4) t = T.Q4_K;
  else if (ftype === F.IQ3_XXS) t = gqa4 ? T.Q4_K : !s.hasImatrix ? T.IQ3_S : T.IQ3_XXS;
  else if ((ftype === F.IQ3_XS || ftype === F.IQ3_S) && gqa4) t = T.Q4_K;
  else if (ftype === F.IQ3_M) t = T.Q4_K;
  else if (ftype === F.Q3_K_M) t = s.iAttnV < 2 ? T.Q5_K : T.Q4_K;
  else if (ftype === F.Q3_K_L) t = T.Q5_K;
  else if ((ftype === F.IQ4_NL || ftype === F.IQ4_XS) && gqa4) t = T.Q5_K;
  else if ((ftype === F.Q4_K_M || ftype === F.Q5_K_M) && useMoreBits(s.iAttnV, s.nAttnV)) t = T.Q6_K;
  else if (ftype === F.Q4_K_S && s.iAttnV < 4) t = T.Q5_K;
  // 70B models share each attn_v among 8 heads, so it is small and worth more bits
  if (s.is70B && (t === T.Q3_K || t === T.Q4_K)) t = T.Q5_K;
  if (s.nExpert === 8) t = T.Q8_0;
  s.iAttnV++;
  return t;
}

/** H: ffn_down. */
function ffnDownRule(s: MixState, t: T, ftype: number, name: string): T {
  const [i, n] = layerInfo(s, s.iFfnDown, name);
  const n8 = Math.trunc(n / 8), n16 = Math.trunc(n / 16);
  const falcon = s.arch === 'falcon';
  if (ftype === F.Q2_K) t = T.Q3_K;
  else if (ftype === F.Q2_K_S) { if (i < n8) t = T.Q4_K; }
  else if (ftype === F.IQ3_XXS && !s.hasImatrix) t = i < n8 ? T.Q4_K : T.Q3_K;
  else if (ftype === F.Q3_K_M) t = i < n16 ? T.Q5_K : !falcon || useMoreBits(i, n) ? T.Q4_K : T.Q3_K;
  else if (ftype === F.IQ3_M && (i < n8 || (s.nExpert === 8 && useMoreBits(i, n)))) t = T.Q4_K;
  else if (ftype === F.Q3_K_L) t = falcon ? T.Q4_K : T.Q5_K;
  else if (ftype === F.Q4_K_M) {
    if (falcon) t = i < n16 ? T.Q6_K : useMoreBits(i, n) ? T.Q5_K : T.Q4_K;
    else if (useMoreBits(i, n)) t = T.Q6_K;
  }
  else if (i < n8 && (ftype === F.IQ4_NL || ftype === F.IQ4_XS) && !s.hasImatrix) t = T.Q5_K;
  else if (ftype === F.Q5_K_M && useMoreBits(i, n)) t = T.Q6_K;
  else if (ftype === F.Q4_K_S && !falcon && i < n8) t = T.Q5_K;
  else if ((ftype === F.Q4_0 || ftype === F.Q5_0) && s.hasImatrix && i < n8) {
    t = ftype === F.Q4_0 ? T.Q4_1 : T.Q5_1;
  }
  s.iFfnDown++;
  return t;
}

/** I: attn_output. */
function attnOutputRule(s: MixState, t: T, ftype: number): T {
  if (s.arch === 'falcon') return ftype === F.Q3_K_L ? T.Q4_K : t;
  if (s.nExpert === 8) return ATTN_OUT_E8_Q5K.has(ftype) ? T.Q5_K : t;
  switch (ftype) {
    case F.Q2_K: return T.Q3_K;
    case F.IQ3_XXS: return T.IQ3_S;
    case F.Q3_K_M: return T.Q4_K;
    case F.Q3_K_L: return T.Q5_K;
    case F.IQ3_M: return T.Q4_K;
    default: return t;
  }
}

/** J, K: ffn_gate and ffn_up (IQ3_XS middle layers drop to iq3_xxs). */
function ffnGateUpRule(s: MixState, t: T, ftype: number, name: string, counter: number): T {
  const [i, n] = layerInfo(s, counter, name);
  if (ftype === F.IQ3_XS && i >= Math.trunc(n / 8) && i < Math.trunc((7 * n) / 8)) t = T.IQ3_XXS;
  return t;
}

/** `llama_tensor_get_type_impl`: `t` is the default type (quantized), the result is before the shape fallback. */
export function mixType(s: MixState, t: T, name: string, ne: readonly number[], ftype: number, cat: C): T {
  if (cat === C.OUTPUT || (s.tiedEmbeddings && cat === C.TOKEN_EMBD)) return outputRule(s, t, ne, ftype);
  if (ftype === F.MXFP4_MOE) {
    const expertRole = cat === C.FFN_UP || cat === C.FFN_GATE || cat === C.FFN_DOWN;
    return (ne[2] ?? 1) > 1 && (s.arch !== 'bailingmoe3' || expertRole) ? T.MXFP4 : T.Q8_0;
  }
  // an explicit --token-embedding-type never reaches this point (it is decided before the mix)
  if (cat === C.TOKEN_EMBD) return tokenEmbdRule(t, ftype);
  if (IQ_LOW.has(ftype)) return lowBitRule(s, t, ftype, cat);
  if (isAttnVLike(cat)) return attnVRule(s, t, ftype);
  switch (cat) {
    case C.ATTN_K:
      if (s.nExpert === 8) return T.Q8_0;
      return ftype === F.IQ3_XS ? T.IQ3_XXS : ftype === F.IQ3_XXS ? T.IQ2_S : t;
    case C.ATTN_Q:
      return ftype === F.IQ3_XS ? T.IQ3_XXS : ftype === F.IQ3_XXS ? T.IQ2_S : t;
    case C.FFN_DOWN: return ffnDownRule(s, t, ftype, name);
    case C.ATTN_OUTPUT: return attnOutputRule(s, t, ftype);
    case C.FFN_GATE: { const r = ffnGateUpRule(s, t, ftype, name, s.iFfnGate); s.iFfnGate++; return r; }
    case C.FFN_UP: { const r = ffnGateUpRule(s, t, ftype, name, s.iFfnUp); s.iFfnUp++; return r; }
    default: return t;
  }
}
