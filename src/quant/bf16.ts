/**
 * BF16: the high half of a binary32 after rounding, 2 bytes, 16 bits per weight, little-endian.
 * Reproduces `ggml_fp32_to_bf16_row_ref` (quantize: round to nearest even, NaN made quiet) and
 * `ggml_bf16_to_fp32_row` (dequantize: bits << 16); spec §2.2.1, §3.3. Works on bits so NaN payloads survive.
 */
import { GgmlType } from '../core/ggml-type.js';
import { checkDequantizeArgs, checkQuantizeArgs } from './quant-args.js';
import type { QuantImpl } from './registry.js';

export const BF16: QuantImpl = {
  type: GgmlType.BF16,
  quantize(src, dst, nrows, nPerRow, imatrix) {
    checkQuantizeArgs(GgmlType.BF16, src, dst, nrows, nPerRow, imatrix);
    const n = nrows * nPerRow;
    const bits = new Uint32Array(src.buffer, src.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const u = bits[i];
      const h = (u & 0x7fffffff) > 0x7f800000 ? (u >>> 16) | 0x40 : (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
      dst[2 * i] = h & 255;
      dst[2 * i + 1] = (h >>> 8) & 255;
    }
  },
  dequantize(src, dst, n) {
    checkDequantizeArgs(GgmlType.BF16, src, dst, n);
    const out = new Uint32Array(dst.buffer, dst.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = ((src[2 * i] << 16) | (src[2 * i + 1] << 24)) >>> 0;
  },
};
