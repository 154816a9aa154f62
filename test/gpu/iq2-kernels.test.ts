// The WGSL kernels of IQ2_XXS, IQ2_XS and IQ2_S against the CPU reference (src/quant/iq2_*.ts, itself
// byte-identical to llama.cpp): every test distribution with four imatrices (heavy-tailed, all ones, sparse
// with zero columns, all zero) and, for IQ2_S, without one (IQ2_XXS and IQ2_XS always need one,
// ggml_quantize_requires_imatrix); rows of 256 and 512 values, odd row counts (the block pairs end inside a
// chunk), and rows split over chunks. Exact byte equality throughout, and the number of blocks the host
// re-quantized exactly: 0 for every ordinary distribution, all of 'subnormal' on the paths whose
// super-block sigma2 squares the values (they underflow), none of 'all-zero'; only the 1e-30 rows of
// 'tiny-huge' are left open (and must satisfy the host rule, like every flagged block).
import { afterAll, describe, expect, test } from 'vitest';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { quantType } from '../../src/quant/registry.js';
import { DISTRIBUTIONS } from '../data/distributions.js';
import { gpuEnv, requireAdapterInCi } from './gpu-env.js';
import { imatrixVariants, kernelQuantizers, splitRows, sweepDistributions } from './kernel-cases.js';

const env = await gpuEnv();
requireAdapterInCi(env);

const TYPES = [GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ2_S];

afterAll(() => env.handle?.device.destroy());

describe.skipIf(!env.handle)('IQ2_XXS, IQ2_XS, IQ2_S kernels == CPU reference', () => {
  const qs = kernelQuantizers(env);

  for (const type of TYPES) {
    const { name } = typeLayout(type);
    const plain = quantType(type)!.imatrix !== 'required';
    const variants = plain ? 5 : 4;

    test(`${name}: the descriptor's imatrix use (${plain ? 'optional' : 'required'}) is llama.cpp's`, async () => {
      // ggml_quantize_requires_imatrix: IQ2_XXS and IQ2_XS; IQ2_S has a plain path (quantize_row_iq2_s_ref)
      expect(plain).toBe(type === GgmlType.IQ2_S);
      if (!plain) {
        await expect(qs.q.quantize(type, new Float32Array(256), 1, 256, null, 'no imatrix')).rejects.toThrow(/imatrix/);
      }
    });

    test(`${name}: ${DISTRIBUTIONS.length} distributions x ${variants} imatrix variants`, async () => {
      const { cases, blocks, device, ordinaryBlocks } = await sweepDistributions(qs.q, type, {
        shape: (d) => ({ nPerRow: d % 2 ? 512 : 256, nrows: 3 + 2 * ((d >> 1) % 2) }),
        imatrices: (nPerRow) => imatrixVariants(nPerRow, { plain }),
        // |x| ~ 1e-39: every sub-block is below the group epsilon (1e-15, IQ2_S 1e-8), so ggml writes zeros,
        // but the super-block sigma2 (spent on the weights, with an imatrix and on IQ2_S's plain path)
        // squares the values, which underflow: every block goes to the host
        hostBlocks: ({ dist, n }) => (dist === 'subnormal' ? n : dist === 'tiny-huge' ? null : 0),
      });
      expect(cases).toBe(DISTRIBUTIONS.length * variants);
      expect(device).toBeGreaterThanOrEqual(ordinaryBlocks);
      console.log(`${name}: ${blocks} blocks identical, ${device} on the device (${ordinaryBlocks} from ordinary distributions, all of which must be), ${blocks - device} by the host`);
    });

    test(`${name}: rows split over chunks`, async () => {
      await splitRows(qs.tiny, type, ['laplace', 'outliers', 'ties'], 3, 3 * 256, imatrixVariants(3 * 256, { plain }).slice(0, 2));
    });
  }
});
