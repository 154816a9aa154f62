/**
 * The asymmetric (scale + min) and positive-only searches of ggml-quants.c (spec §2.3.3–§2.3.5):
 * `make_qkx2_quants` (Q2_K/Q4_K/Q5_K reference), `make_qkx3_quants` (Q4_1/Q5_1/Q2_K/Q4_K/Q5_K imatrix)
 * and `make_qp_quants` (the sub-block scales and mins of the K-quant imatrix paths, IQ2_XXS).
 * They read a sub-range of the caller's buffers and write codes into the caller's Uint8Array, so the
 * per-block path allocates nothing. Every float operation is rounded to binary32 in ggml's order.
 */
import { GROUP_MAX_EPS, F_0_1, nearestInt } from '../core/fp32.js';

const f = Math.fround;

const ni = nearestInt;
const MAX_N = 256;
// x_i − min does not change across the trial scales; C recomputes it with the same rounding.
const XM = new Float64Array(MAX_N);
const LAUX = new Uint8Array(MAX_N);
const WX = new Float64Array(MAX_N);

/**
 * `make_qkx2_quants(n, nmax, x, w, L, &the_min, Laux, rmin, rdelta, nstep, use_mad)`.
 * Codes 0..nmax go to `L[lOff..lOff+n)`, the non-negative offset `the_min` to `minOut[minIdx]`;
 * returns the scale (value ≈ scale·L − the_min).
 */
export function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, xOff: number, w: Float32Array, wOff: number,
  L: Uint8Array, lOff: number, rmin: number, rdelta: number, nstep: number, useMad: boolean,
  minOut: Float32Array, minIdx: number,
): number {
  let min = x[xOff];
  let max = min;
  let sumW = w[wOff];
  let sumX = f(sumW * min);
  let nonNegW = sumW >= 0;
  for (let i = 1; i < n; i++) {
    const xi = x[xOff + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const wi = w[wOff + i];
    if (!(wi >= 0)) nonNegW = false;
    sumW = f(sumW + wi);
    sumX = f(sumX + f(wi * xi));
  }
  if (min > 0) min = 0;
  // make_qkx3_quants tests `max <= min`, make_qkx2_quants `max == min`: max ≥ x_0 ≥ min always
  // holds here, so the two tests agree and one implementation serves both.
  if (max <= min) {
    L.fill(0, lOff, lOff + n);
    minOut[minIdx] = -min;
    return 0;
  }
  let range = f(max - min);
  let iscale = f(nmax / range);
  let scale = f(1 / iscale);
  let best = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xOff + i];
    const xm = f(xi - min);
    XM[i] = xm;
    let l = ni(f(iscale * xm));
    l = l < 0 ? 0 : l > nmax ? nmax : l;
    L[lOff + i] = l;
    let diff = f(f(f(scale * l) + min) - xi);
    diff = useMad ? Math.abs(diff) : f(diff * diff);
    best = f(best + f(w[wOff + i] * diff));
  }
  if (nstep < 1) {
    minOut[minIdx] = -min;
    return scale;
  }
  let fresh = true;
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / range);
    let changed = fresh;
    for (let i = 0; i < n; i++) {
      let l = ni(f(iscale * XM[i]));
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      if (LAUX[i] !== l) { LAUX[i] = l; changed = true; }
    }
    // Every later decision is a function of the trial codes alone: a repeat of the last evaluated
    // codes can neither pass `cur < best` again nor newly pass it. (Nearly half the steps repeat.)
    if (!changed) continue;
    fresh = false;
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = LAUX[i];
      const wl = f(w[wOff + i] * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * x[xOff + i]));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (!(D > 0)) continue;
    let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
    let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
    if (thisMin > 0) {
      thisMin = 0;
      thisScale = f(sumXL / sumL2);
    }
    let cur = 0;
    let i = 0;
    for (; i < n; i++) {
      let diff = f(f(f(thisScale * LAUX[i]) + thisMin) - x[xOff + i]);
      diff = useMad ? Math.abs(diff) : f(diff * diff);
      cur = f(cur + f(w[wOff + i] * diff));
      // with non-negative terms the running binary32 sum never decreases, so it can stop once lost
      if (nonNegW && cur >= best) break;
    }
    if (i === n && cur < best) {
      for (let k = 0; k < n; k++) L[lOff + k] = LAUX[k];
      best = cur;
      scale = thisScale;
      min = thisMin;
      // C keeps using `min` in `max - min` and `x[i] - min` for the remaining trial scales, so an
      // accepted candidate shifts the grid of every later step (the spec's pseudocode leaves this implicit)
      range = f(max - min);
      for (let k = 0; k < n; k++) XM[k] = f(x[xOff + k] - min);
    }
  }
  minOut[minIdx] = -min;
  return scale;
}

/**
 * `make_qkx3_quants` with a weight vector (every caller passes one). Identical arithmetic to
 * `make_qkx2_quants`; see the note on the degenerate test there.
 */
export const makeQkx3Quants = makeQkx2Quants;

/**
 * `make_qp_quants(n, nmax, x, L, qw)`: positive-only codes 0..nmax in `L[lOff..lOff+n)` for
 * non-negative inputs; returns the scale. `L` is a byte array in C, so codes of negative inputs
 * wrap modulo 256 while the sums still use the signed value (spec §2.3.5).
 */
export function makeQpQuants(
  n: number, nmax: number, x: Float32Array, xOff: number, L: Uint8Array, lOff: number,
  qw: Float32Array, qwOff: number,
): number {
  let max = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xOff + i];
    max = max > v ? max : v;
  }
  if (max < GROUP_MAX_EPS) {
    L.fill(0, lOff, lOff + n);
    return 0;
  }
  let iscale = f(nmax / max);
  for (let i = 0; i < n; i++) L[lOff + i] = ni(f(iscale * x[xOff + i])) & 255;
  const scale = f(1 / iscale);
  let best = 0;
  for (let i = 0; i < n; i++) {
    const w = qw[qwOff + i];
    const diff = f(x[xOff + i] - f(scale * L[lOff + i]));
    best = f(best + f(f(w * diff) * diff));
  }
  for (let is = -4; is <= 4; is++) {
    if (is === 0) continue;
    const iscaleIs = f(f(f(F_0_1 * is) + nmax) / max);
    const scaleIs = f(1 / iscaleIs);
    let mse = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xOff + i];
      let l = ni(f(iscaleIs * xi));
      if (l > nmax) l = nmax;
      const diff = f(xi - f(scaleIs * l));
      mse = f(mse + f(f(qw[qwOff + i] * diff) * diff));
    }
    if (mse < best) {
      best = mse;
      iscale = iscaleIs;
    }
  }
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xOff + i];
    const w = qw[qwOff + i];
    let l = ni(f(iscale * xi));
    if (l > nmax) l = nmax;
    L[lOff + i] = l & 255;
    const wx = f(w * xi);
    WX[i] = wx;
    sumlx = f(sumlx + f(wx * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const w = qw[qwOff + i];
      const wx = WX[i];
      const li = L[lOff + i];
      let slx = f(sumlx - f(wx * li));
      let sl2 = f(suml2 - f(f(w * li) * li));
      if (slx > 0 && sl2 > 0) {
        let newL = ni(f(f(x[xOff + i] * sl2) / slx));
        if (newL > nmax) newL = nmax;
        if (newL !== li) {
          slx = f(slx + f(wx * newL));
          sl2 = f(sl2 + f(f(w * newL) * newL));
          if (f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            L[lOff + i] = newL & 255;
            sumlx = slx;
            suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}
