// The WGSL kernels of IQ1_S and IQ1_M against the CPU reference (src/quant/iq1_s.ts, itself byte-identical to
// llama.cpp): every test distribution with four imatrices (heavy-tailed, all ones, sparse, all zero) and,
// for IQ1_M, without one (IQ1_S always needs one); row lengths 256 and 512, odd row counts (so IQ1_S's
// block pairs end inside a chunk), and rows split over chunks. Exact byte equality throughout. Every block
// of an ordinary distribution must be computed on the device (fallback count exactly 0); all-subnormal data
// goes to the host block for block on the imatrix paths (its squares underflow in sigma2) and stays on the
// device on IQ1_M's plain path; only the 1e-30 rows of 'tiny-huge' are left open.
import { afterAll, describe, expect, test } from 'vitest';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { DISTRIBUTIONS } from '../data/distributions.js';
import { gpuEnv, requireAdapterInCi } from './gpu-env.js';
import { imatrixVariants, kernelQuantizers, splitRows, sweepDistributions } from './kernel-cases.js';

const env = await gpuEnv();
requireAdapterInCi(env);

afterAll(() => env.handle?.device.destroy());

describe.skipIf(!env.handle)('IQ1_S, IQ1_M kernels == CPU reference', () => {
  const qs = kernelQuantizers(env);

  for (const type of [GgmlType.IQ1_S, GgmlType.IQ1_M]) {
    const { name } = typeLayout(type);
    // IQ1_S requires an imatrix (ggml_quantize_requires_imatrix); IQ1_M also runs without one
    const plain = type === GgmlType.IQ1_M;
    const variants = plain ? 5 : 4;
    test(`${name}: ${DISTRIBUTIONS.length} distributions x ${variants} imatrix variants`, async () => {
      const { cases, blocks, device, ordinaryBlocks } = await sweepDistributions(qs.q, type, {
        shape: (d) => ({ nPerRow: d % 2 ? 512 : 256, nrows: 3 + 2 * ((d >> 1) % 2) }),
        imatrices: (nPerRow) => imatrixVariants(nPerRow, { plain }),
        // subnormal: the imatrix path's sigma2 squares every value (underflow: flagged); without one, every
        // sub-block is below IQ1_M's eps and nothing is computed (all on the device)
        hostBlocks: ({ dist, im, n }) => (dist === 'subnormal' ? (im ? n : 0) : dist === 'tiny-huge' ? null : 0),
      });
      expect(cases).toBe(DISTRIBUTIONS.length * variants);
      expect(device).toBeGreaterThanOrEqual(ordinaryBlocks);
      console.log(`${name}: ${blocks} blocks identical, ${device} on the device (${ordinaryBlocks} from ordinary distributions, all of which must be), ${blocks - device} by the host`);
    });

    test(`${name}: rows split over chunks`, async () => {
      await splitRows(qs.tiny, type, ['laplace', 'outliers', 'ties'], 3, 3 * 256, imatrixVariants(3 * 256, { plain }).slice(0, plain ? 2 : 1));
    });
  }
});
