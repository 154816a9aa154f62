/**
 * Rows of a tensor as the file stores them (F32, F16 or BF16), and the one check and widening both
 * backends apply to them: the CPU path widens on the host (storedToF32); the GPU path uploads the stored
 * bytes and widens and checks on the device (shaders/lib/convert.wgsl), reporting a bad value with
 * nonFiniteError so that both paths fail with the same one line.
 */
import { InvalidWeightsError } from '../errors.js';
import { GgmlType } from '../core/ggml-type.js';
import { toFloat32 } from '../formats/gguf-model.js';
import { firstNonFinite } from '../quant/validate.js';

export type StoredFloatType = GgmlType.F32 | GgmlType.F16 | GgmlType.BF16;

export interface StoredRows {
  type: StoredFloatType;
  /** whole rows, as read from the file */
  bytes: Uint8Array;
  /** the tensor row of the first row in `bytes` (for error messages) */
  firstRow: number;
  /** the file the rows come from (for error messages) */
  file?: string;
}

export function isStoredFloat(type: GgmlType): type is StoredFloatType {
  return type === GgmlType.F32 || type === GgmlType.F16 || type === GgmlType.BF16;
}

export const storedValueBytes = (type: StoredFloatType): number => (type === GgmlType.F32 ? 4 : 2);

/** The error for the non-finite value at `index` (counted from the first value of `rows`). */
export function nonFiniteError(label: string, rows: StoredRows, nPerRow: number, index: number): InvalidWeightsError {
  const w = storedValueBytes(rows.type);
  const value = toFloat32(rows.type, rows.bytes.slice(index * w, (index + 1) * w))[0];
  return new InvalidWeightsError({ file: rows.file, tensor: label, row: rows.firstRow + Math.floor(index / nPerRow), column: index % nPerRow, value });
}

/** The values as f32 (exact widening); throws InvalidWeightsError at the first Inf/NaN. */
export function storedToF32(label: string, rows: StoredRows, nPerRow: number): Float32Array {
  const f = toFloat32(rows.type, rows.bytes);
  const bad = firstNonFinite(f);
  if (bad >= 0) throw nonFiniteError(label, rows, nPerRow, bad);
  return f;
}
