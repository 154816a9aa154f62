// The WGSL kernel of IQ1_S against the CPU reference (src/quant/iq1_s.ts, itself byte-identical to
// llama.cpp): every test distribution with four imatrices (IQ1_S always needs one: heavy-tailed, all ones,
// sparse, all zero), row lengths 256 and 512, odd row counts (so the paired blocks end inside a chunk), and
// rows split over chunks. Exact byte equality throughout. Every block of an ordinary distribution must be
// computed on the device (fallback count exactly 0); all-subnormal data goes to the host block for block
// (its squares underflow in sigma2); only the 1e-30 rows of 'tiny-huge' are left open.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GpuQuantizer } from '../../src/gpu/quantize-gpu.js';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { DISTRIBUTIONS, generate, generateImatrix } from '../data/distributions.js';
import { expectSameBytes, gpuEnv, reference, requireAdapterInCi } from './gpu-env.js';

const env = await gpuEnv();
requireAdapterInCi(env);

function imatrices(nPerRow: number): [string, Float32Array][] {
  return [
    ['imatrix', generateImatrix(nPerRow, 11)],
    ['all-ones imatrix', new Float32Array(nPerRow).fill(1)],
    ['sparse imatrix', Float32Array.from({ length: nPerRow }, (_, i) => (i % 7 === 3 ? 1.5 + (i % 5) : 0))],
    ['all-zero imatrix', new Float32Array(nPerRow)],
  ];
}

const shared = () => ({ ...env.handle!, owned: false });
afterAll(() => env.handle?.device.destroy());

describe.skipIf(!env.handle)('IQ1_S kernel == CPU reference', () => {
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

  for (const type of [GgmlType.IQ1_S]) {
    const { name, blockSize } = typeLayout(type);
    test(`${name}: ${DISTRIBUTIONS.length} distributions x 4 imatrices`, async () => {
      let cases = 0;
      let blocks = 0;
      let device = 0;
      let ordinaryBlocks = 0;
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
          if (dist === 'subnormal') {
            expect(flagged, `${name} subnormal ${imName}: blocks via the host`).toBe(n);
          } else if (dist !== 'tiny-huge') {
            expect(flagged, `${name} ${dist} ${imName}: blocks left to the host`).toBe(0);
            ordinaryBlocks += n;
          }
          blocks += n;
          device += n - flagged;
          cases++;
        }
      }
      expect(cases).toBe(DISTRIBUTIONS.length * 4);
      expect(device).toBeGreaterThanOrEqual(ordinaryBlocks);
      console.log(`${name}: ${blocks} blocks identical, ${device} on the device (${ordinaryBlocks} from ordinary distributions, all of which must be), ${blocks - device} by the host`);
    });

    test(`${name}: rows split over chunks`, async () => {
      const nrows = 3;
      const nPerRow = 3 * 256;
      for (const dist of ['laplace', 'outliers', 'ties'] as const) {
        const src = generate(dist, nrows, nPerRow, 7);
        const im = imatrices(nPerRow)[0][1];
        const before = tiny.stats.fallbackBlocks;
        const got = await tiny.quantize(type, src, nrows, nPerRow, im, `${dist} split`);
        expectSameBytes(got, reference(type, src, nrows, nPerRow, im), type, `${name} ${dist} split`);
        expect(tiny.stats.fallbackBlocks - before, `${name} ${dist}: blocks left to the host`).toBe(0);
      }
    });
  }
});
