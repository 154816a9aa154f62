// The WGSL kernels of 256-value super-block types (shaders/q2_k.wgsl ... q6_k.wgsl today) against the CPU reference (src/quant, itself
// byte-identical to llama.cpp): every test distribution, without imatrix and with three imatrices (a
// heavy-tailed one with zero columns, all ones, one that is zero except every 7th column), rows of 1, 2
// and 3 super-blocks, odd row counts, and rows split over chunks. Exact byte equality throughout; the
// blocks of ordinary distributions must come from the kernels, not from the host fallback.
import { afterAll, describe, expect, test } from 'vitest';
import { QK_K, typeLayout } from '../../src/core/ggml-type.js';
import { quantType } from '../../src/quant/registry.js';
import { gpuKernelTypes } from '../../src/gpu/kernels.js';
import { DISTRIBUTIONS, type DistributionName } from '../data/distributions.js';
import { gpuEnv, requireAdapterInCi } from './gpu-env.js';
import { imatrixVariants, kernelQuantizers, splitRows, sweepDistributions } from './kernel-cases.js';

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

/** no imatrix, heavy-tailed with zero columns, all ones, sparse (no all-zero one here) */
const imatrices = (nPerRow: number) => imatrixVariants(nPerRow, { plain: true, allZero: false });

afterAll(() => env.handle?.device.destroy());

describe.skipIf(!env.handle)('K-quant kernels == CPU reference', () => {
  const qs = kernelQuantizers(env);

  for (const type of TYPES) {
    const name = typeLayout(type).name;
    test(`${name}: ${DISTRIBUTIONS.length} distributions x 4 imatrix variants`, async () => {
      const { cases, device } = await sweepDistributions(qs.q, type, {
        shape: (d) => ({ nPerRow: ROW_LENGTHS[d % ROW_LENGTHS.length], nrows: 3 + 2 * (d % 2) }),
        imatrices,
        hostBlocks: ({ dist, imName }) => (mayFlag(dist, imName) ? null : 0),
      });
      expect(cases).toBe(DISTRIBUTIONS.length * 4);
      expect(device).toBeGreaterThan(0);
    });

    test(`${name}: rows split over chunks, with and without imatrix`, async () => {
      await splitRows(qs.tiny, type, ['laplace', 'edge-blocks', 'outliers'], 5, 512, imatrices(512).slice(0, 2));
    });
  }
});
