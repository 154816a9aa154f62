/**
 * Argument checks shared by the CPU quantizers: the C code asserts these, so a wrong call would
 * otherwise write garbage silently. Errors name the numbers the caller needs to fix the call.
 */
import { typeLayout, type GgmlType } from '../core/ggml-type.js';

/** Throws a RangeError unless `dst` holds exactly the row size times `nrows`, and `src`/`imatrix` are long enough. */
export function checkQuantizeArgs(
  type: GgmlType, src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, imatrix: Float32Array | null,
): void {
  const { name, blockSize, typeSize } = typeLayout(type);
  if (!Number.isInteger(nrows) || nrows < 0 || !Number.isInteger(nPerRow) || nPerRow < 0) {
    throw new RangeError(`${name}: nrows (${nrows}) and nPerRow (${nPerRow}) must be non-negative integers`);
  }
  if (nPerRow % blockSize !== 0) {
    throw new RangeError(`${name}: nPerRow ${nPerRow} is not a multiple of the block size ${blockSize}`);
  }
  const want = (nPerRow / blockSize) * typeSize * nrows;
  if (dst.length !== want) {
    throw new RangeError(`${name}: destination holds ${dst.length} bytes, expected ${want} (${nrows} rows of ${nPerRow} values)`);
  }
  if (src.length < nrows * nPerRow) {
    throw new RangeError(`${name}: source holds ${src.length} values, expected at least ${nrows * nPerRow} (${nrows} x ${nPerRow})`);
  }
  if (imatrix && imatrix.length < nPerRow) {
    throw new RangeError(`${name}: imatrix holds ${imatrix.length} weights, expected ${nPerRow}`);
  }
}

/** Throws a RangeError unless `n` is a whole number of blocks that fit in `src` and `dst`. */
export function checkDequantizeArgs(type: GgmlType, src: Uint8Array, dst: Float32Array, n: number): void {
  const { name, blockSize, typeSize } = typeLayout(type);
  if (!Number.isInteger(n) || n < 0 || n % blockSize !== 0) {
    throw new RangeError(`${name}: cannot dequantize ${n} values, not a multiple of the block size ${blockSize}`);
  }
  const need = (n / blockSize) * typeSize;
  if (src.length < need) throw new RangeError(`${name}: source holds ${src.length} bytes, ${n} values need ${need}`);
  if (dst.length < n) throw new RangeError(`${name}: destination holds ${dst.length} floats, expected at least ${n}`);
}
