/**
 * Q5_1 — 32 values in 24 bytes (6 bits per weight): d fp16 @0, m fp16 @2, qh u32 LE @4 (bit e = 5th
 * bit of element e), qs[16] @8 (low nibbles: element j in the low, j+16 in the high nibble of qs[j]);
 * value = d·q + m. Reproduces ggml's `quantize_q5_1` (reference `quantize_row_q5_1_ref`, imatrix
 * `quantize_row_q5_1_impl`) and `dequantize_row_q5_1`; spec §1.3, §2.2.6.
 */
import { putFp16 } from '../core/half.js';
import { cvttI32 } from '../core/fp32.js';
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { blockWeights, rowSigma2 } from './legacy-imatrix.js';
import { DeltaMin } from './delta-min.js';
import type { QuantTraits } from './traits.js';
import q5_1Wgsl from '../../shaders/q5_1.wgsl';
import q5_1Dequant from '../../shaders/dequant/q5_1.wgsl';
import { makeQkx3Quants } from './solvers-asymmetric.js';

const f = Math.fround;
const BLOCK_BYTES = 24;
const F_M0_9 = f(-0.9);
const F_0_05 = f(0.05);
const FLT_MAX = 3.4028234663852886e38;
const L = new Uint8Array(32);
const W = new Float32Array(32);
const MIN = new Float32Array(1);

/** Header and the 5-bit codes in L[0..32) into the block at `off`. */
function putBlock(dst: Uint8Array, off: number, d: number, m: number): void {
  putFp16(dst, off, d);
  putFp16(dst, off + 2, m);
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const q0 = L[j];
    const q1 = L[j + 16];
    dst[off + 8 + j] = (q0 & 15) | ((q1 & 15) << 4);
    qh |= ((q0 >> 4) & 1) << j;
    qh |= ((q1 >> 4) & 1) << (j + 16);
  }
  dst[off + 4] = qh & 255;
  dst[off + 5] = (qh >>> 8) & 255;
  dst[off + 6] = (qh >>> 16) & 255;
  dst[off + 7] = qh >>> 24;
}

/** `quantize_row_q5_1_ref`: as Q4_1's, with no clamp of the truncated code (C converts straight to a byte). */
function blockRef(x: Float32Array, xOff: number, dst: Uint8Array, off: number): void {
  let min = FLT_MAX;
  let max = -FLT_MAX;
  for (let i = 0; i < 32; i++) {
    const v = x[xOff + i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const d = f(f(max - min) / 31);
  const id = d ? f(1 / d) : 0;
  for (let i = 0; i < 32; i++) L[i] = cvttI32(f(f(f(x[xOff + i] - min) * id) + 0.5)) & 255;
  putBlock(dst, off, d, min);
}

function quantizeRowRef(src: Float32Array, dst: Uint8Array, n: number): void {
  for (let b = 0; b < n / 32; b++) blockRef(src, b * 32, dst, b * BLOCK_BYTES);
}

function quantizeRowImpl(src: Float32Array, dst: Uint8Array, nPerRow: number, imatrix: Float32Array): void {
  const nb = nPerRow / 32;
  const sigma2 = rowSigma2(src, 0, nPerRow);
  for (let ib = 0; ib < nb; ib++) {
    const xo = 32 * ib;
    blockWeights(src, xo, imatrix, 32 * ib, sigma2, W);
    const d = makeQkx3Quants(32, 31, src, xo, W, 0, L, 0, F_M0_9, F_0_05, 36, false, MIN, 0);
    putBlock(dst, ib * BLOCK_BYTES, d, -MIN[0]);
  }
}

function dequantizeRow(src: Uint8Array, dst: Float32Array, n: number): void {
  const nb = n / 32;
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, n);
  const h = new DeltaMin();
  for (let i = 0; i < nb; i++) {
    const off = i * BLOCK_BYTES;
    h.read(src, off);
    const qh = src[off + 4] | (src[off + 5] << 8) | (src[off + 6] << 16) | (src[off + 7] << 24);
    const y = i * 32;
    for (let j = 0; j < 16; j++) {
      const q = src[off + 8 + j];
      h.put(dst, bits, y + j, (q & 15) | (((qh >> j) << 4) & 16));
      h.put(dst, bits, y + j + 16, (q >> 4) | ((qh >> (j + 12)) & 16));
    }
  }
}

export const Q5_1: QuantTraits = {
  layout: typeLayout(GgmlType.Q5_1),
  imatrix: 'optional',
  quantizeRowRef,
  quantizeRowImpl,
  dequantizeRow,
  gpu: { wgsl: q5_1Wgsl, libs: ['rowStats', 'search'] },
  gpuDequant: q5_1Dequant,
};
