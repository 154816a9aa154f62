/**
 * The checks llama.cpp applies to data it reads and writes (`ggml_validate_row_data`): F32/F16/BF16 values
 * and the fp16 scale fields of quantized blocks must be finite. llama-quantize aborts on a failure; we
 * report which tensor, row and column (or block) failed.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';

/** Index of the first NaN/Inf in `values`, or -1. */
export function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) return i; // NaN and ±Inf are the only values for which v - v is not 0
  }
  return -1;
}

/** Index of the first block whose fp16 scale fields (or, for F16/BF16, whose value) is Inf/NaN; -1 if none. */
export function firstInvalidBlock(type: GgmlType, data: Uint8Array): number {
  const t = typeLayout(type);
  const nb = Math.floor(data.length / t.typeSize);
  if (type === GgmlType.BF16) {
    for (let i = 0; i < nb; i++) if (((data[2 * i] | (data[2 * i + 1] << 8)) & 0x7f80) === 0x7f80) return i;
    return -1;
  }
  if (type === GgmlType.F32) {
    return firstNonFinite(new Float32Array(data.buffer, data.byteOffset, nb));
  }
  const fields = t.fp16Fields;
  for (let b = 0; b < nb; b++) {
    const base = b * t.typeSize;
    for (const off of fields) {
      if ((data[base + off + 1] & 0x7c) === 0x7c) return b; // exponent bits all ones: Inf or NaN
    }
  }
  return -1;
}
