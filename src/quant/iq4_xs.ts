/**
 * IQ4_XS: super-blocks of 256 values, 136 bytes: `d` fp16 @0, `scales_h` u16 @2, `scales_l[4]` @4,
 * `qs[128]` @8; eight 32-blocks with 6-bit scales ls (stored +32); value = d·(ls − 32)·kvalues_iq4nl[q].
 * Reproduces `quantize_iq4_xs` (quantize_row_iq4_nl_impl with super-block 256, ntry 7, with or without
 * imatrix) and `dequantize_row_iq4_xs`; spec §1.5, §2.5.
 */
import { GgmlType, QK_K, typeLayout } from '../core/ggml-type.js';
import { putFp16, F16_TO_F32, F16_TO_F32_BITS, fixNaNs } from '../core/half.js';
import { f, nearestInt } from '../core/fp32.js';
import { KVALUES_IQ4NL, iq4BlockScale, iq4PackCodes, iq4Sigma2, iq4Weights } from './iq4-search.js';
import type { QuantTraits } from './traits.js';
import iq4_xsWgsl from '../../shaders/iq4_xs.wgsl';
import iq4_xsDequant from '../../shaders/dequant/iq4_xs.wgsl';

const BLOCK_BYTES = 136;
const NSUB = QK_K / 32;
const W = new Float32Array(32);
const SCALES = new Float64Array(NSUB);

/** The 6-bit scale codes and nibbles of one super-block from its eight 32-block scales (spec §2.5 step 3). */
export function iq4XsPack(x: Float32Array, x0: number, scales: ArrayLike<number>, dst: Uint8Array, o: number): void {
  let amaxScale = 0;
  let maxScale = 0;
  for (let ib = 0; ib < NSUB; ib++) {
    const a = Math.abs(scales[ib]);
    if (a > amaxScale) { amaxScale = a; maxScale = scales[ib]; }
  }
  const d = f(-maxScale / 32);
  putFp16(dst, o, d);
  const id = d !== 0 ? f(1 / d) : 0;
  let scalesH = 0;
  for (let ib = 0; ib < NSUB; ib++) {
    const l = Math.max(-32, Math.min(31, nearestInt(f(id * scales[ib]))));
    const dl = f(d * l);
    iq4PackCodes(x, x0 + 32 * ib, dl !== 0 ? f(1 / dl) : 0, dst, o + 8 + 16 * ib);
    const code = l + 32;
    if (ib % 2 === 0) dst[o + 4 + (ib >> 1)] = code & 15;
    else dst[o + 4 + (ib >> 1)] |= (code & 15) << 4;
    scalesH |= (code >> 4) << (2 * ib);
  }
  dst[o + 2] = scalesH & 255;
  dst[o + 3] = scalesH >>> 8;
}

export const IQ4_XS: QuantTraits = {
  layout: typeLayout(GgmlType.IQ4_XS),
  // one routine with or without weights (quantize_row_iq4_xs_ref is quantize_iq4_xs without an imatrix)
  imatrix: 'optional',
  quantizeRowImpl(src, dst, nPerRow, imatrix) {
    const nb = nPerRow / QK_K;
    for (let ibl = 0; ibl < nb; ibl++) {
      const x0 = ibl * QK_K;
      const sigma2 = imatrix ? iq4Sigma2(src, x0, QK_K) : 0;
      for (let ib = 0; ib < NSUB; ib++) {
        iq4Weights(src, x0 + 32 * ib, imatrix, x0 + 32 * ib, sigma2, W);
        SCALES[ib] = iq4BlockScale(src, x0 + 32 * ib, W);
      }
      iq4XsPack(src, x0, SCALES, dst, ibl * BLOCK_BYTES);
    }
  },
  dequantizeRow(src, dst, n) {
    const nb = n / QK_K;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      const hb = src[o] | (src[o + 1] << 8);
      const d = F16_TO_F32[hb];
      const scalesH = src[o + 2] | (src[o + 3] << 8);
      for (let ib = 0; ib < NSUB; ib++) {
        const ls = ((src[o + 4 + (ib >> 1)] >> (4 * (ib % 2))) & 15) | (((scalesH >> (2 * ib)) & 3) << 4);
        const dl = f(d * (ls - 32));
        const y0 = b * QK_K + 32 * ib;
        const q0 = o + 8 + 16 * ib;
        for (let j = 0; j < 16; j++) {
          const q = src[q0 + j];
          dst[y0 + j] = dl * KVALUES_IQ4NL[q & 15];
          dst[y0 + 16 + j] = dl * KVALUES_IQ4NL[q >> 4];
        }
      }
      if (!Number.isFinite(d)) fixNaNs(dst, b * QK_K, QK_K, F16_TO_F32_BITS[hb]);
    }
  },
  gpu: { wgsl: iq4_xsWgsl, libs: ['iq4Search'] },
  gpuDequant: iq4_xsDequant,
};
