/**
 * F16: one IEEE binary16 per value, 2 bytes, 16 bits per weight, little-endian.
 * Reproduces `ggml_fp32_to_fp16_row` (quantize) and `ggml_fp16_to_fp32_row` (dequantize); spec §2.2.1, §3.3.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { F16_TO_F32_BITS, fp32ToFp16 } from '../core/half.js';
import type { QuantTraits } from './traits.js';
import f16Wgsl from '../../shaders/f16.wgsl';
import f16Dequant from '../../shaders/dequant/f16.wgsl';

export const F16: QuantTraits = {
  layout: typeLayout(GgmlType.F16),
  imatrix: 'ignored',
  quantizeRowRef(src, dst, n) {
    // works on bits: NaN signs are lost when a Float32Array element becomes a JS number, and the
    // common normal-range case is a few integer operations (the rest goes to the shared converter)
    const bits = new Uint32Array(src.buffer, src.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const b = bits[i];
      const a = b & 0x7fffffff;
      let h: number;
      if (a >= 0x38800000 && a < 0x477ff000) {
        h = (a >>> 13) - (112 << 10);
        const r = a & 0x1fff;
        if (r > 0x1000 || (r === 0x1000 && (h & 1) === 1)) h++;
        h |= (b >>> 16) & 0x8000;
      } else if (a > 0x7f800000) {
        h = ((b >>> 16) & 0x8000) | 0x7e00;
      } else {
        h = fp32ToFp16(src[i]);
      }
      dst[2 * i] = h & 255;
      dst[2 * i + 1] = h >>> 8;
    }
  },
  dequantizeRow(src, dst, n) {
    const out = new Uint32Array(dst.buffer, dst.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = F16_TO_F32_BITS[src[2 * i] | (src[2 * i + 1] << 8)];
  },
  gpu: { wgsl: f16Wgsl, libs: [] },
  gpuDequant: f16Dequant,
};
