/**
 * Q4_0: blocks of 32 values, 18 bytes (4.5 bits per weight): `d` fp16 @0, `qs[16]` @2 where element j is
 * the low nibble of qs[j] and element j+16 its high nibble; value = d·(q − 8).
 * Reproduces `quantize_q4_0` (`quantize_row_q4_0_ref` without imatrix, `quantize_row_q4_0_impl` with one)
 * and `dequantize_row_q4_0`; spec §1.3, §2.2.3.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { blockWeights, rowSigma2 } from './legacy-imatrix.js';
import { putFp16, F16_TO_F32, F16_TO_F32_BITS, fixNaNs } from '../core/half.js';
import { i8Trunc } from '../core/fp32.js';
import { makeQxQuants, signedAbsMax } from './solvers-symmetric.js';
import type { QuantTraits } from './traits.js';
import q4_0Wgsl from '../../shaders/q4_0.wgsl';
import q4_0Dequant from '../../shaders/dequant/q4_0.wgsl';

const f = Math.fround;
const QK = 32;
const BLOCK_BYTES = 18;
const F_8_5 = 8.5;

const L = new Uint8Array(QK);
const WEIGHT = new Float32Array(QK);


function quantizeRowRef(src: Float32Array, dst: Uint8Array, n: number): void {
  const nb = n / QK;
  for (let b = 0; b < nb; b++) {
    const x0 = b * QK;
    const o = b * BLOCK_BYTES;
    const max = signedAbsMax(src, x0, QK);
    const d = f(max / -8);
    const id = d !== 0 ? f(1 / d) : 0;
    putFp16(dst, o, d);
    for (let j = 0; j < 16; j++) {
      const lo = Math.min(15, i8Trunc(f(f(src[x0 + j] * id) + F_8_5)));
      const hi = Math.min(15, i8Trunc(f(f(src[x0 + 16 + j] * id) + F_8_5)));
      dst[o + 2 + j] = (lo & 255) | (hi << 4);
    }
  }
}

function quantizeRowImpl(src: Float32Array, dst: Uint8Array, nPerRow: number, qw: Float32Array): void {
  const nb = nPerRow / QK;
  const sigma2 = rowSigma2(src, 0, nPerRow);
  for (let ib = 0; ib < nb; ib++) {
    const x0 = ib * QK;
    const o = ib * BLOCK_BYTES;
    blockWeights(src, x0, qw, ib * QK, sigma2, WEIGHT);
    const d = makeQxQuants(QK, 8, src, x0, L, 0, WEIGHT, 0);
    putFp16(dst, o, d);
    for (let j = 0; j < 16; j++) dst[o + 2 + j] = L[j] | (L[j + 16] << 4);
  }
}

export const Q4_0: QuantTraits = {
  layout: typeLayout(GgmlType.Q4_0),
  imatrix: 'optional',
  quantizeRowRef,
  quantizeRowImpl,
  dequantizeRow(src, dst, n) {
    const nb = n / QK;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      const hb = src[o] | (src[o + 1] << 8);
      const d = F16_TO_F32[hb];
      const y0 = b * QK;
      for (let j = 0; j < 16; j++) {
        const q = src[o + 2 + j];
        dst[y0 + j] = ((q & 15) - 8) * d;
        dst[y0 + 16 + j] = ((q >> 4) - 8) * d;
      }
      if (!Number.isFinite(d)) fixNaNs(dst, y0, QK, F16_TO_F32_BITS[hb]);
    }
  },
  gpu: { wgsl: q4_0Wgsl, libs: ['rowStats', 'search'] },
  gpuDequant: q4_0Dequant,
};
