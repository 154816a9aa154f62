/**
 * The shared machinery of the IQ2/IQ3 quantizers (spec §2.6.3, §2.6.5, §2.7): super-block sigma², the
 * per-sub-block weights, sign extraction (with or without the parity trick), the grid-constrained scale
 * search with its neighbour fallback, and the 4-bit sub-block scale codes. The type files (iq2_xxs.ts,
 * iq2_xs.ts, iq2_s.ts, iq3_xxs.ts, iq3_s.ts) only lay out their bytes. Every float operation is rounded to
 * binary32 in ggml's order; all scratch is module-level, nothing is allocated per block.
 */
import { nearestInt } from '../core/fp32.js';
import { F16_TO_F32, F16_TO_F32_BITS } from '../core/half.js';
import type { IqGrid } from './iq-grids.js';
import type { QuantTraits } from './traits.js';
import { QuantizeError } from '../errors.js';

/**
 * No neighbour's weighted squared distance is below FLT_MAX (it overflows to Inf, or is NaN from 0·Inf, on
 * values near the binary32 limits): ggml asserts and aborts the whole process here; we refuse with this error.
 */
export class GridSearchOverflowError extends QuantizeError {
  constructor(readonly grid: string, readonly value: number, readonly scale: number) {
    super(`${grid} grid search: no candidate has a finite weighted distance (group max |x| ${value}, trial scale ${scale}): ` +
      'the values are out of range for this type; llama.cpp aborts on such a block (GGML_ASSERT grid_index >= 0)');
  }
}

// module-local bindings: hot loops call these millions of times (an imported binding can cost a lookup per
// call under some module loaders)
const f = Math.fround;
const ni = nearestInt;

export const QK_K = 256;
const MAX_SUB = 32;

/** Σx² over the 256 values at x0, then ÷256 (`twice`: 2·Σx² ÷ 256; the IQ1 types use this form too). */
export function superBlockSigma2(x: Float32Array, x0: number, twice: boolean): number {
  let s = 0;
  for (let i = 0; i < QK_K; i++) {
    const v = x[x0 + i];
    s = f(s + f(v * v));
  }
  return f((twice ? f(2 * s) : s) / QK_K);
}

/** With an imatrix: w = qw·sqrt(sigma2 + x²); `waux` = sqrt(w) unless null (the IQ1 types have no waux). */
export function imatrixWeights(
  x: Float32Array, x0: number, qw: Float32Array, q0: number, n: number, sigma2: number,
  weight: Float32Array, waux: Float32Array | null,
): void {
  for (let i = 0; i < n; i++) {
    const v = x[x0 + i];
    const w = f(qw[q0 + i] * f(Math.sqrt(f(sigma2 + f(v * v)))));
    weight[i] = w;
    if (waux) waux[i] = f(Math.sqrt(w));
  }
}

/**
 * Without an imatrix: w = bias + x² (bias 0 for IQ3_* and IQ1_M, 0.25·sigma2 for IQ2_S); `waux` = sqrt(w)
 * unless null.
 */
export function plainWeights(
  x: Float32Array, x0: number, n: number, bias: number, weight: Float32Array, waux: Float32Array | null,
): void {
  for (let i = 0; i < n; i++) {
    const v = x[x0 + i];
    const w = bias === 0 ? f(v * v) : f(bias + f(v * v));
    weight[i] = w;
    if (waux) waux[i] = f(Math.sqrt(w));
  }
}

/**
 * Signs of the `n` values at x0 in groups of 8 into `signs[0..n/8)`, magnitudes into `xval`; with `parity`
 * (IQ2_XXS, IQ2_XS, IQ3_XXS) a group with an odd count of negatives gets its least important value
 * (argmin w·x·x, first wins) flipped back and the 7-bit code is kept (spec §2.6.5). Returns max over xval
 * (starting from xval[0], as C's MAX chain).
 */
export function extractSigns(
  x: Float32Array, x0: number, n: number, weight: Float32Array, parity: boolean, xval: Float32Array, signs: Uint8Array,
): number {
  for (let k = 0; k < n / 8; k++) {
    let s = 0;
    let nflip = 0;
    for (let i = 0; i < 8; i++) {
      const v = x[x0 + 8 * k + i];
      if (v >= 0) xval[8 * k + i] = v;
      else {
        xval[8 * k + i] = -v;
        nflip++;
        s |= 1 << i;
      }
    }
    if (parity && nflip % 2 === 1) {
      let imin = 0;
      const v0 = x[x0 + 8 * k];
      let min = f(f(weight[8 * k] * v0) * v0);
      for (let i = 1; i < 8; i++) {
        const v = x[x0 + 8 * k + i];
        const ax = f(f(weight[8 * k + i] * v) * v);
        if (ax < min) {
          min = ax;
          imin = i;
        }
      }
      xval[8 * k + imin] = -xval[8 * k + imin];
      s ^= 1 << imin;
    }
    signs[k] = parity ? s & 127 : s;
  }
  let max = xval[0];
  for (let i = 1; i < n; i++) max = max > xval[i] ? max : xval[i];
  return max;
}

/** How the search settles the groups after the trial scales (spec §2.7). */
export const enum Recompute {
  /** IQ2_XS, IQ2_S, IQ3_XXS: only the groups the kept trial had off the grid, if any and scale > 0 */
  OffGrid,
  /** IQ3_S: all groups, if any kept group was off the grid (flags start "off") and scale > 0 */
  AllIfAnyOffGrid,
  /** IQ2_XXS: all groups whenever scale > 0 */
  Always,
}

export interface GridSearch {
  readonly grid: IqGrid;
  /** number of levels: 3 (IQ2) or 8 (IQ3) */
  readonly kMaxQ: number;
  /** trial scales is = −trials … trials */
  readonly trials: number;
  /** 0.1f (IQ2) or 0.2f (IQ3) */
  readonly step: number;
  /** the on-grid flags before any trial is kept */
  readonly onGridInit: boolean;
  readonly recompute: Recompute;
}

const LAUX = new Uint8Array(MAX_SUB);
const SCALED = new Float64Array(6);
const ON = new Uint8Array(MAX_SUB / 4);
const ON_AUX = new Uint8Array(MAX_SUB / 4);

/**
 * `iq2_find_best_neighbour` / `iq3_find_best_neighbour`: the neighbour of `key` closest to xval (weighted by
 * waux) at `scale`; first strictly smaller wins. Writes its levels to L[l0..l0+dim), returns its index.
 */
function bestNeighbour(
  grid: IqGrid, key: number, xval: Float32Array, waux: Float32Array, v0: number, scale: number, L: Uint8Array,
): number {
  const list = grid.neighbours(key);
  const { dim, positions, levels } = grid;
  let best = 3.4028234663852886e38;
  let gi = -1;
  // d2 = Σ_i waux_i·diff·diff in index order, diff = scale·p − x; the group's values and weights in locals
  const S = SCALED;
  const x0 = xval[v0], x1 = xval[v0 + 1], x2 = xval[v0 + 2], x3 = xval[v0 + 3];
  const w0 = waux[v0], w1 = waux[v0 + 1], w2 = waux[v0 + 2], w3 = waux[v0 + 3];
  if (dim === 4) {
    // IQ3 lists are short (≤ 38): form scale·p per coordinate as C does
    for (let j = 0; j < list.length; j++) {
      const p = list[j] * 4;
      let d = f(f(scale * positions[p]) - x0);
      let d2 = f(0 + f(f(w0 * d) * d));
      d = f(f(scale * positions[p + 1]) - x1);
      d2 = f(d2 + f(f(w1 * d) * d));
      d = f(f(scale * positions[p + 2]) - x2);
      d2 = f(d2 + f(f(w2 * d) * d));
      d = f(f(scale * positions[p + 3]) - x3);
      d2 = f(d2 + f(f(w3 * d) * d));
      if (d2 < best) {
        best = d2;
        gi = list[j];
      }
    }
  } else {
    // the 2-bit grids' points have levels 0..2, positions 1, 3, 5: the products scale·p once per call
    S[1] = f(scale);
    S[3] = f(scale * 3);
    S[5] = f(scale * 5);
    const x4 = xval[v0 + 4], x5 = xval[v0 + 5], x6 = xval[v0 + 6], x7 = xval[v0 + 7];
    const w4 = waux[v0 + 4], w5 = waux[v0 + 5], w6 = waux[v0 + 6], w7 = waux[v0 + 7];
    for (let j = 0; j < list.length; j++) {
      const p = list[j] * 8;
      let d = f(S[positions[p]] - x0);
      let d2 = f(0 + f(f(w0 * d) * d));
      d = f(S[positions[p + 1]] - x1);
      d2 = f(d2 + f(f(w1 * d) * d));
      d = f(S[positions[p + 2]] - x2);
      d2 = f(d2 + f(f(w2 * d) * d));
      d = f(S[positions[p + 3]] - x3);
      d2 = f(d2 + f(f(w3 * d) * d));
      d = f(S[positions[p + 4]] - x4);
      d2 = f(d2 + f(f(w4 * d) * d));
      d = f(S[positions[p + 5]] - x5);
      d2 = f(d2 + f(f(w5 * d) * d));
      d = f(S[positions[p + 6]] - x6);
      d2 = f(d2 + f(f(w6 * d) * d));
      d = f(S[positions[p + 7]] - x7);
      d2 = f(d2 + f(f(w7 * d) * d));
      if (d2 < best) {
        best = d2;
        gi = list[j];
      }
    }
  }
  if (gi < 0) {
    let big = 0;
    for (let i = 0; i < dim; i++) big = Math.max(big, Math.abs(xval[v0 + i]));
    throw new GridSearchOverflowError(grid.name, big, scale);
  }
  for (let i = 0; i < dim; i++) L[v0 + i] = levels[gi * dim + i];
  return gi;
}

/** Levels level(xv, id) of group k into L; returns the group's key. */
function groupLevels(grid: IqGrid, kMaxQ: number, xval: Float32Array, v0: number, id: number, L: Uint8Array): number {
  const { dim, bits } = grid;
  const top = kMaxQ - 1;
  let key = 0;
  for (let i = 0; i < dim; i++) {
    let l = ni(f(0.5 * f(f(id * xval[v0 + i]) - 1)));
    l = l < 0 ? 0 : l > top ? top : l;
    L[v0 + i] = l;
    key |= l << (bits * i);
  }
  return key;
}

/** Σ w·xv·q and Σ w·q·q with q = 2L + 1, over n values; into SUMS[0], SUMS[1]. */
const SUMS = new Float64Array(2);
function sums(n: number, weight: Float32Array, xval: Float32Array, L: Uint8Array): void {
  let sumqx = 0;
  let sumq2 = 0;
  for (let i = 0; i < n; i++) {
    const w = weight[i];
    const q = 2 * L[i] + 1;
    sumqx = f(sumqx + f(f(w * xval[i]) * q));
    sumq2 = f(sumq2 + f(f(w * q) * q));
  }
  SUMS[0] = sumqx;
  SUMS[1] = sumq2;
}

/**
 * The grid-constrained scale search of one sub-block of `n` values (spec §2.7): trial scales
 * id = (2·kMaxQ − 1 + is·step) ÷ denom, levels per group snapped to the grid (neighbour list when off it),
 * keep the best Σqx²/Σq², then settle the groups per `recompute` and refit. `scale` is the value before any
 * trial is kept. Writes the final grid index of each group to idx[0..n/dim) and returns the scale (may be
 * negative in degenerate data; the caller flips it).
 */
export function gridSearch(
  s: GridSearch, n: number, xval: Float32Array, weight: Float32Array, waux: Float32Array,
  denom: number, scale: number, L: Uint8Array, idx: Int32Array,
): number {
  const { grid, kMaxQ, trials, step, onGridInit, recompute } = s;
  const dim = grid.dim;
  const ng = n / dim;
  const base = 2 * kMaxQ - 1;
  L.fill(0, 0, n);
  ON.fill(onGridInit ? 1 : 0, 0, ng);
  let best = 0;
  for (let is = -trials; is <= trials; is++) {
    const id = f(f(base + f(is * step)) / denom);
    const thisScale = f(1 / id);
    for (let k = 0; k < ng; k++) {
      const key = groupLevels(grid, kMaxQ, xval, k * dim, id, LAUX);
      if (grid.onGrid(key) >= 0) ON_AUX[k] = 1;
      else {
        ON_AUX[k] = 0;
        bestNeighbour(grid, key, xval, waux, k * dim, thisScale, LAUX);
      }
    }
    sums(n, weight, xval, LAUX);
    const sumqx = SUMS[0];
    const sumq2 = SUMS[1];
    if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
      scale = f(sumqx / sumq2);
      best = f(scale * sumqx);
      L.set(LAUX.subarray(0, n));
      ON.set(ON_AUX.subarray(0, ng));
    }
  }
  let anyOff = recompute === Recompute.Always;
  for (let k = 0; k < ng; k++) if (!ON[k]) anyOff = true;
  if (anyOff && scale > 0) {
    const id = f(1 / scale);
    for (let k = 0; k < ng; k++) {
      if (recompute === Recompute.OffGrid && ON[k]) continue;
      const key = groupLevels(grid, kMaxQ, xval, k * dim, id, L);
      if (grid.onGrid(key) < 0) bestNeighbour(grid, key, xval, waux, k * dim, scale, L);
    }
    sums(n, weight, xval, L);
    if (SUMS[1] > 0) scale = f(SUMS[0] / SUMS[1]);
  }
  for (let k = 0; k < ng; k++) {
    let key = 0;
    for (let i = 0; i < dim; i++) key |= L[k * dim + i] << (grid.bits * i);
    const gi = grid.onGrid(key);
    if (gi < 0) throw new Error(`${grid.name}: the search ended off the grid (key ${key}); this is a bug`);
    idx[k] = gi;
  }
  return scale;
}

/** The 4-bit code of each sub-block scale with id = 1 ÷ d (un-fudged, un-rounded d): clamp(ni(0.5·(id·s − 1)), 0, 15). */
export function scaleCode(id: number, scale: number): number {
  const l = ni(f(0.5 * f(f(id * scale) - 1)));
  return l < 0 ? 0 : l > 15 ? 15 : l;
}

export const F_0_2 = f(0.2);

const NAN_VIEW: { buf: ArrayBufferLike | null; u32: Uint32Array<ArrayBufferLike> } = { buf: null, u32: new Uint32Array(0) };
/**
 * The i-quant dequantizers negate with a sign-bit flip, so with a NaN block scale (binary32 bits `dBits`)
 * an element comes out as the scale's NaN with its sign bit flipped where the element is negated. Call after
 * decoding the block with scale 1 into dst[y0..y0+n) (every value then non-zero, carrying its sign).
 */
export function signedNaNs(dst: Float32Array, y0: number, n: number, dBits: number): void {
  if (NAN_VIEW.buf !== dst.buffer) {
    NAN_VIEW.buf = dst.buffer;
    NAN_VIEW.u32 = new Uint32Array(dst.buffer);
  }
  const u = NAN_VIEW.u32;
  const base = dst.byteOffset / 4 + y0;
  for (let i = 0; i < n; i++) u[base + i] = (dBits ^ (dst[y0 + i] < 0 ? 0x80000000 : 0)) >>> 0;
}

/**
 * Quantizes the super-block of 256 values at x[x0..] into dst[o..o + blockBytes); `qw` (read at q0) holds
 * the block's imatrix weights, null on the plain path (never null for an imatrix-required type).
 */
type GridBlockQuantizer<W> = (x: Float32Array, x0: number, qw: W, q0: number, dst: Uint8Array, o: number) => void;
/** Decodes the block at src[o..] with block scale `d` into dst[y0..y0 + 256). */
type GridBlockDecoder = (src: Uint8Array, o: number, d: number, dst: Float32Array, y0: number) => void;

/**
 * The row functions every IQ2/IQ3 grid type shares, built from its block quantizer and decoder: rows are
 * whole super-blocks back to back, each with its fp16 `d` at byte 0. An imatrix-required type gets no
 * `quantizeRowRef`. The dequantizer runs `signedNaNs` over a block whose `d` is NaN (as ggml's sign flips do).
 */
export function gridTypeRows(
  imatrix: 'required', blockBytes: number, quantizeBlock: GridBlockQuantizer<Float32Array>, decodeBlock: GridBlockDecoder,
): Pick<QuantTraits, 'quantizeRowImpl' | 'dequantizeRow'>;
export function gridTypeRows(
  imatrix: 'optional', blockBytes: number, quantizeBlock: GridBlockQuantizer<Float32Array | null>, decodeBlock: GridBlockDecoder,
): Pick<QuantTraits, 'quantizeRowRef' | 'quantizeRowImpl' | 'dequantizeRow'>;
export function gridTypeRows(
  imatrix: 'required' | 'optional', blockBytes: number,
  block: GridBlockQuantizer<Float32Array> | GridBlockQuantizer<Float32Array | null>, decodeBlock: GridBlockDecoder,
): Pick<QuantTraits, 'quantizeRowRef' | 'quantizeRowImpl' | 'dequantizeRow'> {
  // a required type's quantizer is only ever called with an imatrix: the registry refuses a call without one,
  // and no quantizeRowRef (the one caller passing null) is made for it
  const quantizeBlock = block as GridBlockQuantizer<Float32Array | null>;
  const dequantizeRow = (src: Uint8Array, dst: Float32Array, n: number): void => {
    const nb = n / QK_K;
    for (let b = 0; b < nb; b++) {
      const o = b * blockBytes;
      const hb = src[o] | (src[o + 1] << 8);
      const d = F16_TO_F32[hb];
      decodeBlock(src, o, d, dst, b * QK_K);
      if (d !== d) {
        decodeBlock(src, o, 1, dst, b * QK_K);
        signedNaNs(dst, b * QK_K, QK_K, F16_TO_F32_BITS[hb]);
      }
    }
  };
  const quantizeRowImpl = (src: Float32Array, dst: Uint8Array, nPerRow: number, qw: Float32Array | null): void => {
    for (let i = 0; i < nPerRow / QK_K; i++) quantizeBlock(src, i * QK_K, qw, i * QK_K, dst, i * blockBytes);
  };
  if (imatrix === 'required') return { quantizeRowImpl, dequantizeRow };
  const quantizeRowRef = (src: Float32Array, dst: Uint8Array, n: number): void => {
    for (let i = 0; i < n / QK_K; i++) quantizeBlock(src, i * QK_K, null, 0, dst, i * blockBytes);
  };
  return { quantizeRowRef, quantizeRowImpl, dequantizeRow };
}
