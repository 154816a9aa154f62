// The WGSL kernels of IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, MXFP4, Q1_0 and Q2_0 against the CPU reference
// (src/quant, itself byte-identical to llama.cpp): every test distribution, without imatrix and with four
// imatrices (heavy-tailed with zero columns, all ones, sparse, all zero), odd block counts for the paired
// kernels, and rows split over chunks. Exact byte equality throughout. Every block of an ordinary
// distribution must be computed on the device: the fallback count is asserted to be exactly 0 there, so
// the device block count equals the block count; on all-subnormal data it is asserted exactly too (all
// blocks via the host, none on IQ4's plain path); only the 1e-30 rows of 'tiny-huge' are left open.
import { afterAll, describe, expect, test } from 'vitest';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { DISTRIBUTIONS } from '../data/distributions.js';
import { iq4HalfwayTies, mxfp4HalfwayTies } from '../data/halfway-ties.js';
import { expectSameBytes, gpuEnv, reference, requireAdapterInCi } from './gpu-env.js';
import { imatrixVariants, kernelQuantizers, splitRows, sweepDistributions } from './kernel-cases.js';

const env = await gpuEnv();
requireAdapterInCi(env);

const TYPES = [GgmlType.IQ4_NL, GgmlType.IQ4_XS, GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.MXFP4, GgmlType.Q1_0, GgmlType.Q2_0];
/** Row lengths with odd block counts, so pairs and quads of blocks end inside a chunk. */
function rowLengths(blockSize: number): number[] {
  return blockSize === 256 ? [256, 512, 768] : [3 * blockSize, 5 * blockSize, 256 + blockSize];
}

const imatrices = (nPerRow: number) => imatrixVariants(nPerRow, { plain: true });

afterAll(() => env.handle?.device.destroy());

const totals = { blocks: 0, device: 0, host: 0 };
afterAll(() => {
  if (env.handle) console.log(`iq4/ternary/mxfp4/q1_0/q2_0 kernels: ${totals.blocks} blocks byte-identical, ${totals.device} computed on the device, ${totals.host} by the host fallback`);
});

describe.skipIf(!env.handle)('IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, MXFP4, Q1_0, Q2_0 kernels == CPU reference', () => {
  const qs = kernelQuantizers(env);

  for (const type of TYPES) {
    const { name, blockSize } = typeLayout(type);
    test(`${name}: ${DISTRIBUTIONS.length} distributions x 5 imatrix variants`, async () => {
      const lengths = rowLengths(blockSize);
      const { cases, blocks, device, ordinaryBlocks } = await sweepDistributions(qs.q, type, {
        shape: (d) => ({ nPerRow: lengths[d % lengths.length], nrows: 3 + 2 * (d % 2) }),
        imatrices,
        // subnormal: every value is subnormal, each block touches one in a float operation and goes to the
        // host, except on IQ4's plain path, where max|x| < 1e-15 gives scale 0 and codes from 0·x (no flag)
        hostBlocks: ({ dist, im, n }) => {
          if (dist === 'tiny-huge') return null;
          if (dist !== 'subnormal') return 0;
          const iq4Plain = (type === GgmlType.IQ4_NL || type === GgmlType.IQ4_XS) && im === null;
          return iq4Plain ? 0 : n;
        },
      });
      expect(cases).toBe(DISTRIBUTIONS.length * 5);
      // every ordinary block on the device, and the extreme ones that stayed in range too
      expect(device).toBeGreaterThanOrEqual(ordinaryBlocks);
      totals.blocks += blocks;
      totals.device += device;
      totals.host += blocks - device;
      console.log(`${name}: ${blocks} blocks identical, ${device} on the device (${ordinaryBlocks} of them from ordinary distributions, all of which must be), ${blocks - device} by the host`);
    });

    test(`${name}: rows split over chunks, with and without imatrix`, async () => {
      await splitRows(qs.tiny, type, ['laplace', 'edge-blocks', 'outliers', 'ties'], 5, 3 * 256, imatrices(3 * 256).slice(0, 2));
    });
  }

  test('IQ4_NL, IQ4_XS, MXFP4: values exactly halfway between two levels', async () => {
    const { src, imatrix } = iq4HalfwayTies(3, 512);
    const cases: [GgmlType, Float32Array, number, Float32Array | null][] = [
      [GgmlType.IQ4_NL, src, 512, imatrix], [GgmlType.IQ4_XS, src, 512, imatrix], [GgmlType.MXFP4, mxfp4HalfwayTies(48), 512, null],
    ];
    for (const [type, x, nPerRow, im] of cases) {
      const before = qs.q.stats.fallbackBlocks;
      const nrows = x.length / nPerRow;
      const got = await qs.q.quantize(type, x, nrows, nPerRow, im, 'halfway ties');
      expectSameBytes(got, reference(type, x, nrows, nPerRow, im), type, `${typeLayout(type).name} halfway ties`);
      expect(qs.q.stats.fallbackBlocks - before).toBe(0);
    }
  });

  test('MXFP4: block maxima just below every power of two (the floorf(log2f) rounding edges)', async () => {
    const values: number[] = [];
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    // maxima 2^-96 .. 2^94 (log2 from -96 to 94 covers every rounding threshold of the kernel's table)
    // keep every difference |k*d - x| normal, so no block may leave the device
    for (let e = 30; e < 221; e++) {
      for (let n = 0; n <= 48; n++) {
        u32[0] = ((e + 1) << 23) - n;
        values.push(f32[0]);
      }
    }
    const nb = values.length;
    const src = new Float32Array(nb * 32);
    for (let b = 0; b < nb; b++) {
      for (let j = 0; j < 32; j++) src[b * 32 + j] = values[b] * ((j * 37 % 64) / 64 - 0.5);
      src[b * 32 + (b % 32)] = b % 2 ? values[b] : -values[b];
    }
    const before = qs.q.stats.fallbackBlocks;
    const got = await qs.q.quantize(GgmlType.MXFP4, src, 1, src.length, null, 'mxfp4 log2 edges');
    expectSameBytes(got, reference(GgmlType.MXFP4, src, 1, src.length, null), GgmlType.MXFP4, 'mxfp4 log2 edges');
    expect(qs.q.stats.fallbackBlocks - before).toBe(0);
  });
});
