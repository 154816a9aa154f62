/**
 * Q4_K — 256 values in 144 bytes (4.5 bits per weight): d fp16 @0, dmin fp16 @2, scales[12] @4
 * (eight 6-bit scale/min pairs, see k-scales.ts), qs[128] @16 (4-bit codes; in each 64-value chunk c,
 * element r < 32 is the low nibble of qs[32c + r], element r ≥ 32 the high nibble of qs[32c + r − 32]).
 * Reproduces ggml's `quantize_q4_K` (reference `quantize_row_q4_K_ref`, imatrix `quantize_row_q4_K_impl`)
 * and `dequantize_row_q4_K`; spec §1.4, §2.4.3.
 */
import { F16_TO_F32, F16_TO_F32_BITS } from '../core/half.js';
import { f32Bits, x86Mul, x86Sub } from '../core/fp32.js';
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import type { QuantTraits } from './traits.js';
import q4_kWgsl from '../../shaders/q4_k.wgsl';
import q4_kDequant from '../../shaders/dequant/q4_k.wgsl';
import { quantizeScaleMinBlock, unpackScaleMin6, type ScaleMinRefParams } from './k-scales.js';

const f = Math.fround;
const BLOCK_BYTES = 144;
const PARAMS: ScaleMinRefParams = { nmax: 15, rmin: -1, nstep: 20, clampImatrixCodes: false };
const L = new Uint8Array(256);
const SC = new Uint8Array(8);
const M = new Uint8Array(8);

/** One super-block at src[xOff..] into dst[off..]; `qw[qwOff..]` its weights, or null for the reference path. */
function quantizeBlock(src: Float32Array, xOff: number, dst: Uint8Array, off: number, qw: Float32Array | null, qwOff: number): void {
  quantizeScaleMinBlock(src, xOff, qw, qwOff, PARAMS, dst, off, L);
  for (let c = 0; c < 4; c++) {
    const q = off + 16 + 32 * c;
    const e = 64 * c;
    for (let l = 0; l < 32; l++) dst[q + l] = L[e + l] | (L[e + l + 32] << 4);
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
    let y = i * 256;
    if (!Number.isFinite(d) || !Number.isFinite(dmin)) {
      // an Inf or NaN d or dmin: x86's results bit for bit (which NaN, 0·Inf, Inf−Inf)
      const out = new Uint32Array(dst.buffer, dst.byteOffset, n);
      for (let s = 0; s < 8; s++) {
        const dl = x86Mul(F16_TO_F32_BITS[hd], f32Bits(SC[s]));
        const ml = x86Mul(F16_TO_F32_BITS[hm], f32Bits(M[s]));
        const q = off + 16 + 32 * (s >> 1);
        for (let l = 0; l < 32; l++) out[y++] = x86Sub(x86Mul(dl, f32Bits(s & 1 ? src[q + l] >> 4 : src[q + l] & 15)), ml);
      }
      continue;
    }
    for (let c = 0; c < 4; c++) {
      const q = off + 16 + 32 * c;
      const d1 = f(d * SC[2 * c]);
      const m1 = f(dmin * M[2 * c]);
      const d2 = f(d * SC[2 * c + 1]);
      const m2 = f(dmin * M[2 * c + 1]);
      for (let l = 0; l < 32; l++) dst[y++] = f(d1 * (src[q + l] & 15)) - m1;
      for (let l = 0; l < 32; l++) dst[y++] = f(d2 * (src[q + l] >> 4)) - m2;
    }
  }
}

export const Q4_K: QuantTraits = {
  layout: typeLayout(GgmlType.Q4_K),
  imatrix: 'optional',
  quantizeRowRef,
  quantizeRowImpl,
  dequantizeRow,
  gpu: { wgsl: q4_kWgsl, libs: ['search', 'kSearch', 'kScales'] },
  gpuDequant: q4_kDequant,
};
