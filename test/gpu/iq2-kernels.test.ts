// The WGSL kernels of IQ2_XXS, IQ2_XS and IQ2_S against the CPU reference (src/quant/iq2_*.ts, itself
// byte-identical to llama.cpp): every test distribution with four imatrices (heavy-tailed, all ones, sparse
// with zero columns, all zero) and, for IQ2_S, without one (IQ2_XXS and IQ2_XS always need one,
// ggml_quantize_requires_imatrix); rows of 256 and 512 values, odd row counts (the block pairs end inside a
// chunk), and rows split over chunks. Exact byte equality throughout, and the number of blocks the host
// re-quantized exactly: 0 for every ordinary distribution, all of 'subnormal' on the paths whose
// super-block sigma2 squares the values (they underflow), none of 'all-zero'; only the 1e-30 rows of
// 'tiny-huge' are left open (and must satisfy the host rule, like every flagged block).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GpuQuantizer } from '../../src/gpu/quantize-gpu.js';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { quantType } from '../../src/quant/registry.js';
import { DISTRIBUTIONS, generate, generateImatrix } from '../data/distributions.js';
import { expectSameBytes, gpuEnv, reference, requireAdapterInCi } from './gpu-env.js';

const env = await gpuEnv();
requireAdapterInCi(env);

const TYPES = [GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ2_S];

function imatrices(nPerRow: number, plain: boolean): [string, Float32Array | null][] {
  return [
    ...(plain ? [['no imatrix', null] as [string, null]] : []),
    ['imatrix', generateImatrix(nPerRow, 11)],
    ['all-ones imatrix', new Float32Array(nPerRow).fill(1)],
    ['sparse imatrix', Float32Array.from({ length: nPerRow }, (_, i) => (i % 7 === 3 ? 1.5 + (i % 5) : 0))],
    ['all-zero imatrix', new Float32Array(nPerRow)],
  ];
}

const shared = () => ({ ...env.handle!, owned: false });
afterAll(() => env.handle?.device.destroy());

describe.skipIf(!env.handle)('IQ2_XXS, IQ2_XS, IQ2_S kernels == CPU reference', () => {
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

  for (const type of TYPES) {
    const { name, blockSize } = typeLayout(type);
    const plain = quantType(type)!.imatrix !== 'required';
    const variants = plain ? 5 : 4;

    test(`${name}: the descriptor's imatrix use (${plain ? 'optional' : 'required'}) is llama.cpp's`, async () => {
      // ggml_quantize_requires_imatrix: IQ2_XXS and IQ2_XS; IQ2_S has a plain path (quantize_row_iq2_s_ref)
      expect(plain).toBe(type === GgmlType.IQ2_S);
      if (!plain) {
        await expect(q.quantize(type, new Float32Array(256), 1, 256, null, 'no imatrix')).rejects.toThrow(/imatrix/);
      }
    });

    test(`${name}: ${DISTRIBUTIONS.length} distributions x ${variants} imatrix variants`, async () => {
      let cases = 0;
      let blocks = 0;
      let device = 0;
      let ordinaryBlocks = 0;
      for (const [d, dist] of DISTRIBUTIONS.entries()) {
        const nPerRow = d % 2 ? 512 : 256;
        const nrows = 3 + 2 * ((d >> 1) % 2);
        const src = generate(dist, nrows, nPerRow, 31 + d);
        for (const [imName, im] of imatrices(nPerRow, plain)) {
          const before = q.stats.fallbackBlocks;
          const beforeBlocks = q.stats.blocks;
          const got = await q.quantize(type, src, nrows, nPerRow, im, `${dist} ${imName}`);
          expectSameBytes(got, reference(type, src, nrows, nPerRow, im), type, `${name} ${dist} ${nrows}x${nPerRow} ${imName}`);
          const n = (nrows * nPerRow) / blockSize;
          expect(q.stats.blocks - beforeBlocks).toBe(n);
          const flagged = q.stats.fallbackBlocks - before;
          if (dist === 'subnormal') {
            // |x| ~ 1e-39: every sub-block is below the group epsilon (1e-15, IQ2_S 1e-8), so ggml writes zeros,
            // but the super-block sigma2 (spent on the weights, with an imatrix and on IQ2_S's plain path)
            // squares the values, which underflow: every block goes to the host
            expect(flagged, `${name} subnormal ${imName}: blocks via the host`).toBe(n);
          } else if (dist !== 'tiny-huge') {
            expect(flagged, `${name} ${dist} ${imName}: blocks left to the host`).toBe(0);
            ordinaryBlocks += n;
          }
          // flagged blocks must all be ones the host rule (src/gpu/fallback.ts mayNeedHostPath) expects
          expect(q.stats.ordinaryFallbackBlocks, `${name} ${dist} ${imName}: ordinary blocks on the host`).toBe(0);
          blocks += n;
          device += n - flagged;
          cases++;
        }
      }
      expect(cases).toBe(DISTRIBUTIONS.length * variants);
      expect(device).toBeGreaterThanOrEqual(ordinaryBlocks);
      console.log(`${name}: ${blocks} blocks identical, ${device} on the device (${ordinaryBlocks} from ordinary distributions, all of which must be), ${blocks - device} by the host`);
    });

    test(`${name}: rows split over chunks`, async () => {
      const nrows = 3;
      const nPerRow = 3 * 256;
      for (const dist of ['laplace', 'outliers', 'ties'] as const) {
        const src = generate(dist, nrows, nPerRow, 7);
        for (const [imName, im] of imatrices(nPerRow, plain).slice(0, 2)) {
          const before = tiny.stats.fallbackBlocks;
          const got = await tiny.quantize(type, src, nrows, nPerRow, im, `${dist} split ${imName}`);
          expectSameBytes(got, reference(type, src, nrows, nPerRow, im), type, `${name} ${dist} split ${imName}`);
          expect(tiny.stats.fallbackBlocks - before, `${name} ${dist} ${imName}: blocks left to the host`).toBe(0);
        }
      }
    });
  }
});
