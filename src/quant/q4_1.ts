/**
 * Q4_1 — 32 values in 20 bytes (5 bits per weight): d fp16 @0, m fp16 @2, qs[16] @4 (element j is the
 * low nibble of qs[j], element j+16 the high nibble); value = d·q + m.
 * Reproduces ggml's `quantize_q4_1` (reference `quantize_row_q4_1_ref`, imatrix `quantize_row_q4_1_impl`)
 * and `dequantize_row_q4_1`; spec §1.3, §2.2.4.
 */
import { putFp16 } from '../core/half.js';
import { cvttI32 } from '../core/fp32.js';
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { blockWeights, rowSigma2 } from './legacy-imatrix.js';
import { DeltaMin } from './delta-min.js';
import type { QuantTraits } from './traits.js';
import q4_1Wgsl from '../../shaders/q4_1.wgsl';
import q4_1Dequant from '../../shaders/dequant/q4_1.wgsl';
import { makeQkx3Quants } from './solvers-asymmetric.js';

const f = Math.fround;
const BLOCK_BYTES = 20;
const F_M0_9 = f(-0.9);
const F_0_05 = f(0.05);
const FLT_MAX = 3.4028234663852886e38;
const L = new Uint8Array(32);
const W = new Float32Array(32);
const MIN = new Float32Array(1);

function putHeader(dst: Uint8Array, off: number, d: number, m: number): void {
  putFp16(dst, off, d);
  putFp16(dst, off + 2, m);
}

/** `quantize_row_q4_1_ref`: min/max of the block, codes from the un-rounded 1/d, truncated after +0.5. */
function blockRef(x: Float32Array, xOff: number, dst: Uint8Array, off: number): void {
  let min = FLT_MAX;
  let max = -FLT_MAX;
  for (let i = 0; i < 32; i++) {
    const v = x[xOff + i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const d = f(f(max - min) / 15);
  const id = d ? f(1 / d) : 0;
  putHeader(dst, off, d, min);
  for (let j = 0; j < 16; j++) {
    // MIN(15, (int8_t)v): the signed byte is compared, then stored as an unsigned nibble pair
    const q0 = (cvttI32(f(f(f(x[xOff + j] - min) * id) + 0.5)) << 24) >> 24;
    const q1 = (cvttI32(f(f(f(x[xOff + j + 16] - min) * id) + 0.5)) << 24) >> 24;
    dst[off + 4 + j] = ((q0 < 15 ? q0 : 15) & 255) | ((q1 < 15 ? q1 : 15) << 4);
  }
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
    const d = makeQkx3Quants(32, 15, src, xo, W, 0, L, 0, F_M0_9, F_0_05, 36, false, MIN, 0);
    const off = ib * BLOCK_BYTES;
    putHeader(dst, off, d, -MIN[0]);
    for (let j = 0; j < 16; j++) dst[off + 4 + j] = L[j] | (L[j + 16] << 4);
  }
}

function dequantizeRow(src: Uint8Array, dst: Float32Array, n: number): void {
  const nb = n / 32;
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, n);
  const h = new DeltaMin();
  for (let i = 0; i < nb; i++) {
    const off = i * BLOCK_BYTES;
    h.read(src, off);
    const y = i * 32;
    for (let j = 0; j < 16; j++) {
      const q = src[off + 4 + j];
      h.put(dst, bits, y + j, q & 15);
      h.put(dst, bits, y + j + 16, q >> 4);
    }
  }
}

export const Q4_1: QuantTraits = {
  layout: typeLayout(GgmlType.Q4_1),
  imatrix: 'optional',
  quantizeRowRef,
  quantizeRowImpl,
  dequantizeRow,
  gpu: { wgsl: q4_1Wgsl, libs: ['rowStats', 'search'] },
  gpuDequant: q4_1Dequant,
};
