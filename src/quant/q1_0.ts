/**
 * Q1_0: blocks of 128 values, 18 bytes: `d` fp16 @0, `qs[16]` @2; bit j%8 of qs[j/8] set means +d, clear
 * means −d. Reproduces `quantize_q1_0` (`quantize_row_q1_0_ref`, row by row with an imatrix, which it
 * otherwise ignores) and `dequantize_row_q1_0` of ggml-quants.c v0.5.0 (the spec gives only the size).
 *
 * Quantizer: d = (Σ|x|, sequential binary32) ÷ 128; the bit of element j is x_j ≥ 0 (so −0 gives +d).
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { putFp16, F16_TO_F32_BITS } from '../core/half.js';
import { f } from '../core/fp32.js';
import type { QuantTraits } from './traits.js';
import q1_0Wgsl from '../../shaders/q1_0.wgsl';
import q1_0Dequant from '../../shaders/dequant/q1_0.wgsl';

const QK = 128;
const BLOCK_BYTES = 18;

export const Q1_0: QuantTraits = {
  layout: typeLayout(GgmlType.Q1_0),
  imatrix: 'ignored',
  quantizeRowRef(src, dst, n) {
    const nb = n / QK;
    for (let b = 0; b < nb; b++) {
      const x0 = b * QK;
      const o = b * BLOCK_BYTES;
      let sumAbs = 0;
      for (let j = 0; j < QK; j++) sumAbs = f(sumAbs + Math.abs(src[x0 + j]));
      putFp16(dst, o, f(sumAbs / QK));
      for (let k = 0; k < 16; k++) {
        let byte = 0;
        for (let bit = 0; bit < 8; bit++) if (src[x0 + 8 * k + bit] >= 0) byte |= 1 << bit;
        dst[o + 2 + k] = byte;
      }
    }
  },
  dequantizeRow(src, dst, n) {
    // works on bits: `bit ? d : −d` is a sign flip, which a NaN scale keeps (payload and all)
    const out = new Uint32Array(dst.buffer, dst.byteOffset, n);
    const nb = n / QK;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      const dBits = F16_TO_F32_BITS[src[o] | (src[o + 1] << 8)];
      const negBits = (dBits ^ 0x80000000) >>> 0;
      for (let j = 0; j < QK; j++) out[b * QK + j] = (src[o + 2 + (j >> 3)] >> (j & 7)) & 1 ? dBits : negBits;
    }
  },
  gpu: { wgsl: q1_0Wgsl, libs: [] },
  gpuDequant: q1_0Dequant,
};
