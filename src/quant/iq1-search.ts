/**
 * What IQ1_S and IQ1_M share (spec §2.6.4, §2.8, §3.5): the two value tables, the stable sort of a
 * sub-block by value, and the weighted neighbour search of an off-grid group (`iq1_find_best_neighbour2`).
 * Sigma² and the sub-block weights are iq-search.ts's (`superBlockSigma2(x, x0, true)`, `imatrixWeights` /
 * `plainWeights` with bias 0), the same binary32 operations in the same order. Everything works on caller-owned typed arrays: no allocation per block.
 */
import type { IqGrid } from './iq-grids.js';
import { f } from '../core/fp32.js';

/** IQ1S_DELTA = IQ1M_DELTA */
export const IQ1_DELTA = 0.125;
/** level -> value with the +δ shift (`x_p`) and with the −δ shift (`x_m`), binary32 sums */
export const IQ1_XP = new Float32Array([f(-1 + IQ1_DELTA), IQ1_DELTA, f(1 + IQ1_DELTA)]);
export const IQ1_XM = new Float32Array([f(-1 - IQ1_DELTA), -IQ1_DELTA, f(1 - IQ1_DELTA)]);

/**
 * order[0..n) := 0..n-1 sorted by x[x0 + i] ascending, equal values (±0 included) in ascending index
 * order: glibc's qsort (a merge sort for these sizes) as the reference build runs it (spec §3.5).
 */
export function stableSortByValue(x: Float32Array, x0: number, n: number, order: Uint8Array): void {
  for (let j = 0; j < n; j++) {
    const v = x[x0 + j];
    let k = j - 1;
    while (k >= 0 && x[x0 + order[k]] > v) {
      order[k + 1] = order[k];
      k--;
    }
    order[k + 1] = j;
  }
}

/** max |x_i| over n values, MAX(a, b) = a > b ? a : b starting from |x_0| */
export function absMax(x: Float32Array, x0: number, n: number): number {
  let max = Math.abs(x[x0]);
  for (let i = 1; i < n; i++) {
    const a = Math.abs(x[x0 + i]);
    if (!(max > a)) max = a;
  }
  return max;
}

/** key of the 8 levels L[l0..l0+8): Σ L_i << 2i */
export function groupKey(L: Uint8Array, l0: number): number {
  let u = 0;
  for (let j = 0; j < 8; j++) u |= L[l0 + j] << (2 * j);
  return u;
}

/** TERM[3i + l] = w_i·diff·diff for coordinate i at level l: each candidate's d2 is a sum of 8 of them */
const TERM = new Float32Array(24);

/**
 * `iq1_find_best_neighbour2`: among the neighbour list of the off-grid `key`, the grid point with the
 * strictly smallest `Σ w·diff·diff`, `diff = scale·table[L] − x` (first wins). Writes its levels to
 * L[l0..l0+8) and returns its index. Where every distance is Inf or NaN (only weights that overflowed),
 * llama.cpp reads past the block and aborts; this throws instead.
 */
export function iq1BestNeighbour(grid: IqGrid, key: number, x: Float32Array, x0: number, w: Float32Array, w0: number,
  scale: number, table: Float32Array, L: Uint8Array, l0: number): number {
  const list = grid.neighbours(key);
  const levels = grid.levels;
  for (let l = 0; l < 3; l++) {
    const sq = f(scale * table[l]);
    for (let i = 0; i < 8; i++) {
      const diff = f(sq - x[x0 + i]);
      TERM[3 * i + l] = f(w[w0 + i] * diff) * diff;
    }
  }
  let best = 3.4028234663852886e38;
  let bestIndex = -1;
  for (let n = 0; n < list.length; n++) {
    const p = list[n] * 8;
    let d2 = 0;
    for (let i = 0; i < 8; i++) d2 = f(d2 + TERM[3 * i + levels[p + i]]);
    if (d2 < best) {
      best = d2;
      bestIndex = list[n];
    }
  }
  if (bestIndex < 0) {
    throw new RangeError(`IQ1 neighbour search: no finite distance for a group of 8 values (weights overflow binary32; llama.cpp aborts here)`);
  }
  const p = bestIndex * 8;
  for (let i = 0; i < 8; i++) L[l0 + i] = levels[p + i];
  return bestIndex;
}

/**
 * A sub-block scale that is NaN (the split sums overflowed: Inf/Inf): llama.cpp aborts the process there
 * (`GGML_ASSERT(scale >= 0)`); this throws instead.
 */
export function iq1ScaleError(scale: number): RangeError {
  return new RangeError(`IQ1 split search: sub-block scale ${scale} (the weighted sums overflow binary32; llama.cpp aborts here)`);
}
