/**
 * What ggml's CPU matmul does to the activations before it multiplies them with a weight: it converts
 * them to the weight type's dot-product type (`vec_dot_type`): F16 for F16 weights, BF16 for BF16,
 * Q8_0 (or Q8_1, same values) for the legacy types, Q8_K for the K-quants; F32 weights take them as they
 * are. Mirroring it here means rounding each activation row to the values those blocks hold; the dot
 * product of the rounded values with the dequantized weights is then the same sum ggml computes (up to
 * the order of the float additions).
 */
import { fp16ToFp32, fp32ToBf16, fp32ToFp16, bf16ToFp32 } from '../core/half.js';
import { GgmlType, QK_K } from '../core/ggml-type.js';
import { nearestInt } from '../core/fp32.js';

export type ActRound = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q8_K';

/** ggml-cpu's vec_dot_type of a weight type, as the rounding applied to the activations. */
export function actRoundFor(type: GgmlType): ActRound {
  switch (type) {
    case GgmlType.F32: return 'f32';
    case GgmlType.F16: return 'f16';
    case GgmlType.BF16: return 'bf16';
    case GgmlType.Q4_0: case GgmlType.Q5_0: case GgmlType.Q8_0:
    case GgmlType.Q4_1: case GgmlType.Q5_1: // Q8_1: the same quants and scale as Q8_0
    case GgmlType.IQ4_NL: case GgmlType.MXFP4:
      return 'q8_0';
    default:
      return 'q8_K';
  }
}

const fround = Math.fround;

/** Round `x` (rows of n values) in place to the values its dot-product type holds. */
export function roundActivations(x: Float32Array, n: number, mode: ActRound): void {
  switch (mode) {
    case 'f32':
      return;
    case 'f16':
      for (let i = 0; i < x.length; i++) x[i] = fp16ToFp32(fp32ToFp16(x[i]));
      return;
    case 'bf16':
      for (let i = 0; i < x.length; i++) x[i] = bf16ToFp32(fp32ToBf16(x[i]));
      return;
    case 'q8_0':
      if (n % 32) throw new RangeError(`q8_0 activations: row of ${n} is not a multiple of 32`);
      for (let b = 0; b < x.length; b += 32) q8_0Block(x, b);
      return;
    case 'q8_K':
      if (n % QK_K) throw new RangeError(`q8_K activations: row of ${n} is not a multiple of ${QK_K}`);
      for (let b = 0; b < x.length; b += QK_K) q8KBlock(x, b);
      return;
  }
}

/** x86 quantize_row_q8_0: d = amax/127 stored as fp16, q = round-half-even(x * 127/amax). */
function q8_0Block(x: Float32Array, b: number): void {
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b + j]));
  const d = fp16ToFp32(fp32ToFp16(fround(amax / 127)));
  const id = amax !== 0 ? fround(127 / amax) : 0;
  for (let j = 0; j < 32; j++) {
    x[b + j] = d * nearestInt(fround(x[b + j] * id));
  }
}

/** quantize_row_q8_K_ref: iscale = -127/max (max: the value of largest |x|), q = min(127, nearest(x*iscale)), d = 1/iscale. */
function q8KBlock(x: Float32Array, b: number): void {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < QK_K; j++) {
    const ax = Math.abs(x[b + j]);
    if (ax > amax) {
      amax = ax;
      max = x[b + j];
    }
  }
  if (!amax) {
    x.fill(0, b, b + QK_K);
    return;
  }
  const iscale = fround(-127 / max);
  const d = fround(1 / iscale);
  for (let j = 0; j < QK_K; j++) x[b + j] = d * Math.min(127, nearestInt(fround(iscale * x[b + j])));
}
