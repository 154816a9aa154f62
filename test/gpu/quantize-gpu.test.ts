// GPU quantization against the CPU reference (src/quant, itself byte-identical to llama.cpp; the oracle
// stands in for a type the registry lacks): every test distribution, with and without imatrix, odd block
// counts, one-row tensors, chunk edges (tiny chunks, rows split over chunks), folded dispatches, the
// stored F32/F16/BF16 rows widened on the device, and the host fallback for blocks the kernels flag.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GpuQuantizer } from '../../src/gpu/quantize-gpu.js';
import { foldDispatch } from '../../src/gpu/chunk-plan.js';
import { GgmlType, QK_K, typeLayout } from '../../src/core/ggml-type.js';
import { gpuKernel, gpuKernelTypes } from '../../src/gpu/kernels.js';
import { DISTRIBUTIONS, generate, generateImatrix } from '../data/distributions.js';
import { expectSameBytes, gpuEnv, reference, requireAdapterInCi } from './gpu-env.js';
import { fp32ToBf16, fp32ToFp16 } from '../../src/core/half.js';
import { toFloat32 } from '../../src/formats/gguf-model.js';
import { firstNonFinite } from '../../src/quant/validate.js';

const env = await gpuEnv();
requireAdapterInCi(env);

/** every kernel with blocks below a 256-value super-block (those are in kquant-kernels.test.ts) */
const TYPES = gpuKernelTypes().filter((t) => typeLayout(t).blockSize < QK_K);

const shared = () => ({ ...env.handle!, owned: false });
afterAll(() => env.handle?.device.destroy());

describe.skipIf(!env.handle)('GPU quantize == CPU reference', () => {
  let q: GpuQuantizer;
  let tiny: GpuQuantizer;
  let folded: GpuQuantizer;
  beforeAll(async () => {
    q = await GpuQuantizer.create({ handle: shared() });
    // 2 blocks of 32 per chunk: rows split over chunks, many chunks in flight
    tiny = await GpuQuantizer.create({ handle: shared(), maxChunkValues: 64, inFlight: 2 });
    // at most 2 workgroups per dimension: every dispatch above 128 invocations is folded into y
    folded = await GpuQuantizer.create({ handle: shared(), maxWorkgroupsPerDimension: 2, inFlight: 1 });
  });
  afterAll(async () => {
    for (const x of [q, tiny, folded]) await x?.destroy();
  });

  for (const type of TYPES) {
    const t = typeLayout(type);
    const imUsed = gpuKernel(type)!.imatrix !== 'ignored';
    test(`${t.name}: ${DISTRIBUTIONS.length} distributions x (no imatrix, imatrix)`, async () => {
      // 3 rows of 5 blocks: block pairs straddle rows; F16/BF16 get an odd value count
      const nrows = 3;
      const nPerRow = t.blockSize === 1 ? 161 : 5 * t.blockSize;
      const imatrix = generateImatrix(nPerRow, 17);
      let cases = 0;
      let subnormalHost = 0;
      for (const dist of DISTRIBUTIONS) {
        for (const im of [null, imatrix]) {
          const src = generate(dist, nrows, nPerRow, 23);
          const before = q.stats.fallbackBlocks;
          const got = await q.quantize(type, src, nrows, nPerRow, im, `${dist}${im ? '+imatrix' : ''}`);
          expectSameBytes(got, reference(type, src, nrows, nPerRow, im), type, `${t.name} ${dist}${im ? ' imatrix' : ''}`);
          // the host rule (src/gpu/fallback.ts mayNeedHostPath) must explain every flagged block
          expect(q.stats.ordinaryFallbackBlocks, `${t.name} ${dist}${im ? ' imatrix' : ''}: ordinary blocks on the host`).toBe(0);
          // ordinary weights (zeros, ties and sparse rows included) never need the host path; values at the
          // edge of the binary32 range (squares below 2^-126) do
          if (dist !== 'subnormal' && dist !== 'tiny-huge') expect(q.stats.fallbackBlocks - before, dist).toBe(0);
          if (dist === 'subnormal') subnormalHost += q.stats.fallbackBlocks - before;
          cases++;
        }
      }
      expect(cases).toBe(DISTRIBUTIONS.length * 2);
      // subnormal data reaches the host path (IQ4_NL's plain path only sees blocks below its 1e-15 threshold,
      // scale 0 and no float operation on the values: its imatrix pass, whose x² underflow, is the one flagged)
      if (t.blockSize > 1) expect(subnormalHost, 'subnormal blocks redone by the host').toBeGreaterThan(0);
    });

    test(`${t.name}: chunk edges, one row, folded dispatches${imUsed ? ', imatrix' : ''}`, async () => {
      const shapes: [number, number][] = t.blockSize === 1
        ? [[1, 1], [1, 63], [3, 129], [2, 1000]]
        : [[1, t.blockSize], [1, 7 * t.blockSize], [5, 3 * t.blockSize], [2, 9 * t.blockSize], [4, 64 * t.blockSize]];
      for (const [nrows, nPerRow] of shapes) {
        for (const dist of ['laplace', 'edge-blocks', 'tiny-huge'] as const) {
          const src = generate(dist, nrows, nPerRow, nrows * 31 + nPerRow);
          const im = imUsed ? generateImatrix(nPerRow, nPerRow) : null;
          const want = reference(type, src, nrows, nPerRow, im);
          for (const [name, qq] of [['tiny chunks', tiny], ['folded', folded]] as const) {
            const got = await qq.quantize(type, src, nrows, nPerRow, im, `${dist} ${nrows}x${nPerRow}`);
            expectSameBytes(got, want, type, `${t.name} ${name} ${dist} ${nrows}x${nPerRow}`);
            expect(qq.stats.ordinaryFallbackBlocks, `${t.name} ${name} ${dist} ${nrows}x${nPerRow}: ordinary blocks on the host`).toBe(0);
          }
        }
      }
      expect(folded.stats.blocks).toBeGreaterThan(0);
    });
  }

  test('stored rows (F32, F16, BF16) are widened on the device: same bytes as the CPU on the widened values, ordered async sink', async () => {
    const cases = [[GgmlType.Q4_1, 6, 256, q], [GgmlType.Q5_0, 3, 320, tiny], [GgmlType.F16, 5, 78, tiny], [GgmlType.Q8_0, 4, 96, q]] as const;
    let checked = 0;
    for (const stored of [GgmlType.F32, GgmlType.F16, GgmlType.BF16] as const) {
      for (const [type, nrows, nPerRow, qq] of cases) {
        for (const dist of ['student-t', 'edge-blocks', 'subnormal'] as const) {
          const bytes = storedBytes(stored, generate(dist, nrows, nPerRow, 5));
          const widened = toFloat32(stored, bytes);
          expect(firstNonFinite(widened), `${dist} as ${typeLayout(stored).name}`).toBe(-1);
          const im = type === GgmlType.F16 || type === GgmlType.Q8_0 ? null : generateImatrix(nPerRow, 9);
          const want = reference(type, widened, nrows, nPerRow, im);
          const out = new Uint8Array(want.length);
          let next = 0;
          const uploaded = qq.stats.uploadedBytes;
          await qq.run({
            type, nrows, nPerRow, imatrix: im, label: 'stored',
            rows: { type: stored, bytes, firstRow: 0 },
            sink: async (off, got) => {
              expect(off).toBe(next);
              await new Promise((r) => setTimeout(r, 1));
              out.set(got, off);
              next = off + got.length;
            },
          });
          expect(next).toBe(want.length);
          // the upload is the stored bytes, not f32
          expect(qq.stats.uploadedBytes - uploaded).toBe(bytes.length);
          expectSameBytes(out, want, type, `stored ${typeLayout(stored).name} -> ${typeLayout(type).name} ${dist}`);
          checked++;
        }
      }
    }
    expect(checked).toBe(36);
  });
});

/** f32 values stored as F32, F16 or BF16 (ggml's rounding), as a file holds them */
function storedBytes(type: GgmlType.F32 | GgmlType.F16 | GgmlType.BF16, v: Float32Array): Uint8Array {
  if (type === GgmlType.F32) return new Uint8Array(v.slice().buffer);
  const h = new Uint16Array(v.length);
  for (let i = 0; i < v.length; i++) h[i] = type === GgmlType.F16 ? fp32ToFp16(v[i]) : fp32ToBf16(v[i]);
  return new Uint8Array(h.buffer);
}

describe.skipIf(!env.handle)('GPU quantize: concurrent tensors share the chunks in flight', () => {
  test('six tensors of four types at once, through three slots', async () => {
    const q = await GpuQuantizer.create({ handle: { ...env.handle!, owned: false }, maxChunkValues: 512, inFlight: 3 });
    const jobs = [GgmlType.Q4_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.F16, GgmlType.Q4_0, GgmlType.Q5_0].map((type, k) => {
      const nPerRow = 256 * (1 + (k % 3));
      const src = generate(DISTRIBUTIONS[k], 7, nPerRow, k);
      const im = k % 2 ? generateImatrix(nPerRow, k) : null;
      return { type, src, nPerRow, im, done: q.quantize(type, src, 7, nPerRow, im, `t${k}`) };
    });
    for (const j of jobs) expectSameBytes(await j.done, reference(j.type, j.src, 7, j.nPerRow, j.im), j.type, `concurrent ${typeLayout(j.type).name}`);
    expect(q.stats.chunks).toBeGreaterThan(20);
    await q.destroy();
  });
});

describe.skipIf(!env.handle)('GPU quantize: more than 65,535 workgroups in one dispatch', () => {
  test('F16 over 8.4M values in one chunk', async () => {
    const q = await GpuQuantizer.create({ handle: { ...env.handle!, owned: false }, maxChunkValues: 9 << 20 });
    const nrows = 4;
    const nPerRow = (64 * 65536 * 2 + 256) / 4; // 2 values per invocation, 64 per workgroup: 65,538 workgroups
    expect(foldDispatch(nrows * nPerRow / 2, 64, 65535)[1]).toBe(2);
    const src = generate('gauss', nrows, nPerRow, 3);
    const got = await q.quantize(GgmlType.F16, src, nrows, nPerRow, null, 'big');
    expect(q.stats.chunks).toBe(1);
    expectSameBytes(got, reference(GgmlType.F16, src, nrows, nPerRow, null), GgmlType.F16, 'F16 8.4M');
    await q.destroy();
  });
});
