/**
 * How a tensor is cut into GPU chunks and how a chunk's invocations become a dispatch. Pure functions, so
 * the limits (65,535 workgroups per dimension, binding and buffer sizes, tensors of billions of values)
 * are tested without a GPU.
 *
 * A chunk is either a run of whole rows (the row statistic of the legacy imatrix paths is then computed on
 * the GPU) or, when one row alone is larger than the chunk budget, a run of blocks inside one row (the
 * host computes that row's statistic).
 */

export interface Chunk {
  /** first row touched */
  readonly row0: number;
  /** rows touched (1 for a piece of a row) */
  readonly nRows: number;
  /** block column of the first block within row0 */
  readonly colBlock0: number;
  readonly nBlocks: number;
  /** the chunk is made of whole rows */
  readonly wholeRows: boolean;
  /** index of the chunk's first value in the tensor */
  readonly srcValueOffset: number;
  /** offset of the chunk's first byte in the quantized tensor */
  readonly dstByteOffset: number;
  readonly dstBytes: number;
}

export interface ChunkShape {
  nrows: number;
  nPerRow: number;
  blockValues: number;
  blockBytes: number;
  /** at most this many blocks per chunk */
  maxChunkBlocks: number;
}

export function* planChunks(s: ChunkShape): Generator<Chunk> {
  const bpr = s.nPerRow / s.blockValues;
  if (!Number.isInteger(bpr) || bpr < 1) throw new RangeError(`row of ${s.nPerRow} values is not a whole number of ${s.blockValues}-value blocks`);
  if (!(s.maxChunkBlocks >= 1)) throw new RangeError(`chunk budget of ${s.maxChunkBlocks} blocks`);
  const mk = (row0: number, nRows: number, colBlock0: number, nBlocks: number, wholeRows: boolean): Chunk => {
    const firstBlock = row0 * bpr + colBlock0;
    return {
      row0, nRows, colBlock0, nBlocks, wholeRows,
      srcValueOffset: firstBlock * s.blockValues,
      dstByteOffset: firstBlock * s.blockBytes,
      dstBytes: nBlocks * s.blockBytes,
    };
  };
  if (bpr <= s.maxChunkBlocks) {
    const rowsPer = Math.floor(s.maxChunkBlocks / bpr);
    for (let r0 = 0; r0 < s.nrows; r0 += rowsPer) {
      const n = Math.min(rowsPer, s.nrows - r0);
      yield mk(r0, n, 0, n * bpr, true);
    }
    return;
  }
  for (let r = 0; r < s.nrows; r++) {
    for (let c = 0; c < bpr; c += s.maxChunkBlocks) yield mk(r, 1, c, Math.min(s.maxChunkBlocks, bpr - c), false);
  }
}

/**
 * Workgroup counts (x, y) covering `invocations` with `workgroupSize` per workgroup, neither above
 * `maxPerDimension`; the shader linearises (x, y) and skips the overhang.
 */
export function foldDispatch(invocations: number, workgroupSize: number, maxPerDimension: number): [number, number] {
  const groups = Math.ceil(invocations / workgroupSize);
  if (groups <= maxPerDimension) return [Math.max(groups, 1), 1];
  const y = Math.ceil(groups / maxPerDimension);
  if (y > maxPerDimension) throw new RangeError(`${invocations} invocations need more than ${maxPerDimension}^2 workgroups`);
  return [Math.ceil(groups / y), y];
}

export const roundUp4 = (n: number): number => Math.ceil(n / 4) * 4;

/**
 * Where a chunk's output, its fallback bitmask (one bit per block, shaders/lib/abi.wgsl binding 5) and its
 * first-non-finite word (shaders/lib/convert.wgsl binding 3) sit in the chunk's dst and readback buffers:
 * one buffer, one copy, one mapping per chunk. The bitmask and the status word are cleared together.
 */
export function chunkLayout(c: Chunk, offsetAlignment: number): { outBytes: number; maskOffset: number; maskBytes: number; statusOffset: number; total: number } {
  const outBytes = roundUp4(c.dstBytes);
  const maskOffset = Math.ceil(outBytes / offsetAlignment) * offsetAlignment;
  const maskBytes = Math.ceil(c.nBlocks / 32) * 4;
  const statusOffset = Math.ceil((maskOffset + maskBytes) / offsetAlignment) * offsetAlignment;
  return { outBytes, maskOffset, maskBytes, statusOffset, total: statusOffset + 4 };
}
