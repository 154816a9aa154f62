/**
 * F16: one IEEE binary16 per value, 2 bytes, 16 bits per weight, little-endian.
 * Reproduces `ggml_fp32_to_fp16_row` (quantize) and `ggml_fp16_to_fp32_row` (dequantize); spec §2.2.1, §3.3.
 * Also home of the fp16 -> fp32 table every block dequantizer reads its scales through, and of the
 * x86 NaN rule those dequantizers need when a stored scale is Inf or NaN.
 */
import { GgmlType } from './ggml-type.js';
import { fp16ToFp32, fp32ToFp16 } from '../formats/half.js';
import { checkDequantizeArgs, checkQuantizeArgs } from './quant-args.js';
import type { QuantImpl } from './registry.js';

/**
 * Binary32 bits of every binary16 value as ggml widens it: exact for numbers; a NaN keeps its sign and
 * payload and comes out quiet, because ggml's converter ends with a float multiply.
 */
export const F16_TO_F32_BITS = new Uint32Array(65536);
/** The same table read as floats (NaN entries lose their payload when read into a JS number). */
export const F16_TO_F32 = new Float32Array(F16_TO_F32_BITS.buffer);
for (let h = 0; h < 65536; h++) {
  if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) {
    F16_TO_F32_BITS[h] = ((h & 0x8000) << 16) | 0x7fc00000 | ((h & 0x3ff) << 13);
  } else {
    F16_TO_F32[h] = fp16ToFp32(h);
  }
}

/** The quiet NaN an x86 SSE multiply returns for 0·Inf. */
const X86_DEFAULT_NAN = 0xffc00000;

/**
 * After a block was dequantized with a non-finite scale (`dBits`, binary32 bits), give its NaN outputs
 * the bits x86 produces: the NaN operand's own bits when the scale is NaN, else the default NaN (0·Inf).
 * Only rare, corrupt or overflowed blocks take this path.
 */
export function fixNaNs(dst: Float32Array, start: number, count: number, dBits: number): void {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset + start * 4, count);
  const nanBits = (dBits & 0x7fffffff) > 0x7f800000 ? dBits : X86_DEFAULT_NAN;
  for (let i = 0; i < count; i++) if (dst[start + i] !== dst[start + i]) bits[i] = nanBits;
}

export const F16: QuantImpl = {
  type: GgmlType.F16,
  quantize(src, dst, nrows, nPerRow, imatrix) {
    checkQuantizeArgs(GgmlType.F16, src, dst, nrows, nPerRow, imatrix);
    const n = nrows * nPerRow;
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
  dequantize(src, dst, n) {
    checkDequantizeArgs(GgmlType.F16, src, dst, n);
    const out = new Uint32Array(dst.buffer, dst.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = F16_TO_F32_BITS[src[2 * i] | (src[2 * i + 1] << 8)];
  },
};
