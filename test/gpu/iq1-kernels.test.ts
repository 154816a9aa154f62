// The WGSL kernels of IQ1_S and IQ1_M against the CPU reference (src/quant/iq1_s.ts, itself byte-identical to
// llama.cpp): every test distribution with four imatrices (heavy-tailed, all ones, sparse, all zero) and,
// for IQ1_M, without one (IQ1_S always needs one); row lengths 256 and 512, odd row counts (so IQ1_S's
// block pairs end inside a chunk), and rows split over chunks. Exact byte equality throughout. Every block
// of an ordinary distribution must be computed on the device (fallback count exactly 0); all-subnormal data
// goes to the host block for block on the imatrix paths (its squares underflow in sigma2) and stays on the
// device on IQ1_M's plain path; only the 1e-30 rows of 'tiny-huge' are left open.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GpuQuantizer } from '../../src/gpu/quantize-gpu.js';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { DISTRIBUTIONS, generate, generateImatrix } from '../data/distributions.js';
import { expectSameBytes, gpuEnv, reference, requireAdapterInCi } from './gpu-env.js';

const env = await gpuEnv();
requireAdapterInCi(env);

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

describe.skipIf(!env.handle)('IQ1_S, IQ1_M kernels == CPU reference', () => {
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

  for (const type of [GgmlType.IQ1_S, GgmlType.IQ1_M]) {
    const { name, blockSize } = typeLayout(type);
    // IQ1_S requires an imatrix (ggml_quantize_requires_imatrix); IQ1_M also runs without one
    const plain = type === GgmlType.IQ1_M;
    const variants = plain ? 5 : 4;
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
            // the imatrix path's sigma2 squares every value (underflow: flagged); without one, every
            // sub-block is below IQ1_M's eps and nothing is computed (all on the device)
            expect(flagged, `${name} subnormal ${imName}: blocks via the host`).toBe(im ? n : 0);
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
        for (const [imName, im] of imatrices(nPerRow, plain).slice(0, plain ? 2 : 1)) {
          const before = tiny.stats.fallbackBlocks;
          const got = await tiny.quantize(type, src, nrows, nPerRow, im, `${dist} split ${imName}`);
          expectSameBytes(got, reference(type, src, nrows, nPerRow, im), type, `${name} ${dist} split ${imName}`);
          expect(tiny.stats.fallbackBlocks - before, `${name} ${dist} ${imName}: blocks left to the host`).toBe(0);
        }
      }
    });
  }
});
