// The lanes kernels on lib/iq-grid-search.wgsl (IQ3_XXS, IQ3_S) against the CPU reference (src/quant/,
// itself byte-identical to llama.cpp): every test distribution without an imatrix and with four (heavy-
// tailed, all ones, sparse with zeros, all zero); row lengths 256 and 512, odd row counts (so a workgroup's
// block pair ends inside a chunk), rows split over chunks. Exact byte equality throughout, and exact counts
// of the blocks computed on the device: every block of an ordinary distribution; none of 'subnormal' (its
// squares underflow in the weights); of 'tiny-huge' exactly the blocks expectedHostBlocks names.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GpuQuantizer } from '../../src/gpu/quantize-gpu.js';
import { gpuKernel } from '../../src/gpu/kernels.js';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { DISTRIBUTIONS, generate, generateImatrix } from '../data/distributions.js';
import { expectSameBytes, gpuEnv, reference, requireAdapterInCi } from './gpu-env.js';

const env = await gpuEnv();
requireAdapterInCi(env);

const TYPES = [GgmlType.IQ3_XXS, GgmlType.IQ3_S];

function imatrices(nPerRow: number): [string, Float32Array | null][] {
  return [
    ['no imatrix', null],
    ['imatrix', generateImatrix(nPerRow, 11)],
    ['all-ones imatrix', new Float32Array(nPerRow).fill(1)],
    ['sparse imatrix', Float32Array.from({ length: nPerRow }, (_, i) => (i % 7 === 3 ? 1.5 + (i % 5) : 0))],
    ['all-zero imatrix', new Float32Array(nPerRow)],
  ];
}

/**
 * Blocks the kernel must leave to the host, exactly: all of 'subnormal' (the weights square subnormal
 * values); of 'tiny-huge' (rows scaled by 1e-7, 1e-30, 3e3, 1 by row % 4; 5 rows of 2 blocks here) the
 * 1e-30 row (row 1: its squares underflow) and, without an imatrix (w = x²), the 1e-7 blocks whose
 * Σw·x·q squares to a subnormal in the keep-best test: measured for this seed, 2 of the 4 (IQ3_XXS) and
 * 1 (IQ3_S). null: an ordinary distribution, every block on the device.
 */
function expectedHostBlocks(type: GgmlType, dist: string, plain: boolean, nrows: number, blocksPerRow: number): number | null {
  if (dist === 'subnormal') return nrows * blocksPerRow;
  if (dist === 'tiny-huge') {
    let rows = 0;
    for (let r = 0; r < nrows; r++) if (r % 4 === 1) rows++;
    return rows * blocksPerRow + (plain ? (type === GgmlType.IQ3_XXS ? 2 : 1) : 0);
  }
  return null;
}

const shared = () => ({ ...env.handle!, owned: false });
afterAll(() => env.handle?.device.destroy());

describe.skipIf(!env.handle)('IQ3_XXS, IQ3_S lanes kernels == CPU reference', () => {
  let q: GpuQuantizer;
  let tiny: GpuQuantizer;
  beforeAll(async () => {
    q = await GpuQuantizer.create({ handle: shared() });
    // 3 x 256 values per chunk: rows split over chunks, odd block counts for the paired blocks
    tiny = await GpuQuantizer.create({ handle: shared(), maxChunkValues: 3 * 256, inFlight: 2 });
  });
  afterAll(async () => {
    for (const x of [q, tiny]) await x?.destroy();
  });

  test('lanes kernels: 64 lanes per block, 2 blocks per workgroup', () => {
    for (const type of TYPES) {
      const k = gpuKernel(type)!;
      expect([k.lanesPerBlock, k.blocksPerWorkgroup], k.name).toEqual([64, 2]);
      expect(k.code, k.name).toContain('fn quantize_block_lanes(');
    }
  });

  for (const type of TYPES) {
    const { name, blockSize } = typeLayout(type);
    test(`${name}: ${DISTRIBUTIONS.length} distributions x 5 imatrix variants`, async () => {
      let cases = 0;
      let blocks = 0;
      let device = 0;
      let ordinaryBlocks = 0;
      const t0 = performance.now();
      for (const [d, dist] of DISTRIBUTIONS.entries()) {
        const nPerRow = d % 2 ? 512 : 256;
        const nrows = 3 + 2 * ((d >> 1) % 2);
        const src = generate(dist, nrows, nPerRow, 31 + d);
        for (const [imName, im] of imatrices(nPerRow)) {
          const before = q.stats.fallbackBlocks;
          const beforeBlocks = q.stats.blocks;
          const got = await q.quantize(type, src, nrows, nPerRow, im, `${dist} ${imName}`);
          expectSameBytes(got, reference(type, src, nrows, nPerRow, im), type, `${name} ${dist} ${nrows}x${nPerRow} ${imName}`);
          const n = (nrows * nPerRow) / blockSize;
          expect(q.stats.blocks - beforeBlocks).toBe(n);
          const flagged = q.stats.fallbackBlocks - before;
          const host = expectedHostBlocks(type, dist, im === null, nrows, nPerRow / blockSize);
          expect(flagged, `${name} ${dist} ${imName}: blocks via the host`).toBe(host ?? 0);
          if (host === null) ordinaryBlocks += n;
          // flagged blocks must all be ones the host rule (src/gpu/fallback.ts mayNeedHostPath) expects
          expect(q.stats.ordinaryFallbackBlocks, `${name} ${dist} ${imName}: ordinary blocks on the host`).toBe(0);
          blocks += n;
          device += n - flagged;
          cases++;
        }
      }
      expect(cases).toBe(DISTRIBUTIONS.length * 5);
      console.log(`${name}: ${blocks} blocks identical, ${device} on the device (${ordinaryBlocks} from ordinary distributions, all of them), ${blocks - device} by the host; ${(performance.now() - t0).toFixed(0)} ms`);
    });

    test(`${name}: rows split over chunks`, async () => {
      const nrows = 3;
      const nPerRow = 3 * 256;
      for (const dist of ['laplace', 'outliers', 'ties'] as const) {
        const src = generate(dist, nrows, nPerRow, 7);
        for (const [imName, im] of imatrices(nPerRow).slice(0, 2)) {
          const before = tiny.stats.fallbackBlocks;
          const got = await tiny.quantize(type, src, nrows, nPerRow, im, `${dist} split ${imName}`);
          expectSameBytes(got, reference(type, src, nrows, nPerRow, im), type, `${name} ${dist} split ${imName}`);
          expect(tiny.stats.fallbackBlocks - before, `${name} ${dist} ${imName}: blocks left to the host`).toBe(0);
        }
      }
    });
  }
});
