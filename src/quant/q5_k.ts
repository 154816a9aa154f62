/**
 * Q5_K — 256 values in 176 bytes (5.5 bits per weight): d fp16 @0, dmin fp16 @2, scales[12] @4 (as
 * Q4_K, see k-scales.ts), qh[32] @16, qs[128] @48. Low nibbles as Q4_K; the 5th bit of element r of
 * 64-value chunk c is bit 2c (r < 32) or 2c+1 (r ≥ 32) of qh[r mod 32].
 * Reproduces ggml's `quantize_q5_K` (reference `quantize_row_q5_K_ref`, imatrix `quantize_row_q5_K_impl`)
 * and `dequantize_row_q5_K`; spec §1.4, §2.4.4.
 */
import { F16_TO_F32, F16_TO_F32_BITS } from '../core/half.js';
import { f32Bits, x86Mul, x86Sub } from '../core/fp32.js';
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import type { QuantTraits } from './traits.js';
import q5_kWgsl from '../../shaders/q5_k.wgsl';
import q5_kDequant from '../../shaders/dequant/q5_k.wgsl';
import { quantizeScaleMinBlock, unpackScaleMin6, type ScaleMinRefParams } from './k-scales.js';

const f = Math.fround;
const BLOCK_BYTES = 176;
const PARAMS: ScaleMinRefParams = { nmax: 31, rmin: -0.5, nstep: 15, clampImatrixCodes: true };
const L = new Uint8Array(256);
const SC = new Uint8Array(8);
const M = new Uint8Array(8);

/** One super-block at src[xOff..] into dst[off..]; `qw[qwOff..]` its weights, or null for the reference path. */
function quantizeBlock(src: Float32Array, xOff: number, dst: Uint8Array, off: number, qw: Float32Array | null, qwOff: number): void {
  quantizeScaleMinBlock(src, xOff, qw, qwOff, PARAMS, dst, off, L);
  const qh = off + 16;
  dst.fill(0, qh, qh + 32);
  for (let c = 0; c < 4; c++) {
    const ql = off + 48 + 32 * c;
    const e = 64 * c;
    const m1 = 1 << (2 * c);
    const m2 = m1 << 1;
    for (let j = 0; j < 32; j++) {
      let l1 = L[e + j];
      let l2 = L[e + j + 32];
      if (l1 > 15) { l1 -= 16; dst[qh + j] |= m1; }
      if (l2 > 15) { l2 -= 16; dst[qh + j] |= m2; }
      dst[ql + j] = l1 | (l2 << 4);
    }
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
  for (let i = 0; i < nb; i++) {
    const off = i * BLOCK_BYTES;
    const hd = src[off] | (src[off + 1] << 8);
    const hm = src[off + 2] | (src[off + 3] << 8);
    const d = F16_TO_F32[hd];
    const dmin = F16_TO_F32[hm];
    unpackScaleMin6(src, off + 4, SC, M);
    const qh = off + 16;
    let y = i * 256;
    if (!Number.isFinite(d) || !Number.isFinite(dmin)) {
      // an Inf or NaN d or dmin: x86's results bit for bit (which NaN, 0·Inf, Inf−Inf)
      const out = new Uint32Array(dst.buffer, dst.byteOffset, n);
      for (let s = 0; s < 8; s++) {
        const dl = x86Mul(F16_TO_F32_BITS[hd], f32Bits(SC[s]));
        const ml = x86Mul(F16_TO_F32_BITS[hm], f32Bits(M[s]));
        const ql = off + 48 + 32 * (s >> 1);
        const u = 1 << s;
        for (let l = 0; l < 32; l++) {
          const q = (s & 1 ? src[ql + l] >> 4 : src[ql + l] & 15) + (src[qh + l] & u ? 16 : 0);
          out[y++] = x86Sub(x86Mul(dl, f32Bits(q)), ml);
        }
      }
      continue;
    }
    for (let c = 0; c < 4; c++) {
      const ql = off + 48 + 32 * c;
      const u1 = 1 << (2 * c);
      const u2 = u1 << 1;
      const d1 = f(d * SC[2 * c]);
      const m1 = f(dmin * M[2 * c]);
      const d2 = f(d * SC[2 * c + 1]);
      const m2 = f(dmin * M[2 * c + 1]);
      for (let l = 0; l < 32; l++) dst[y++] = f(d1 * ((src[ql + l] & 15) + (src[qh + l] & u1 ? 16 : 0))) - m1;
      for (let l = 0; l < 32; l++) dst[y++] = f(d2 * ((src[ql + l] >> 4) + (src[qh + l] & u2 ? 16 : 0))) - m2;
    }
  }
}

export const Q5_K: QuantTraits = {
  layout: typeLayout(GgmlType.Q5_K),
  imatrix: 'optional',
  quantizeRowRef,
  quantizeRowImpl,
  dequantizeRow,
  gpu: { wgsl: q5_kWgsl, libs: ['search', 'kSearch', 'kScales'] },
  gpuDequant: q5_kDequant,
};
