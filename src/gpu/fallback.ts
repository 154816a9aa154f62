/**
 * The exact host path for the rare blocks a kernel flags (shaders/lib/exact-f32.wgsl: a subnormal
 * operand or result, Inf, NaN or overflow, where WGSL does not pin native float behaviour). The CPU
 * reference re-quantizes each row holding a flagged block (a row is the unit of ggml_quantize_chunk, so
 * this is exact for the row-wide imatrix statistic too) and the flagged blocks are copied over.
 */
import { GpuError } from '../errors.js';
import { quantType, quantizeChunk } from '../quant/registry.js';
import type { Chunk } from './chunk-plan.js';
import type { GpuKernel } from './kernels.js';

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
        quantizeChunk(impl, p.row(row), rowOut, 1, p.nPerRow, p.imatrix);
        curRow = row;
        rows++;
      }
      const col = g - row * bpr;
      out.set(rowOut!.subarray(col * bb, (col + 1) * bb), b * bb);
      blocks++;
    }
  }
  return { blocks, rows };
}
