// Failure paths of the GPU host: unsupported types and bad shapes are refused up front, errors of the
// caller's sink and an Inf/NaN in stored rows (the CPU path's error) come back unchanged and leave the
// quantizer usable, and a lost device turns into GpuError('device-lost') naming the tensor, with destroy() still completing.
import { afterAll, describe, expect, test } from 'vitest';
import { GpuQuantizer } from '../../src/gpu/quantize-gpu.js';
import { nodeGpuDevice } from '../../src/node/gpu-device.js';
import { GpuError, InvalidWeightsError, UnsupportedTypeError } from '../../src/errors.js';
import { storedToF32 } from '../../src/pipeline/stored-rows.js';
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
    // every quantization target has a kernel now; NVFP4 (no CPU reference either) and Q8_K (ggml's dot-product
    // type, never a target) have none
    expect(q.supports(GgmlType.IQ2_XXS)).toBe(true);
    for (const t of [GgmlType.NVFP4, GgmlType.Q8_K]) {
      expect(q.supports(t)).toBe(false);
      await expect(q.quantize(t, new Float32Array(256), 1, 256, null, 't')).rejects.toBeInstanceOf(UnsupportedTypeError);
    }
    await expect(q.quantize(GgmlType.Q8_0, src, 2, 48, null, 'bad-row')).rejects.toThrow(/bad-row.*48 values is not a multiple/);
    await expect(q.quantize(GgmlType.Q8_0, src, 3, 64, null, 'short')).rejects.toThrow(/'short': 128 values given for 3 x 64/);
    await expect(q.quantize(GgmlType.Q4_0, src, 2, 64, new Float32Array(32), 'im')).rejects.toThrow(/imatrix has 32 values, rows have 64/);
    expect((await q.quantize(GgmlType.Q8_0, new Float32Array(0), 0, 64, null, 'empty')).length).toBe(0);
    await q.destroy();
    await expect(q.quantize(GgmlType.Q8_0, src, 2, 64, null, 'late')).rejects.toBeInstanceOf(GpuError);
  });

  test('sink errors propagate unchanged; the quantizer keeps working', async () => {
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
    const got = await q.quantize(GgmlType.Q4_0, src, 8, 128, null, 'after');
    expectSameBytes(got, reference(GgmlType.Q4_0, src, 8, 128, null), GgmlType.Q4_0, 'after failures');
    await q.destroy();
  });

  test('an Inf/NaN in stored rows fails with the CPU path\'s one-line error, at the first bad value', async () => {
    // 64-value chunks: the bad values sit in later chunks, the first in order is reported
    const q = await GpuQuantizer.create({ handle: { ...env.handle!, owned: false }, maxChunkValues: 64, inFlight: 3 });
    const nrows = 6, nPerRow = 128;
    for (const [stored, w] of [[GgmlType.F32, 4], [GgmlType.F16, 2], [GgmlType.BF16, 2]] as const) {
      const bytes = new Uint8Array(nrows * nPerRow * w);
      const view = new DataView(bytes.buffer);
      const put = (i: number, bits: number) => (w === 4 ? view.setUint32(i * 4, bits, true) : view.setUint16(i * 2, bits, true));
      const inf = stored === GgmlType.F32 ? 0xff800000 : stored === GgmlType.F16 ? 0xfc00 : 0xff80; // -Inf
      const nan = stored === GgmlType.F32 ? 0x7fc00000 : stored === GgmlType.F16 ? 0x7e00 : 0x7fc0;
      put(3 * nPerRow + 77, inf);
      put(4 * nPerRow + 5, nan);
      const rows = { type: stored, bytes, firstRow: 40 };
      let want = '';
      try {
        storedToF32('blk.3.ffn_up.weight', rows, nPerRow);
      } catch (e) {
        want = (e as Error).message;
      }
      expect(want).toBe("tensor 'blk.3.ffn_up.weight': input data has a non-finite value (-Infinity) at row 43, column 77");
      const err = await q.run({ type: GgmlType.Q4_0, nrows, nPerRow, imatrix: null, label: 'blk.3.ffn_up.weight', rows, sink: () => {} }).catch((e) => e);
      expect(err).toBeInstanceOf(InvalidWeightsError);
      expect((err as Error).message).toBe(want);
    }
    const src = generate('laplace', 2, 128, 1);
    expectSameBytes(await q.quantize(GgmlType.Q4_0, src, 2, 128, null, 'after'), reference(GgmlType.Q4_0, src, 2, 128, null), GgmlType.Q4_0, 'after an input error');
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
