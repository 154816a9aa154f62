/**
 * The case sweep the GPU kernel tests share: every test distribution with each imatrix variant, quantized on
 * the device and compared byte for byte with the CPU reference (gpu-env.ts `reference`), with the number of
 * blocks the host re-quantized checked against the count the test file expects for that case. Each kernel
 * test file keeps its own row shapes, imatrix variants and expected host-block counts; the loop is here.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { GpuQuantizer } from '../../src/gpu/quantize-gpu.js';
import { type GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { DISTRIBUTIONS, generate, generateImatrix, type DistributionName } from '../data/distributions.js';
import { expectSameBytes, reference, type GpuEnv } from './gpu-env.js';

export interface KernelQuantizers {
  /** default chunks */
  q: GpuQuantizer;
  /** 3 x 256 values per chunk, 2 in flight: rows split over chunks, odd block counts for paired blocks */
  tiny: GpuQuantizer;
}

/**
 * Called inside a describe: its two quantizers on the file's device (not owned: the file destroys the
 * device), created before its tests and destroyed after them; the fields are set once beforeAll has run.
 */
export function kernelQuantizers(env: GpuEnv): KernelQuantizers {
  const qs = {} as KernelQuantizers;
  beforeAll(async () => {
    qs.q = await GpuQuantizer.create({ handle: { ...env.handle!, owned: false } });
    qs.tiny = await GpuQuantizer.create({ handle: { ...env.handle!, owned: false }, maxChunkValues: 3 * 256, inFlight: 2 });
  });
  afterAll(async () => {
    for (const x of [qs.q, qs.tiny]) await x?.destroy();
  });
  return qs;
}

export type ImatrixVariant = [name: string, imatrix: Float32Array | null];

/**
 * The imatrix variants, in this order: none (when `plain`), heavy-tailed with zero columns, all ones, sparse
 * (zero except every 7th column), all zero (unless `allZero` is false).
 */
export function imatrixVariants(nPerRow: number, opts: { plain: boolean; allZero?: boolean }): ImatrixVariant[] {
  return [
    ...(opts.plain ? [['no imatrix', null] as ImatrixVariant] : []),
    ['imatrix', generateImatrix(nPerRow, 11)],
    ['all-ones imatrix', new Float32Array(nPerRow).fill(1)],
    ['sparse imatrix', Float32Array.from({ length: nPerRow }, (_, i) => (i % 7 === 3 ? 1.5 + (i % 5) : 0))],
    ...(opts.allZero === false ? [] : [['all-zero imatrix', new Float32Array(nPerRow)] as ImatrixVariant]),
  ];
}

/** values near the binary32 range limits; the other distributions are the ordinary ones */
export const EXTREME = new Set<DistributionName>(['subnormal', 'tiny-huge']);

/** One case of the sweep: distribution `dist` (index d) as nrows x nPerRow values, imatrix variant imName. */
export interface SweepCase {
  d: number;
  dist: DistributionName;
  imName: string;
  im: Float32Array | null;
  nrows: number;
  nPerRow: number;
  /** blocks in the case */
  n: number;
}

export interface Sweep {
  /** the row count and row length of distribution d (its index in DISTRIBUTIONS) */
  shape: (d: number) => { nrows: number; nPerRow: number };
  imatrices: (nPerRow: number) => ImatrixVariant[];
  /**
   * The exact number of the case's blocks the host must re-quantize, or null where that is left open (the
   * host rule, src/gpu/fallback.ts mayNeedHostPath, must still explain every flagged block).
   */
  hostBlocks: (c: SweepCase) => number | null;
}

export interface SweepTotals {
  cases: number;
  blocks: number;
  /** blocks computed on the device (not flagged for the host) */
  device: number;
  /** blocks of the ordinary (not EXTREME) distributions */
  ordinaryBlocks: number;
}

/**
 * Every distribution x every imatrix variant of `sweep`, data seeded 31 + d: the device's bytes equal the
 * reference's, every block of the case is counted once, the flagged blocks are `hostBlocks` exactly (where
 * not null), and none of them is one the host rule does not expect.
 */
export async function sweepDistributions(q: GpuQuantizer, type: GgmlType, sweep: Sweep): Promise<SweepTotals> {
  const { name, blockSize } = typeLayout(type);
  const totals: SweepTotals = { cases: 0, blocks: 0, device: 0, ordinaryBlocks: 0 };
  for (const [d, dist] of DISTRIBUTIONS.entries()) {
    const { nrows, nPerRow } = sweep.shape(d);
    const src = generate(dist, nrows, nPerRow, 31 + d);
    for (const [imName, im] of sweep.imatrices(nPerRow)) {
      const before = q.stats.fallbackBlocks;
      const beforeBlocks = q.stats.blocks;
      const got = await q.quantize(type, src, nrows, nPerRow, im, `${dist} ${imName}`);
      expectSameBytes(got, reference(type, src, nrows, nPerRow, im), type, `${name} ${dist} ${nrows}x${nPerRow} ${imName}`);
      const n = (nrows * nPerRow) / blockSize;
      expect(q.stats.blocks - beforeBlocks, `${name} ${dist} ${imName}: blocks`).toBe(n);
      const flagged = q.stats.fallbackBlocks - before;
      const host = sweep.hostBlocks({ d, dist, imName, im, nrows, nPerRow, n });
      if (host !== null) expect(flagged, `${name} ${dist} ${imName}: blocks via the host`).toBe(host);
      // flagged blocks must all be ones the host rule (src/gpu/fallback.ts mayNeedHostPath) expects
      expect(q.stats.ordinaryFallbackBlocks, `${name} ${dist} ${imName}: ordinary blocks on the host`).toBe(0);
      if (!EXTREME.has(dist)) totals.ordinaryBlocks += n;
      totals.blocks += n;
      totals.device += n - flagged;
      totals.cases++;
    }
  }
  return totals;
}

/**
 * Rows split over chunks (`tiny`: a quantizer with small chunks): each distribution as nrows x nPerRow values
 * (seed 7) with each imatrix variant, byte-identical, and no block left to the host.
 */
export async function splitRows(
  tiny: GpuQuantizer, type: GgmlType, dists: readonly DistributionName[], nrows: number, nPerRow: number, imatrices: ImatrixVariant[],
): Promise<void> {
  const { name } = typeLayout(type);
  for (const dist of dists) {
    const src = generate(dist, nrows, nPerRow, 7);
    for (const [imName, im] of imatrices) {
      const before = tiny.stats.fallbackBlocks;
      const got = await tiny.quantize(type, src, nrows, nPerRow, im, `${dist} split ${imName}`);
      expectSameBytes(got, reference(type, src, nrows, nPerRow, im), type, `${name} ${dist} split ${imName}`);
      expect(tiny.stats.fallbackBlocks - before, `${name} ${dist} ${imName}: blocks left to the host`).toBe(0);
      expect(tiny.stats.ordinaryFallbackBlocks, `${name} ${dist} split ${imName}: ordinary blocks on the host`).toBe(0);
    }
  }
}
