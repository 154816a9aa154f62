// Failure paths of the GPU host: unsupported types and bad shapes are refused up front, errors of the
// caller's row source and sink come back unchanged and leave the quantizer usable, and a lost device
// turns into GpuError('device-lost') naming the tensor, with destroy() still completing.
import { afterAll, describe, expect, test } from 'vitest';
import { GpuQuantizer } from '../../src/gpu/quantize-gpu.js';
import { nodeGpuDevice } from '../../src/node/gpu-device.js';
import { GpuError, UnsupportedTypeError } from '../../src/errors.js';
import { GgmlType } from '../../src/core/ggml-type.js';
import { generate } from '../data/distributions.js';
import { expectSameBytes, gpuEnv, reference, requireAdapterInCi } from './gpu-env.js';

const env = await gpuEnv();
requireAdapterInCi(env);
afterAll(() => env.handle?.device.destroy());

describe.skipIf(!env.handle)('GPU host failure paths', () => {
  test('types without a kernel and malformed requests are refused', async () => {
    const q = await GpuQuantizer.create({ handle: { ...env.handle!, owned: false } });
    const src = generate('gauss', 2, 64, 1);
    expect(q.supports(GgmlType.Q8_0)).toBe(true);
    expect(q.supports(GgmlType.IQ2_XXS)).toBe(false);
    await expect(q.quantize(GgmlType.IQ2_XXS, new Float32Array(256), 1, 256, null, 't')).rejects.toBeInstanceOf(UnsupportedTypeError);
    await expect(q.quantize(GgmlType.Q8_0, src, 2, 48, null, 'bad-row')).rejects.toThrow(/bad-row.*48 values is not a multiple/);
    await expect(q.quantize(GgmlType.Q8_0, src, 3, 64, null, 'short')).rejects.toThrow(/'short': 128 values given for 3 x 64/);
    await expect(q.quantize(GgmlType.Q4_0, src, 2, 64, new Float32Array(32), 'im')).rejects.toThrow(/imatrix has 32 values, rows have 64/);
    expect((await q.quantize(GgmlType.Q8_0, new Float32Array(0), 0, 64, null, 'empty')).length).toBe(0);
    await q.destroy();
    await expect(q.quantize(GgmlType.Q8_0, src, 2, 64, null, 'late')).rejects.toBeInstanceOf(GpuError);
  });

  test('sink and row-source errors propagate unchanged; the quantizer keeps working', async () => {
    const q = await GpuQuantizer.create({ handle: { ...env.handle!, owned: false }, maxChunkValues: 128, inFlight: 3 });
    const src = generate('laplace', 8, 128, 2);
    const boom = new Error('disk full');
    let seen = 0;
    await expect(q.run({
      type: GgmlType.Q4_0, nrows: 8, nPerRow: 128, imatrix: null, label: 'sink',
      rows: src,
      sink: () => { if (++seen === 3) throw boom; },
    })).rejects.toBe(boom);
    expect(seen).toBe(3); // nothing is delivered after a failure
    const bad = new RangeError('no such rows');
    await expect(q.run({
      type: GgmlType.Q4_0, nrows: 8, nPerRow: 128, imatrix: null, label: 'rows',
      rows: (r0) => { if (r0 >= 4) throw bad; return src.subarray(r0 * 128, (r0 + 1) * 128); },
      sink: () => {},
    })).rejects.toBe(bad);
    const got = await q.quantize(GgmlType.Q4_0, src, 8, 128, null, 'after');
    expectSameBytes(got, reference(GgmlType.Q4_0, src, 8, 128, null), GgmlType.Q4_0, 'after failures');
    await q.destroy();
  });

  test('a lost device fails the tensor with GpuError(device-lost)', async () => {
    const own = await nodeGpuDevice({ log: () => {} });
    const q = await GpuQuantizer.create({ handle: own, log: () => {} });
    const src = generate('gauss', 4, 256, 3);
    await q.quantize(GgmlType.Q8_0, src, 4, 256, null, 'before');
    own.device.destroy();
    await own.device.lost;
    const err = await q.quantize(GgmlType.Q8_0, src, 4, 256, null, 'blk.0.attn_q.weight').catch((e) => e);
    expect(err).toBeInstanceOf(GpuError);
    expect((err as GpuError).kind).toBe('device-lost');
    expect((err as Error).message).toContain("'blk.0.attn_q.weight'");
    await q.destroy();
  });
});
