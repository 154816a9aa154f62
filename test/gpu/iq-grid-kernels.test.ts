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
import { imatrixVariants, kernelQuantizers, splitRows, sweepDistributions } from './kernel-cases.js';

const env = await gpuEnv();
requireAdapterInCi(env);

const TYPES = [GgmlType.IQ3_XXS, GgmlType.IQ3_S];

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

afterAll(() => env.handle?.device.destroy());

describe.skipIf(!env.handle)('IQ3_XXS, IQ3_S lanes kernels == CPU reference', () => {
  const qs = kernelQuantizers(env);
  let folded: GpuQuantizer;
  beforeAll(async () => {
    // at most 2 workgroups per dimension: 9 blocks = 5 workgroups, dispatched as 3 x 2 (one idle workgroup)
    folded = await GpuQuantizer.create({ handle: { ...env.handle!, owned: false }, maxWorkgroupsPerDimension: 2 });
  });
  afterAll(async () => {
    await folded?.destroy();
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
      const t0 = performance.now();
      const { cases, blocks, device, ordinaryBlocks } = await sweepDistributions(qs.q, type, {
        shape: (d) => ({ nPerRow: d % 2 ? 512 : 256, nrows: 3 + 2 * ((d >> 1) % 2) }),
        imatrices: (nPerRow) => imatrixVariants(nPerRow, { plain: true }),
        hostBlocks: ({ dist, im, nrows, nPerRow }) => expectedHostBlocks(type, dist, im === null, nrows, nPerRow / blockSize) ?? 0,
      });
      expect(cases).toBe(DISTRIBUTIONS.length * 5);
      console.log(`${name}: ${blocks} blocks identical, ${device} on the device (${ordinaryBlocks} from ordinary distributions, all of them), ${blocks - device} by the host; ${(performance.now() - t0).toFixed(0)} ms`);
    });

    test(`${name}: a dispatch folded into y (workgroups past the x limit)`, async () => {
      const nrows = 3;
      const nPerRow = 3 * 256;
      const src = generate('student-t', nrows, nPerRow, 5);
      for (const im of [null, generateImatrix(nPerRow, 4)]) {
        const got = await folded.quantize(type, src, nrows, nPerRow, im, 'folded');
        expectSameBytes(got, reference(type, src, nrows, nPerRow, im), type, `${name} folded dispatch ${im ? 'imatrix' : 'no imatrix'}`);
      }
      expect(folded.stats.fallbackBlocks).toBe(0);
    });

    test(`${name}: rows split over chunks`, async () => {
      await splitRows(qs.tiny, type, ['laplace', 'outliers', 'ties'], 3, 3 * 256, imatrixVariants(3 * 256, { plain: true }).slice(0, 2));
    });
  }
});
