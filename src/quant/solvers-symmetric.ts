/**
 * The symmetric scale searches of ggml-quants.c (spec §2.3.1, §2.3.2): `make_qx_quants` with
 * rmse_type 1 (Q4_0/Q5_0 imatrix, Q3_K imatrix, Q6_K) and `make_q3_quants` with do_rmse (Q3_K reference).
 * Both work on a sub-range of a caller's buffer and write codes into a caller's scratch, so the hot
 * per-block path allocates nothing. Every float operation is rounded to binary32 in ggml's order.
 */
import { GROUP_MAX_EPS, F_0_1, nearestInt } from '../core/fp32.js';

const f = Math.fround;
const MAGIC = 12582912; // 1.5·2^23, nearest_int's rounding constant

/** `nearestInt` without the memory round trip when the magic sum lands in [2^23, 2^24), i.e. |v| < 2^22. */
function ni(v: number): number {
  const s = f(v + MAGIC);
  return s >= 8388608 && s < 16777216 ? s - MAGIC : nearestInt(v);
}

const MAX_N = 32;
const TRIALS = 19;
const ISCALE = new Float64Array(TRIALS);
const SUMLX = new Float64Array(TRIALS);
const SUML2 = new Float64Array(TRIALS);
// make_q3_quants: w_i and w_i·x_i do not change between passes, so they are computed once per element;
// C recomputes them with the same roundings, which gives the same binary32 values.
const W = new Float64Array(MAX_N);
const WX = new Float64Array(MAX_N);
const LS = new Int32Array(MAX_N);

/**
 * The value of largest magnitude (ggml's argmax|x|: strict compare, the first one wins ties, 0 for an
 * all-zero block), with its sign.
 */
export function signedAbsMax(x: Float32Array, xOff: number, n: number): number {
  let amax = 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xOff + i];
    const a = Math.abs(v);
    if (a > amax) { amax = a; max = v; }
  }
  return max;
}

/**
 * `make_qx_quants(n, nmax, x, L, 1, qw)`: codes L_i = l_i + nmax in 0..2·nmax−1 written to
 * `out[outOff..outOff+n)`; returns the scale (sign opposite to the largest-magnitude x).
 * With `qw` null the weights are x², as rmse_type 1 prescribes.
 *
 * The sums of each of the 19 trial scales depend only on that scale, so they are accumulated
 * interleaved (independent dependency chains, each in C's order); C's accept sequence is then replayed
 * in order and the codes are computed once, for the scale it kept last. Same bytes, about 2.5x faster
 * on V8 than the trial-by-trial loop.
 */
export function makeQxQuants(
  n: number, nmax: number, x: Float32Array, xOff: number, out: Uint8Array, outOff: number,
  qw: ArrayLike<number> | null, qwOff: number,
): number {
  const max = signedAbsMax(x, xOff, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    out.fill(0, outOff, outOff + n);
    return 0;
  }
  // trial 0 is C's first pass (is = 0), trials 1..18 are is = -9..-1, 1..9
  for (let t = 0; t < TRIALS; t++) {
    const is = t === 0 ? 0 : t <= 9 ? t - 10 : t - 9;
    ISCALE[t] = f(-f(nmax + f(F_0_1 * is)) / max); // is = 0 gives C's (−nmax) ÷ max exactly
    SUMLX[t] = 0;
    SUML2[t] = 0;
  }
  const hi = nmax - 1;
  for (let i = 0; i < n; i++) {
    const v = x[xOff + i];
    const w = qw ? qw[qwOff + i] : f(v * v);
    const wx = f(w * v);
    for (let t = 0; t < TRIALS; t++) {
      // |iscale·x| <= nmax + 1, far inside the range where nearest_int is plain rounding to even
      let l = f(f(ISCALE[t] * v) + MAGIC) - MAGIC;
      l = l < -nmax ? -nmax : l > hi ? hi : l;
      SUMLX[t] = f(SUMLX[t] + f(wx * l));
      SUML2[t] = f(SUML2[t] + f(f(w * l) * l));
    }
  }
  // C tests `suml2 ? ... : 0`: NaN counts as true there and here
  let scale = SUML2[0] !== 0 ? f(SUMLX[0] / SUML2[0]) : 0;
  let best = f(scale * SUMLX[0]);
  let win = 0;
  for (let t = 1; t < TRIALS; t++) {
    const sumlx = SUMLX[t];
    const suml2 = SUML2[t];
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      win = t;
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  const iscale = ISCALE[win];
  for (let i = 0; i < n; i++) {
    const l = ni(f(iscale * x[xOff + i])); // the full rule here, so even a stray Inf input gives C's code
    out[outOff + i] = (l < -nmax ? -nmax : l > hi ? hi : l) + nmax;
  }
  return scale;
}

/**
 * `make_q3_quants(n, nmax, x, L, do_rmse = true)`: the coordinate-descent refinement used by the Q3_K
 * reference path (n <= 32). Codes L_i = l_i + nmax are written to `out[outOff..outOff+n)`; returns the scale.
 */
export function makeQ3Quants(n: number, nmax: number, x: Float32Array, xOff: number, out: Uint8Array, outOff: number): number {
  const max = signedAbsMax(x, xOff, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    out.fill(0, outOff, outOff + n);
    return 0;
  }
  const hi = nmax - 1;
  const iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xOff + i];
    let l = ni(f(iscale * v));
    l = l < -nmax ? -nmax : l > hi ? hi : l;
    LS[i] = l;
    const w = f(v * v);
    W[i] = w;
    WX[i] = f(w * v);
    sumlx = f(sumlx + f(WX[i] * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const w = W[i];
      const wx = WX[i];
      const li = LS[i];
      let slx = f(sumlx - f(wx * li));
      if (slx > 0) {
        let sl2 = f(suml2 - f(f(w * li) * li));
        let nl = ni(f(f(x[xOff + i] * sl2) / slx));
        nl = nl < -nmax ? -nmax : nl > hi ? hi : nl;
        if (nl !== li) {
          slx = f(slx + f(wx * nl));
          sl2 = f(sl2 + f(f(w * nl) * nl));
          if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            LS[i] = nl;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (changed === 0) break;
  }
  for (let i = 0; i < n; i++) out[outOff + i] = LS[i] + nmax;
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}
