/**
 * Q2_0: blocks of 64 values, 18 bytes: `d` fp16 @0, `qs[16]` @2; element j is the 2-bit code q at bits
 * 2(j%4).. of qs[j/4]; value = (q − 1)·d. Reproduces `quantize_q2_0` (`quantize_row_q2_0_ref`, row by
 * row with an imatrix, which it otherwise ignores) and `dequantize_row_q2_0` of ggml-quants.c v0.5.0
 * (the spec gives only the size).
 *
 * Quantizer: d = max|x| (strict compare); id = d > 0 ? 1/d : 0; q = clamp((int)roundf(x·id) + 1, 0, 3),
 * roundf half away from zero; (int) of ±Inf/NaN (1/d overflowed) is INT_MIN, clamped to 0.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { putFp16, F16_TO_F32, F16_TO_F32_BITS, fixNaNs } from '../core/half.js';
import { cvttI32, f, roundAway } from '../core/fp32.js';
import type { QuantTraits } from './traits.js';
import q2_0Wgsl from '../../shaders/q2_0.wgsl';
import q2_0Dequant from '../../shaders/dequant/q2_0.wgsl';

const QK = 64;
const BLOCK_BYTES = 18;

export const Q2_0: QuantTraits = {
  layout: typeLayout(GgmlType.Q2_0),
  imatrix: 'ignored',
  quantizeRowRef(src, dst, n) {
    const nb = n / QK;
    for (let b = 0; b < nb; b++) {
      const x0 = b * QK;
      const o = b * BLOCK_BYTES;
      let amax = 0;
      for (let j = 0; j < QK; j++) {
        const a = Math.abs(src[x0 + j]);
        if (a > amax) amax = a;
      }
      const id = amax > 0 ? f(1 / amax) : 0;
      putFp16(dst, o, amax);
      for (let k = 0; k < 16; k++) {
        let byte = 0;
        for (let s = 0; s < 4; s++) {
          const q = cvttI32(roundAway(f(src[x0 + 4 * k + s] * id))) + 1;
          byte |= (q < 0 ? 0 : q > 3 ? 3 : q) << (2 * s);
        }
        dst[o + 2 + k] = byte;
      }
    }
  },
  dequantizeRow(src, dst, n) {
    const nb = n / QK;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      const hb = src[o] | (src[o + 1] << 8);
      const d = F16_TO_F32[hb];
      const y0 = b * QK;
      for (let j = 0; j < QK; j++) dst[y0 + j] = (((src[o + 2 + (j >> 2)] >> (2 * (j & 3))) & 3) - 1) * d;
      if (!Number.isFinite(d)) fixNaNs(dst, y0, QK, F16_TO_F32_BITS[hb]);
    }
  },
  gpu: { wgsl: q2_0Wgsl, libs: [] },
  gpuDequant: q2_0Dequant,
};
