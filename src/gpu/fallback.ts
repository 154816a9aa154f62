/**
 * The exact host path for the rare blocks a kernel flags (shaders/lib/exact-f32.wgsl: a subnormal
 * operand or result, Inf, NaN or overflow, where WGSL does not pin native float behaviour). The CPU
 * reference re-quantizes each row holding a flagged block (a row is the unit of ggml_quantize_chunk, so
 * this is exact for the row-wide imatrix statistic too) and the flagged blocks are copied over.
 *
 * THE RULE (checked here, reported by the backends, enforced by `compare` and the tests): only blocks whose
 * inputs reach the edges of the binary32 range may take the host path. A flagged block must satisfy
 * `mayNeedHostPath` below, re-derived on the host from the block's values; a flagged block that does not
 * (an "ordinary" block) is still patched exactly, but counted, because it means the kernel left work to the
 * host that it should have done itself.
 */
import { GpuError } from '../errors.js';
import { quantType, quantizeChunk } from '../quant/registry.js';
import type { Chunk } from './chunk-plan.js';
import type { GpuKernel } from './kernels.js';

/**
 * The magnitudes the kernels compute on the device. The scale searches form products of up to eight
 * factors of the block's magnitude (e.g. (sum w*x*l)^2 * sum w*l*l with w = x*x), so a block is ordinary
 * when its largest |value| lies in [BLOCK_MAX_MIN, BLOCK_MAX_MAX], none of its nonzero values is below
 * VALUE_MIN (x^4-sized terms, and error terms that cancel to an ulp of x, stay normal above it), and its
 * imatrix weights (nonzero ones) lie in [WEIGHT_MIN, WEIGHT_MAX].
 */
export const BLOCK_MAX_MIN = 2 ** -16;
export const BLOCK_MAX_MAX = 2 ** 12;
export const VALUE_MIN = 2 ** -20;
export const WEIGHT_MIN = 2 ** -16;
export const WEIGHT_MAX = 2 ** 16;
/** the smallest sub-block any quantizer solves on its own (Q2_K, Q3_K, Q6_K scales) */
const SUB_BLOCK = 16;

/** values: the largest |x| outside [maxLo, maxHi], a nonzero |x| below `lo`, or Inf/NaN */
function outOfRange(v: Float32Array, lo: number, maxLo: number, maxHi: number): boolean {
  let max = 0;
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]);
    if (a !== 0 && !(a >= lo)) return true; // NaN included
    if (a > max) max = a;
  }
  return max !== 0 && !(max >= maxLo && max <= maxHi);
}

/** a sub-block whose every imatrix-weighted value is zero: ggml then divides by a zero range (Inf/NaN) */
function zeroWeightedSubBlock(values: Float32Array, weights: Float32Array): boolean {
  for (let s = 0; s < values.length; s += SUB_BLOCK) {
    let any = false;
    for (let i = s; i < Math.min(s + SUB_BLOCK, values.length); i++) if (weights[i] !== 0 && values[i] !== 0) { any = true; break; }
    if (!any) return true;
  }
  return false;
}

/**
 * Whether a block may legitimately need the host path: its values (or, for kernels with a row statistic
 * and an imatrix, its row's values) or its imatrix weights leave the ranges above, or one of its
 * sub-blocks has imatrix-weighted values that are all zero. Everything else is an ordinary block, which
 * the kernel must compute on the device.
 */
export function mayNeedHostPath(values: Float32Array, imatrix: Float32Array | null, row: Float32Array | null = null): boolean {
  if (outOfRange(values, VALUE_MIN, BLOCK_MAX_MIN, BLOCK_MAX_MAX)) return true;
  if (!imatrix) return false;
  return outOfRange(imatrix, WEIGHT_MIN, 0, WEIGHT_MAX) ||
    (row !== null && outOfRange(row, 0, BLOCK_MAX_MIN, BLOCK_MAX_MAX)) ||
    zeroWeightedSubBlock(values, imatrix);
}

export interface FallbackInput {
  kernel: GpuKernel;
  chunk: Chunk;
  nPerRow: number;
  imatrix: Float32Array | null;
  label: string;
  /** the values of a row touched by the chunk */
  row: (r: number) => Float32Array;
}

export interface FallbackResult {
  blocks: number;
  rows: number;
  /** flagged blocks that break the rule (mayNeedHostPath is false): work the kernel should have done */
  ordinary: number;
}

/** Patches `out` (the chunk's bytes) for every block whose bit is set in `mask`. */
export function patchFlaggedBlocks(mask: Uint32Array, out: Uint8Array, p: FallbackInput): FallbackResult {
  const { kernel, chunk: c } = p;
  const bpr = p.nPerRow / kernel.blockValues;
  const first = c.row0 * bpr + c.colBlock0;
  const bb = kernel.blockBytes;
  let rowOut: Uint8Array | null = null;
  let curRow = -1;
  let blocks = 0;
  let rows = 0;
  let ordinary = 0;
  let rowValues: Float32Array | null = null;
  const imatrix = kernel.imatrix === 'ignored' ? null : p.imatrix;
  for (let w = 0; w < mask.length; w++) {
    let bits = mask[w];
    while (bits !== 0) {
      const bit = 31 - Math.clz32(bits & -bits);
      bits &= bits - 1;
      const b = w * 32 + bit;
      if (b >= c.nBlocks) break;
      const g = first + b;
      const row = Math.floor(g / bpr);
      if (row !== curRow) {
        const impl = quantType(kernel.type);
        if (!impl) throw new GpuError('internal', `block ${b} of a ${kernel.name} chunk needs the exact CPU path, which this type lacks`, p.label);
        rowOut ??= new Uint8Array(bpr * bb);
        rowValues = p.row(row);
        quantizeChunk(impl, rowValues, rowOut, 1, p.nPerRow, p.imatrix);
        curRow = row;
        rows++;
      }
      const col = g - row * bpr;
      const v0 = col * kernel.blockValues;
      const v1 = v0 + kernel.blockValues;
      if (!mayNeedHostPath(rowValues!.subarray(v0, v1), imatrix?.subarray(v0, v1) ?? null, kernel.rowSigma2 ? rowValues : null)) ordinary++;
      out.set(rowOut!.subarray(col * bb, (col + 1) * bb), b * bb);
      blocks++;
    }
  }
  return { blocks, rows, ordinary };
}
