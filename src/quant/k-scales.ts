/**
 * What Q4_K and Q5_K share (spec §1.4, §2.4.3, §2.4.4): the 12-byte packing of eight 6-bit sub-block
 * scales and mins (`get_scale_min_k4` and the quantizers' inverse), the sub-block scale/min search of
 * `quantize_row_q{4,5}_K_ref` / `_impl`, and the re-quantization with the stored fp16 scales that all
 * asymmetric K-quants (Q2_K included) end with. The per-type files only pack the final codes.
 */
import { fp16ToFp32, fp32ToFp16 } from '../core/half.js';
import { F_0_1 } from '../core/fp32.js';
import { nearestInt as ni } from '../core/fp32.js';
import { makeQkx2Quants, makeQkx3Quants, makeQpQuants } from './solvers-asymmetric.js';

const f = Math.fround;
const F_M0_9 = f(-0.9);
const F_0_05 = f(0.05);

/**
 * Pack eight (scale, min) codes into the 12 bytes at `dst[off..off+12)` in ggml's store order.
 * Codes are bytes; the imatrix Q4_K path can hand over a wrapped (> 63) byte and C stores it whole
 * for j < 4, so nothing is masked here beyond what C's byte stores drop.
 */
export function packScaleMin6(dst: Uint8Array, off: number, ls: Uint8Array, lm: Uint8Array): void {
  for (let j = 0; j < 4; j++) {
    dst[off + j] = ls[j];
    dst[off + j + 4] = lm[j];
  }
  for (let j = 4; j < 8; j++) {
    dst[off + j + 4] = (ls[j] & 15) | ((lm[j] & 15) << 4);
    dst[off + j - 4] |= (ls[j] >> 4) << 6;
    dst[off + j] |= (lm[j] >> 4) << 6;
  }
}

/** `get_scale_min_k4` for j = 0..7: the 6-bit scales into `sc`, the 6-bit mins into `m`. */
export function unpackScaleMin6(src: Uint8Array, off: number, sc: Uint8Array, m: Uint8Array): void {
  for (let j = 0; j < 4; j++) {
    sc[j] = src[off + j] & 63;
    m[j] = src[off + j + 4] & 63;
  }
  for (let j = 4; j < 8; j++) {
    sc[j] = (src[off + j + 4] & 15) | ((src[off + j - 4] >> 6) << 4);
    m[j] = (src[off + j + 4] >> 4) | ((src[off + j] >> 6) << 4);
  }
}

/**
 * The closing step of every asymmetric K-quant: with d = h2f(stored d)·sc_j and dm = h2f(stored
 * dmin)·m_j, code = clamp(ni((x + dm) ÷ d), 0, nmax). Sub-blocks whose d is zero keep the search codes.
 */
export function requantizeAsym(
  x: Float32Array, xOff: number, nsub: number, subLen: number, dF: number, dminF: number,
  sc: Uint8Array, m: Uint8Array, L: Uint8Array, nmax: number,
): void {
  for (let j = 0; j < nsub; j++) {
    const d = f(dF * sc[j]);
    if (d === 0) continue;
    const dm = f(dminF * m[j]);
    const base = j * subLen;
    for (let i = 0; i < subLen; i++) {
      let l = ni(f(f(x[xOff + base + i] + dm) / d));
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      L[base + i] = l;
    }
  }
}

const W = new Float32Array(32);
const SCALES = new Float32Array(8);
const MINS = new Float32Array(8);
const SW = new Float32Array(8);
const LS = new Uint8Array(8);
const LM = new Uint8Array(8);
const SC6 = new Uint8Array(8);
const M6 = new Uint8Array(8);

/** Search parameters of the reference path, which differ between Q4_K and Q5_K. */
export interface ScaleMinRefParams {
  readonly nmax: number;
  readonly rmin: number;
  readonly nstep: number;
  /** Q5_K's imatrix path applies min(63, ·) to the make_qp_quants codes, Q4_K's does not. */
  readonly clampImatrixCodes: boolean;
}

/**
 * One 256-value super-block of Q4_K/Q5_K: fills bytes 0..15 of the block at `dst[off..)` (d, dmin,
 * scales) and the final codes 0..nmax into `L[0..256)`. `qw` (the row's imatrix) selects the
 * imatrix path, with `qw[qwOff..qwOff+256)` the weights of this super-block.
 */
export function quantizeScaleMinBlock(
  x: Float32Array, xOff: number, qw: Float32Array | null, qwOff: number, p: ScaleMinRefParams,
  dst: Uint8Array, off: number, L: Uint8Array,
): void {
  let dBits: number;
  let mBits: number;
  if (qw) {
    let sumX2 = 0;
    for (let i = 0; i < 256; i++) { const v = x[xOff + i]; sumX2 = f(sumX2 + f(v * v)); }
    const sigma2 = f(f(2 * sumX2) / 256);
    for (let j = 0; j < 8; j++) {
      const xo = xOff + 32 * j;
      let sumW = 0;
      for (let i = 0; i < 32; i++) {
        const v = x[xo + i];
        const w = f(qw[qwOff + 32 * j + i] * f(Math.sqrt(f(sigma2 + f(v * v)))));
        W[i] = w;
        sumW = f(sumW + w);
      }
      SW[j] = sumW;
      SCALES[j] = makeQkx3Quants(32, p.nmax, x, xo, W, 0, L, 32 * j, F_M0_9, F_0_05, 36, false, MINS, j);
    }
    const dBlock = makeQpQuants(8, 63, SCALES, 0, LS, 0, SW, 0);
    const mBlock = makeQpQuants(8, 63, MINS, 0, LM, 0, SW, 0);
    if (p.clampImatrixCodes) {
      for (let j = 0; j < 8; j++) {
        if (LS[j] > 63) LS[j] = 63;
        if (LM[j] > 63) LM[j] = 63;
      }
    }
    dBits = fp32ToFp16(dBlock);
    mBits = fp32ToFp16(mBlock);
  } else {
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      const xo = xOff + 32 * j;
      let sumX2 = 0;
      for (let i = 0; i < 32; i++) { const v = x[xo + i]; sumX2 = f(sumX2 + f(v * v)); }
      const av = f(Math.sqrt(f(sumX2 / 32)));
      for (let i = 0; i < 32; i++) W[i] = f(av + Math.abs(x[xo + i]));
      const s = makeQkx2Quants(32, p.nmax, x, xo, W, 0, L, 32 * j, p.rmin, F_0_1, p.nstep, false, MINS, j);
      SCALES[j] = s;
      if (s > maxScale) maxScale = s;
      if (MINS[j] > maxMin) maxMin = MINS[j];
    }
    const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
    for (let j = 0; j < 8; j++) {
      // C stores nearest_int's result into a uint8_t first, then takes MIN(63, ·)
      const ls = ni(f(invScale * SCALES[j])) & 255;
      const lm = ni(f(invMin * MINS[j])) & 255;
      LS[j] = ls < 63 ? ls : 63;
      LM[j] = lm < 63 ? lm : 63;
    }
    dBits = fp32ToFp16(f(maxScale / 63));
    mBits = fp32ToFp16(f(maxMin / 63));
  }
  dst[off] = dBits & 255;
  dst[off + 1] = dBits >> 8;
  dst[off + 2] = mBits & 255;
  dst[off + 3] = mBits >> 8;
  packScaleMin6(dst, off + 4, LS, LM);
  unpackScaleMin6(dst, off + 4, SC6, M6);
  requantizeAsym(x, xOff, 8, 32, fp16ToFp32(dBits), fp16ToFp32(mBits), SC6, M6, L, p.nmax);
}
