/**
 * TQ2_0: blocks of 256 ternary values, 66 bytes: `qs[64]` @0, `d` fp16 @64; byte qs[32h + m] holds at
 * bits 2n..2n+1 the trit t of element 128h + m + 32n; value = (t − 1)·d. Reproduces `quantize_tq2_0`
 * (the imatrix is ignored) and `dequantize_row_tq2_0`; spec §1.5, §2.9.
 */
import { GgmlType, QK_K, typeLayout } from '../core/ggml-type.js';
import { F16_TO_F32, F16_TO_F32_BITS, fixNaNs } from '../core/half.js';
import { ternaryTrits } from './ternary.js';
import type { QuantTraits } from './traits.js';
import tq2_0Wgsl from '../../shaders/tq2_0.wgsl';
import tq2_0Dequant from '../../shaders/dequant/tq2_0.wgsl';

const BLOCK_BYTES = 66;
const T = new Uint8Array(QK_K);

/** Packs 256 trits into the 64 code bytes at dst[o..]. */
export function packTq2(t: Uint8Array, dst: Uint8Array, o: number): void {
  for (let h = 0; h < 2; h++) {
    for (let m = 0; m < 32; m++) {
      const e = 128 * h + m;
      dst[o + 32 * h + m] = t[e] | (t[e + 32] << 2) | (t[e + 64] << 4) | (t[e + 96] << 6);
    }
  }
}

export const TQ2_0: QuantTraits = {
  layout: typeLayout(GgmlType.TQ2_0),
  imatrix: 'ignored',
  quantizeRowRef(src, dst, n) {
    const nb = n / QK_K;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      ternaryTrits(src, b * QK_K, T, dst, o + 64);
      packTq2(T, dst, o);
    }
  },
  dequantizeRow(src, dst, n) {
    const nb = n / QK_K;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      const hb = src[o + 64] | (src[o + 65] << 8);
      const d = F16_TO_F32[hb];
      const y0 = b * QK_K;
      for (let h = 0; h < 2; h++) {
        for (let n4 = 0; n4 < 4; n4++) {
          for (let m = 0; m < 32; m++) {
            dst[y0 + 128 * h + 32 * n4 + m] = (((src[o + 32 * h + m] >> (2 * n4)) & 3) - 1) * d;
          }
        }
      }
      if (!Number.isFinite(d)) fixNaNs(dst, y0, QK_K, F16_TO_F32_BITS[hb]);
    }
  },
  gpu: { wgsl: tq2_0Wgsl, libs: ['ternary'] },
  gpuDequant: tq2_0Dequant,
};
