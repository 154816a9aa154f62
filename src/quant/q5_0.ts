/**
 * Q5_0: blocks of 32 values, 22 bytes (5.5 bits per weight): `d` fp16 @0, `qh` u32 LE @2 (bit e = 5th bit
 * of element e), `qs[16]` @6 (low nibbles, element j low / j+16 high nibble of qs[j]); value = d·(q − 16).
 * Reproduces `quantize_q5_0` (`quantize_row_q5_0_ref` without imatrix, `quantize_row_q5_0_impl` with one)
 * and `dequantize_row_q5_0`; spec §1.3, §2.2.5.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { putFp16, F16_TO_F32, F16_TO_F32_BITS, fixNaNs } from '../core/half.js';
import { i8Trunc } from '../core/fp32.js';
import { makeQxQuants, signedAbsMax } from './solvers-symmetric.js';
import { blockWeights, rowSigma2 } from './legacy-imatrix.js';
import type { QuantTraits } from './traits.js';
import q5_0Wgsl from '../../shaders/q5_0.wgsl';
import q5_0Dequant from '../../shaders/dequant/q5_0.wgsl';

const f = Math.fround;
const QK = 32;
const BLOCK_BYTES = 22;
const F_16_5 = 16.5;

const L = new Uint8Array(QK);
const WEIGHT = new Float32Array(QK);

/** Packs 32 codes (0..255, only the low 5 bits used) into the qh/qs fields of the block at `o`. */
function pack(dst: Uint8Array, o: number, codes: ArrayLike<number>): void {
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const lo = codes[j];
    const hi = codes[j + 16];
    dst[o + 6 + j] = (lo & 15) | ((hi & 15) << 4);
    qh |= ((lo >> 4) & 1) << j;
    qh |= ((hi >> 4) & 1) << (j + 16);
  }
  dst[o + 2] = qh & 255;
  dst[o + 3] = (qh >>> 8) & 255;
  dst[o + 4] = (qh >>> 16) & 255;
  dst[o + 5] = qh >>> 24;
}

function quantizeRowRef(src: Float32Array, dst: Uint8Array, n: number): void {
  const nb = n / QK;
  for (let b = 0; b < nb; b++) {
    const x0 = b * QK;
    const o = b * BLOCK_BYTES;
    const max = signedAbsMax(src, x0, QK);
    const d = f(max / -16);
    const id = d !== 0 ? f(1 / d) : 0;
    putFp16(dst, o, d);
    for (let j = 0; j < QK; j++) {
      // (int8_t) through a 32-bit int, MIN(31, ·), then a uint8_t store
      L[j] = Math.min(31, i8Trunc(f(f(src[x0 + j] * id) + F_16_5))) & 255;
    }
    pack(dst, o, L);
  }
}

function quantizeRowImpl(src: Float32Array, dst: Uint8Array, nPerRow: number, qw: Float32Array): void {
  const nb = nPerRow / QK;
  const sigma2 = rowSigma2(src, 0, nPerRow);
  for (let ib = 0; ib < nb; ib++) {
    const x0 = ib * QK;
    const o = ib * BLOCK_BYTES;
    blockWeights(src, x0, qw, ib * QK, sigma2, WEIGHT);
    const d = makeQxQuants(QK, 16, src, x0, L, 0, WEIGHT, 0);
    putFp16(dst, o, d);
    pack(dst, o, L);
  }
}

export const Q5_0: QuantTraits = {
  layout: typeLayout(GgmlType.Q5_0),
  imatrix: 'optional',
  quantizeRowRef,
  quantizeRowImpl,
  dequantizeRow(src, dst, n) {
    const nb = n / QK;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      const hb = src[o] | (src[o + 1] << 8);
      const d = F16_TO_F32[hb];
      const qh = src[o + 2] | (src[o + 3] << 8) | (src[o + 4] << 16) | (src[o + 5] << 24);
      const y0 = b * QK;
      for (let j = 0; j < 16; j++) {
        const q = src[o + 6 + j];
        dst[y0 + j] = (((q & 15) | (((qh >>> j) << 4) & 16)) - 16) * d;
        dst[y0 + 16 + j] = (((q >> 4) | ((qh >>> (j + 12)) & 16)) - 16) * d;
      }
      if (!Number.isFinite(d)) fixNaNs(dst, y0, QK, F16_TO_F32_BITS[hb]);
    }
  },
  gpu: { wgsl: q5_0Wgsl, libs: ['rowStats', 'search'] },
  gpuDequant: q5_0Dequant,
};
