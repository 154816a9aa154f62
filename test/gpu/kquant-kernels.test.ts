// The WGSL kernels of 256-value super-block types (shaders/q2_k.wgsl ... q6_k.wgsl today) against the CPU reference (src/quant, itself
// byte-identical to llama.cpp): every test distribution, without imatrix and with three imatrices (a
// heavy-tailed one with zero columns, all ones, one that is zero except every 7th column), rows of 1, 2
// and 3 super-blocks, odd row counts, and rows split over chunks. Exact byte equality throughout; the
// blocks of ordinary distributions must come from the kernels, not from the host fallback.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GpuQuantizer } from '../../src/gpu/quantize-gpu.js';
import { QK_K, typeLayout } from '../../src/core/ggml-type.js';
import { quantType } from '../../src/quant/registry.js';
import { gpuKernelTypes } from '../../src/gpu/kernels.js';
import { DISTRIBUTIONS, generate, generateImatrix, type DistributionName } from '../data/distributions.js';
import { expectSameBytes, gpuEnv, reference, requireAdapterInCi } from './gpu-env.js';

const env = await gpuEnv();
requireAdapterInCi(env);

/**
 * every kernel with 256-value super-blocks (the others are in quantize-gpu.test.ts) whose imatrix is optional or
 * ignored: this file also runs each without one; the imatrix-required kernels (IQ1_S) are in their own file
 */
const TYPES = gpuKernelTypes().filter((t) => typeLayout(t).blockSize === QK_K && quantType(t)?.imatrix !== 'required');
const ROW_LENGTHS = [256, 512, 768];
/** values near the binary32 range limits: the kernels flag such blocks for the exact host path */
const EXTREME = new Set<DistributionName>(['subnormal', 'tiny-huge', 'huge']);
/**
 * Blocks the kernels may leave to the host: extreme values, and zero-weight sub-blocks of mostly-zero
 * data, where ggml itself divides by a zero range after an accepted trial (Inf/NaN, which WGSL does not pin).
 */
const mayFlag = (dist: DistributionName, imName: string) => EXTREME.has(dist) || (dist === 'sparse' && imName === 'sparse imatrix');

function imatrices(nPerRow: number): [string, Float32Array | null][] {
  return [
    ['no imatrix', null],
    ['imatrix', generateImatrix(nPerRow, 11)],
    ['all-ones imatrix', new Float32Array(nPerRow).fill(1)],
    ['sparse imatrix', Float32Array.from({ length: nPerRow }, (_, i) => (i % 7 === 3 ? 1.5 + (i % 5) : 0))],
  ];
}

const shared = () => ({ ...env.handle!, owned: false });
afterAll(() => env.handle?.device.destroy());

describe.skipIf(!env.handle)('K-quant kernels == CPU reference', () => {
  let q: GpuQuantizer;
  let tiny: GpuQuantizer;
  beforeAll(async () => {
    q = await GpuQuantizer.create({ handle: shared() });
    // 3 super-blocks per chunk: rows of 2 split over chunks, odd block counts for the paired kernels
    tiny = await GpuQuantizer.create({ handle: shared(), maxChunkValues: 3 * 256, inFlight: 2 });
  });
  afterAll(async () => {
    for (const x of [q, tiny]) await x?.destroy();
  });

  for (const type of TYPES) {
    const name = typeLayout(type).name;
    test(`${name}: ${DISTRIBUTIONS.length} distributions x 4 imatrix variants`, async () => {
      let cases = 0;
      let gpuBlocks = 0;
      for (const [d, dist] of DISTRIBUTIONS.entries()) {
        const nPerRow = ROW_LENGTHS[d % ROW_LENGTHS.length];
        const nrows = 3 + 2 * (d % 2);
        for (const [imName, im] of imatrices(nPerRow)) {
          const src = generate(dist, nrows, nPerRow, 31 + d);
          const before = q.stats.fallbackBlocks;
          const got = await q.quantize(type, src, nrows, nPerRow, im, `${dist} ${imName}`);
          expectSameBytes(got, reference(type, src, nrows, nPerRow, im), type, `${name} ${dist} ${nrows}x${nPerRow} ${imName}`);
          const flagged = q.stats.fallbackBlocks - before;
          // the host rule (src/gpu/fallback.ts mayNeedHostPath) must explain every flagged block
          expect(q.stats.ordinaryFallbackBlocks, `${name} ${dist} ${imName}: ordinary blocks on the host`).toBe(0);
          if (!mayFlag(dist, imName)) expect(flagged, `${name} ${dist} ${imName}: blocks left to the host`).toBe(0);
          gpuBlocks += (nrows * nPerRow) / 256 - flagged;
          cases++;
        }
      }
      expect(cases).toBe(DISTRIBUTIONS.length * 4);
      expect(gpuBlocks).toBeGreaterThan(0);
    });

    test(`${name}: rows split over chunks, with and without imatrix`, async () => {
      const nrows = 5;
      const nPerRow = 512;
      for (const dist of ['laplace', 'edge-blocks', 'outliers'] as const) {
        const src = generate(dist, nrows, nPerRow, 7);
        for (const [imName, im] of imatrices(nPerRow).slice(0, 2)) {
          const got = await tiny.quantize(type, src, nrows, nPerRow, im, `${dist} ${imName}`);
          expectSameBytes(got, reference(type, src, nrows, nPerRow, im), type, `${name} ${dist} split ${imName}`);
          expect(tiny.stats.ordinaryFallbackBlocks, `${name} ${dist} split ${imName}: ordinary blocks on the host`).toBe(0);
        }
      }
    });
  }
});
