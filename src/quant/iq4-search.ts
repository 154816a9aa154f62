/**
 * The non-linear 4-bit codebook and the scale search shared by IQ4_NL and IQ4_XS
 * (`quantize_row_iq4_nl_impl` with ntry = 7, `best_index_int8`); spec §2.1.2, §2.5.
 * Every float operation is rounded to binary32 in ggml's order.
 */
import { f, GROUP_MAX_EPS } from '../core/fp32.js';

/** kvalues_iq4nl (ggml-common.h): the 16 levels a 4-bit IQ4 code stands for. */
export const KVALUES_IQ4NL = new Int8Array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]);
const V = KVALUES_IQ4NL;
const NTRY = 7;

/**
 * `best_index_int8(16, kvalues_iq4nl, x)`: the nearest level by binary search; ties go to the upper one.
 * NaN compares false everywhere and ends on 15, as in C.
 */
export function bestIndexIq4(x: number): number {
  if (x <= -127) return 0;
  if (x >= 113) return 15;
  let ml = 0;
  let mu = 15;
  while (mu - ml > 1) {
    const mid = (ml + mu) >> 1;
    if (x < V[mid]) mu = mid; else ml = mid;
  }
  return f(x - V[mu - 1]) < f(V[mu] - x) ? mu - 1 : mu;
}

/** `sigma2` of the imatrix weights: Σx² over the super-block, times 2/S (a power of two). */
export function iq4Sigma2(x: Float32Array, x0: number, n: number): number {
  let s = 0;
  for (let j = 0; j < n; j++) s = f(s + f(x[x0 + j] * x[x0 + j]));
  return f(s * (2 / n));
}

/**
 * Weights of one 32-block into `w`: qw·sqrt(sigma2 + x²) with an imatrix (`qw[q0..]`), else x².
 */
export function iq4Weights(x: Float32Array, x0: number, qw: Float32Array | null, q0: number, sigma2: number, w: Float32Array): void {
  for (let j = 0; j < 32; j++) {
    const v = x[x0 + j];
    const v2 = f(v * v);
    w[j] = qw ? f(qw[q0 + j] * f(Math.sqrt(f(sigma2 + v2)))) : v2;
  }
}

/** Σ w·q·x and Σ w·q·q of one 32-block for the codes best_index(id·x). */
function fit(x: Float32Array, x0: number, w: Float32Array, id: number, out: Float64Array): void {
  let sumqx = 0;
  let sumq2 = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[x0 + j];
    const q = V[bestIndexIq4(f(id * v))];
    const wq = f(w[j] * q);
    sumqx = f(sumqx + f(wq * v));
    sumq2 = f(sumq2 + f(wq * q));
  }
  out[0] = sumqx;
  out[1] = sumq2;
}

const SUMS = new Float64Array(2);

/**
 * The scale of one 32-block (`scales[ib]` of quantize_row_iq4_nl_impl): 0 for a block whose max |x| is
 * below GROUP_MAX_EPS, else the best of the first fit and the 15 trial scales (itry = −7..7).
 */
export function iq4BlockScale(x: Float32Array, x0: number, w: Float32Array): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[x0 + j];
    const a = Math.abs(v);
    if (a > amax) { amax = a; max = v; }
  }
  if (amax < GROUP_MAX_EPS) return 0;
  let d = f(-max / V[0]);
  fit(x, x0, w, f(1 / d), SUMS);
  let sumqx = SUMS[0];
  let sumq2 = SUMS[1];
  d = sumq2 > 0 ? f(sumqx / sumq2) : 0;
  let best = f(d * sumqx);
  for (let itry = -NTRY; itry <= NTRY; itry++) {
    fit(x, x0, w, f((itry + V[0]) / max), SUMS);
    sumqx = SUMS[0];
    sumq2 = SUMS[1];
    if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
      d = f(sumqx / sumq2);
      best = f(d * sumqx);
    }
  }
  return d;
}

/** Nibble-packs the 32 codes best_index(id·x) of one block at dst[o..o+16): element j low, j+16 high. */
export function iq4PackCodes(x: Float32Array, x0: number, id: number, dst: Uint8Array, o: number): void {
  for (let j = 0; j < 16; j++) {
    dst[o + j] = bestIndexIq4(f(id * x[x0 + j])) | (bestIndexIq4(f(id * x[x0 + 16 + j])) << 4);
  }
}
