/**
 * Q8_0: blocks of 32 values, 34 bytes (8.5 bits per weight): `d` fp16 @0, `qs[32]` int8 @2; value = d·qs.
 * Reproduces `quantize_q8_0` / `quantize_row_q8_0_ref` (the imatrix is ignored) and `dequantize_row_q8_0`;
 * spec §1.3, §2.2.2.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { putFp16, F16_TO_F32, F16_TO_F32_BITS, fixNaNs } from '../core/half.js';
import { roundAway } from '../core/fp32.js';
import type { QuantTraits } from './traits.js';
import q8_0Wgsl from '../../shaders/q8_0.wgsl';
import q8_0Dequant from '../../shaders/dequant/q8_0.wgsl';

const f = Math.fround;
const QK = 32;
const BLOCK_BYTES = 34;

export const Q8_0: QuantTraits = {
  layout: typeLayout(GgmlType.Q8_0),
  imatrix: 'ignored',
  quantizeRowRef(src, dst, n) {
    const nb = n / QK;
    for (let b = 0; b < nb; b++) {
      const x0 = b * QK;
      const o = b * BLOCK_BYTES;
      let amax = 0;
      for (let j = 0; j < QK; j++) {
        const a = Math.abs(src[x0 + j]);
        if (!(amax > a)) amax = a;
      }
      const d = f(amax / 127);
      const id = d !== 0 ? f(1 / d) : 0;
      putFp16(dst, o, d);
      // the C store into int8_t converts through a 32-bit int: Inf/NaN (tiny d) become 0, as `| 0` does
      for (let j = 0; j < QK; j++) dst[o + 2 + j] = roundAway(f(src[x0 + j] * id)) & 255;
    }
  },
  dequantizeRow(src, dst, n) {
    const nb = n / QK;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      const hb = src[o] | (src[o + 1] << 8);
      const d = F16_TO_F32[hb];
      const y0 = b * QK;
      for (let j = 0; j < QK; j++) dst[y0 + j] = ((src[o + 2 + j] << 24) >> 24) * d;
      if (!Number.isFinite(d)) fixNaNs(dst, y0, QK, F16_TO_F32_BITS[hb]);
    }
  },
  gpu: { wgsl: q8_0Wgsl, libs: [] },
  gpuDequant: q8_0Dequant,
};
