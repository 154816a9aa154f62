/**
 * IQ4_NL: blocks of 32 values, 18 bytes: `d` fp16 @0, `qs[16]` @2 (nibbles as Q4_0);
 * value = d·kvalues_iq4nl[q]. Reproduces `quantize_iq4_nl` (one routine, with or without imatrix:
 * quantize_row_iq4_nl_impl with super-block 32, ntry 7) and `dequantize_row_iq4_nl`; spec §1.5, §2.5.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { putFp16, F16_TO_F32, F16_TO_F32_BITS, fixNaNs } from '../core/half.js';
import { f } from '../core/fp32.js';
import { KVALUES_IQ4NL, iq4BlockScale, iq4PackCodes, iq4Sigma2, iq4Weights } from './iq4-search.js';
import type { QuantTraits } from './traits.js';
import iq4_nlWgsl from '../../shaders/iq4_nl.wgsl';
import iq4_nlDequant from '../../shaders/dequant/iq4_nl.wgsl';

const QK = 32;
const BLOCK_BYTES = 18;
const W = new Float32Array(QK);

export const IQ4_NL: QuantTraits = {
  layout: typeLayout(GgmlType.IQ4_NL),
  // one routine with or without weights (quantize_row_iq4_nl_ref, ntry -1, is not what ggml_quantize_chunk runs)
  imatrix: 'optional',
  quantizeRowImpl(src, dst, nPerRow, imatrix) {
    const nb = nPerRow / QK;
    for (let ib = 0; ib < nb; ib++) {
      const x0 = ib * QK;
      const o = ib * BLOCK_BYTES;
      const sigma2 = imatrix ? iq4Sigma2(src, x0, QK) : 0;
      iq4Weights(src, x0, imatrix, ib * QK, sigma2, W);
      const d = iq4BlockScale(src, x0, W);
      putFp16(dst, o, d);
      iq4PackCodes(src, x0, d !== 0 ? f(1 / d) : 0, dst, o + 2);
    }
  },
  dequantizeRow(src, dst, n) {
    const nb = n / QK;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      const hb = src[o] | (src[o + 1] << 8);
      const d = F16_TO_F32[hb];
      const y0 = b * QK;
      for (let j = 0; j < 16; j++) {
        const q = src[o + 2 + j];
        dst[y0 + j] = d * KVALUES_IQ4NL[q & 15];
        dst[y0 + 16 + j] = d * KVALUES_IQ4NL[q >> 4];
      }
      if (!Number.isFinite(d)) fixNaNs(dst, y0, QK, F16_TO_F32_BITS[hb]);
    }
  },
  gpu: { wgsl: iq4_nlWgsl, libs: ['iq4Search'] },
  gpuDequant: iq4_nlDequant,
};
