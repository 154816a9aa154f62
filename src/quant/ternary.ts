/**
 * What TQ1_0 and TQ2_0 share (`quantize_row_tq1_0_ref`, `quantize_row_tq2_0_ref`): d = max|x| over the
 * 256-value block, and the trit t = lroundf(x·(1/d)) + 1 ∈ {0, 1, 2} of each value; spec §2.9.
 */
import { f, lroundfInt } from '../core/fp32.js';
import { putFp16 } from '../core/half.js';

/**
 * Writes the trits of the 256 values at x[x0..] into `trits` and fp16(d) at dst[dOff]. A block whose
 * 1/d overflows to Inf gets trit 1 everywhere (lroundf of ±Inf/NaN), as on x86-64.
 */
export function ternaryTrits(x: Float32Array, x0: number, trits: Uint8Array, dst: Uint8Array, dOff: number): void {
  let amax = 0;
  for (let j = 0; j < 256; j++) amax = Math.max(amax, Math.abs(x[x0 + j]));
  const id = amax !== 0 ? f(1 / amax) : 0;
  putFp16(dst, dOff, amax);
  for (let j = 0; j < 256; j++) trits[j] = lroundfInt(f(x[x0 + j] * id)) + 1;
}
