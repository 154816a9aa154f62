/**
 * Q2_K — 256 values in 84 bytes (2.625 bits per weight): scales[16] @0 (low nibble = 4-bit scale,
 * high nibble = 4-bit min of each 16-value sub-block), qs[64] @16 (2-bit codes: element e, with
 * h = e/128, g = (e mod 128)/32, l = e mod 32, sits at bits 2g..2g+1 of qs[32h + l]), d fp16 @80,
 * dmin fp16 @82. Reproduces ggml's `quantize_q2_K` (reference `quantize_row_q2_K_ref`, imatrix
 * `quantize_row_q2_K_impl`) and `dequantize_row_q2_K`; spec §1.4, §2.4.1.
 */
import { F16_TO_F32, F16_TO_F32_BITS, fp16ToFp32, fp32ToFp16 } from '../core/half.js';
import { F_0_1, f32Bits, nearestInt, x86Mul, x86Sub } from '../core/fp32.js';
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { requantizeAsym } from './k-scales.js';
import type { QuantTraits } from './traits.js';
import q2_kWgsl from '../../shaders/q2_k.wgsl';
import q2_kDequant from '../../shaders/dequant/q2_k.wgsl';
import { makeQkx2Quants, makeQkx3Quants, makeQpQuants } from './solvers-asymmetric.js';

const f = Math.fround;
const BLOCK_BYTES = 84;
const F_M0_9 = f(-0.9);
const F_0_05 = f(0.05);
const L = new Uint8Array(256);
const W = new Float32Array(16);
const SCALES = new Float32Array(16);
const MINS = new Float32Array(16);
const SW = new Float32Array(16);
const LS = new Uint8Array(16);
const LM = new Uint8Array(16);
const SC4 = new Uint8Array(16);
const M4 = new Uint8Array(16);

/** `quantize_row_q2_K_ref` for one super-block: scale bytes into `dst`, returns (d, dmin) bits packed. */
function searchRef(x: Float32Array, xOff: number, dst: Uint8Array, off: number): number {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 16; j++) {
    const xo = xOff + 16 * j;
    for (let i = 0; i < 16; i++) W[i] = Math.abs(x[xo + i]);
    const s = makeQkx2Quants(16, 3, x, xo, W, 0, L, 16 * j, -0.5, F_0_1, 15, true, MINS, j);
    SCALES[j] = s;
    if (s > maxScale) maxScale = s;
    if (MINS[j] > maxMin) maxMin = MINS[j];
  }
  let dBits = 0;
  let mBits = 0;
  if (maxScale > 0) {
    const iscale = f(15 / maxScale);
    for (let j = 0; j < 16; j++) dst[off + j] = nearestInt(f(iscale * SCALES[j]));
    dBits = fp32ToFp16(f(maxScale / 15));
  } else {
    dst.fill(0, off, off + 16);
  }
  if (maxMin > 0) {
    const iscale = f(15 / maxMin);
    for (let j = 0; j < 16; j++) dst[off + j] |= nearestInt(f(iscale * MINS[j])) << 4;
    mBits = fp32ToFp16(f(maxMin / 15));
  }
  return dBits | (mBits << 16);
}

/** `quantize_row_q2_K_impl` for one super-block; `qw[qwOff..qwOff+256)` are its weights. */
function searchImatrix(x: Float32Array, xOff: number, qw: Float32Array, qwOff: number, dst: Uint8Array, off: number): number {
  let sumX2 = 0;
  for (let i = 0; i < 256; i++) { const v = x[xOff + i]; sumX2 = f(sumX2 + f(v * v)); }
  const sigma2 = f(sumX2 / 256);
  for (let j = 0; j < 16; j++) {
    const xo = xOff + 16 * j;
    let sumW = 0;
    for (let i = 0; i < 16; i++) {
      const v = x[xo + i];
      const w = f(qw[qwOff + 16 * j + i] * f(Math.sqrt(f(sigma2 + f(v * v)))));
      W[i] = w;
      sumW = f(sumW + w);
    }
    SW[j] = sumW;
    SCALES[j] = makeQkx3Quants(16, 3, x, xo, W, 0, L, 16 * j, F_M0_9, F_0_05, 36, false, MINS, j);
  }
  const dBits = fp32ToFp16(makeQpQuants(16, 15, SCALES, 0, LS, 0, SW, 0));
  const mBits = fp32ToFp16(makeQpQuants(16, 15, MINS, 0, LM, 0, SW, 0));
  for (let j = 0; j < 16; j++) dst[off + j] = LS[j] | (LM[j] << 4);
  return dBits | (mBits << 16);
}

/** One super-block at src[xOff..] into dst[off..]: the reference search when `qw` is null, else the imatrix one. */
function quantizeBlock(src: Float32Array, xOff: number, dst: Uint8Array, off: number, qw: Float32Array | null, qwOff: number): void {
  const bits = qw ? searchImatrix(src, xOff, qw, qwOff, dst, off) : searchRef(src, xOff, dst, off);
  const dBits = bits & 0xffff;
  const mBits = bits >>> 16;
  dst[off + 80] = dBits & 255;
  dst[off + 81] = dBits >> 8;
  dst[off + 82] = mBits & 255;
  dst[off + 83] = mBits >> 8;
  for (let j = 0; j < 16; j++) {
    SC4[j] = dst[off + j] & 15;
    M4[j] = dst[off + j] >> 4;
  }
  requantizeAsym(src, xOff, 16, 16, fp16ToFp32(dBits), fp16ToFp32(mBits), SC4, M4, L, 3);
  for (let h = 0; h < 2; h++) {
    const q = off + 16 + 32 * h;
    const e = 128 * h;
    for (let l = 0; l < 32; l++) dst[q + l] = L[e + l] | (L[e + l + 32] << 2) | (L[e + l + 64] << 4) | (L[e + l + 96] << 6);
  }
}

function quantizeRowRef(src: Float32Array, dst: Uint8Array, n: number): void {
  for (let ib = 0; ib < n / 256; ib++) quantizeBlock(src, ib * 256, dst, ib * BLOCK_BYTES, null, 0);
}

function quantizeRowImpl(src: Float32Array, dst: Uint8Array, nPerRow: number, imatrix: Float32Array): void {
  for (let ib = 0; ib < nPerRow / 256; ib++) quantizeBlock(src, ib * 256, dst, ib * BLOCK_BYTES, imatrix, ib * 256);
}

function dequantizeRow(src: Uint8Array, dst: Float32Array, n: number): void {
  const nb = n / 256;
  const out = new Uint32Array(dst.buffer, dst.byteOffset, n);
  for (let i = 0; i < nb; i++) {
    const off = i * BLOCK_BYTES;
    const hd = src[off + 80] | (src[off + 81] << 8);
    const hm = src[off + 82] | (src[off + 83] << 8);
    const d = F16_TO_F32[hd];
    const dmin = F16_TO_F32[hm];
    const exact = Number.isFinite(d) && Number.isFinite(dmin);
    let y = i * 256;
    let is = 0;
    for (let h = 0; h < 2; h++) {
      const q = off + 16 + 32 * h;
      for (let g = 0; g < 4; g++) {
        const shift = 2 * g;
        for (let half = 0; half < 2; half++) {
          const sc = src[off + is++];
          const qb = q + 16 * half;
          if (exact) {
            const dl = f(d * (sc & 15));
            const ml = f(dmin * (sc >> 4));
            for (let l = 0; l < 16; l++) dst[y++] = f(dl * ((src[qb + l] >> shift) & 3)) - ml;
          } else {
            // an Inf or NaN d or dmin: x86's results bit for bit (which NaN, 0·Inf, Inf−Inf)
            const dl = x86Mul(F16_TO_F32_BITS[hd], f32Bits(sc & 15));
            const ml = x86Mul(F16_TO_F32_BITS[hm], f32Bits(sc >> 4));
            for (let l = 0; l < 16; l++) out[y++] = x86Sub(x86Mul(dl, f32Bits((src[qb + l] >> shift) & 3)), ml);
          }
        }
      }
    }
  }
}

export const Q2_K: QuantTraits = {
  layout: typeLayout(GgmlType.Q2_K),
  imatrix: 'optional',
  quantizeRowRef,
  quantizeRowImpl,
  dequantizeRow,
  gpu: { wgsl: q2_kWgsl, libs: ['search', 'kSearch', 'kScales'] },
  gpuDequant: q2_kDequant,
};
