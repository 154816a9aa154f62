/**
 * BF16: the high half of a binary32 after rounding, 2 bytes, 16 bits per weight, little-endian.
 * Reproduces `ggml_fp32_to_bf16_row_ref` (quantize: round to nearest even, NaN made quiet) and
 * `ggml_bf16_to_fp32_row` (dequantize: bits << 16); spec §2.2.1, §3.3. Works on bits so NaN payloads survive.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import type { QuantTraits } from './traits.js';
import bf16Wgsl from '../../shaders/bf16.wgsl';
import bf16Dequant from '../../shaders/dequant/bf16.wgsl';

export const BF16: QuantTraits = {
  layout: typeLayout(GgmlType.BF16),
  imatrix: 'ignored',
  quantizeRowRef(src, dst, n) {
    const bits = new Uint32Array(src.buffer, src.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const u = bits[i];
      const h = (u & 0x7fffffff) > 0x7f800000 ? (u >>> 16) | 0x40 : (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
      dst[2 * i] = h & 255;
      dst[2 * i + 1] = (h >>> 8) & 255;
    }
  },
  dequantizeRow(src, dst, n) {
    const out = new Uint32Array(dst.buffer, dst.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = ((src[2 * i] << 16) | (src[2 * i + 1] << 24)) >>> 0;
  },
  gpu: { wgsl: bf16Wgsl, libs: [] },
  gpuDequant: bf16Dequant,
};
