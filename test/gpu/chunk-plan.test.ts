// The chunk planner and dispatch folding, without a GPU: every block covered exactly once, in order, inside
// the limits, for shapes up to a 128K x 16K embedding.
import { describe, expect, test } from 'vitest';
import { chunkLayout, foldDispatch, planChunks, type Chunk, type ChunkShape } from '../../src/gpu/chunk-plan.js';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';

function checkPlan(shape: ChunkShape): Chunk[] {
  const bpr = shape.nPerRow / shape.blockValues;
  const chunks = [...planChunks(shape)];
  let nextBlock = 0;
  for (const c of chunks) {
    const first = c.row0 * bpr + c.colBlock0;
    expect(first).toBe(nextBlock);
    expect(c.nBlocks).toBeGreaterThan(0);
    expect(c.nBlocks).toBeLessThanOrEqual(shape.maxChunkBlocks);
    expect(c.srcValueOffset).toBe(first * shape.blockValues);
    expect(c.dstByteOffset).toBe(first * shape.blockBytes);
    expect(c.dstBytes).toBe(c.nBlocks * shape.blockBytes);
    if (c.wholeRows) {
      expect(c.colBlock0).toBe(0);
      expect(c.nBlocks).toBe(c.nRows * bpr);
    } else {
      expect(c.nRows).toBe(1);
      expect(c.colBlock0 + c.nBlocks).toBeLessThanOrEqual(bpr);
    }
    nextBlock = first + c.nBlocks;
  }
  expect(nextBlock).toBe(shape.nrows * bpr);
  return chunks;
}

describe('planChunks', () => {
  test('whole rows when a row fits, pieces of rows when it does not', () => {
    const whole = checkPlan({ nrows: 10, nPerRow: 96, blockValues: 32, blockBytes: 18, maxChunkBlocks: 7 });
    expect(whole.map((c) => c.nRows)).toEqual([2, 2, 2, 2, 2]);
    const pieces = checkPlan({ nrows: 3, nPerRow: 160, blockValues: 32, blockBytes: 34, maxChunkBlocks: 2 });
    expect(pieces.map((c) => [c.row0, c.colBlock0, c.nBlocks])).toEqual([
      [0, 0, 2], [0, 2, 2], [0, 4, 1], [1, 0, 2], [1, 2, 2], [1, 4, 1], [2, 0, 2], [2, 2, 2], [2, 4, 1],
    ]);
    expect(pieces.every((c) => !c.wholeRows)).toBe(true);
  });

  test('edge shapes: one row, one block, budget of one block', () => {
    checkPlan({ nrows: 1, nPerRow: 32, blockValues: 32, blockBytes: 18, maxChunkBlocks: 1 });
    checkPlan({ nrows: 7, nPerRow: 1, blockValues: 1, blockBytes: 2, maxChunkBlocks: 3 });
    checkPlan({ nrows: 5, nPerRow: 256 * 3, blockValues: 256, blockBytes: 210, maxChunkBlocks: 1 });
  });

  test('a 128K x 16K embedding in 4M-value chunks stays within limits and exact offsets', () => {
    for (const type of [GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q6_K]) {
      const t = typeLayout(type);
      const nrows = 131072;
      const nPerRow = 16384;
      const maxChunkBlocks = (4 << 20) / t.blockSize;
      let count = 0;
      let next = 0;
      let last: Chunk | null = null;
      for (const c of planChunks({ nrows, nPerRow, blockValues: t.blockSize, blockBytes: t.typeSize, maxChunkBlocks })) {
        expect(c.dstByteOffset).toBe(next);
        expect(c.nBlocks * t.blockSize * 4).toBeLessThanOrEqual(16 << 20);
        next += c.dstBytes;
        count++;
        last = c;
      }
      expect(count).toBe(nrows / 256);
      expect(next).toBe(nrows * (nPerRow / t.blockSize) * t.typeSize);
      expect(last!.srcValueOffset + last!.nBlocks * t.blockSize).toBe(nrows * nPerRow); // 2^31 values
      // a row bigger than the budget is split
      const split = [...planChunks({ nrows: 2, nPerRow: 1 << 20, blockValues: t.blockSize, blockBytes: t.typeSize, maxChunkBlocks: (1 << 18) / t.blockSize })];
      expect(split.length).toBe(8);
    }
  });
});

describe('foldDispatch', () => {
  test('covers the invocations without passing the per-dimension limit', () => {
    for (const [inv, max] of [[1, 65535], [64 * 65535, 65535], [64 * 65535 + 1, 65535], [64 * 65536 * 3 + 7, 65535], [500, 3], [1, 1], [64 * 9, 3]]) {
      const [x, y] = foldDispatch(inv, 64, max);
      expect(x).toBeLessThanOrEqual(max);
      expect(y).toBeLessThanOrEqual(max);
      expect(x * y * 64).toBeGreaterThanOrEqual(inv);
      // no more than one row of workgroups is idle
      expect((x * (y - 1)) * 64).toBeLessThan(inv);
    }
    expect(foldDispatch(64 * 65535 + 1, 64, 65535)).toEqual([32768, 2]);
    expect(() => foldDispatch(64 * 10, 64, 3)).toThrow(RangeError);
  });

  test('chunk layout: output words, then the fallback bitmask and the status word at aligned offsets', () => {
    const c = [...planChunks({ nrows: 1, nPerRow: 32 * 33, blockValues: 32, blockBytes: 18, maxChunkBlocks: 100 })][0];
    const lay = chunkLayout(c, 256);
    expect(lay.outBytes).toBe(596); // 33 * 18 = 594, rounded up to whole words
    expect(lay.maskOffset).toBe(768);
    expect(lay.maskBytes).toBe(8);
    expect(lay.statusOffset).toBe(1024);
    expect(lay.total).toBe(1028);
  });
});
