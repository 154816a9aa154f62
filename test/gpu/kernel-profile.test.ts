// Kernel profiling (issue 8, item 3): with timestamp queries, a profiled quantizer times every compute pass
// (the convert pass of stored rows, the legacy row statistic, the quantize kernel) per type, with exact pass
// and block counts and a non-zero device time, and its bytes stay those of an unprofiled run and of the CPU
// path; a whole-file run under the stage profile prints the kernel table after the host stages. A device
// without the feature reports one line saying so, and an unprofiled quantizer holds no profile.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GpuQuantizer } from '../../src/gpu/quantize-gpu.js';
import { GpuBackend } from '../../src/gpu/backend.js';
import { nodeGpuDevice } from '../../src/node/gpu-device.js';
import { quantizeFile } from '../../src/node/index.js';
import { FileSink } from '../../src/node/file-io.js';
import { parseFtype } from '../../src/policy/ftype.js';
import { stageClock } from '../../src/pipeline/stage-clock.js';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { fp16ToFp32, fp32ToFp16 } from '../../src/core/half.js';
import { mulberry32, syntheticModel } from '../../src/synthetic-model.js';
import type { GpuDeviceHandle } from '../../src/gpu/device.js';
import { gpuEnv, requireAdapterInCi, reference, expectSameBytes } from './gpu-env.js';

const env = await gpuEnv(); // a device requested without timestamps (WEBGPU_QUANTIZE_PROFILE is not set here)
requireAdapterInCi(env);

const N_PER_ROW = 512;
const NROWS = 16;
/** 4096 values a chunk: 2 chunks of 8 whole rows each, for every type below */
const CHUNK_VALUES = 1 << 12;

/** F16 rows (as a file stores them) and the f32 values they hold */
function f16Rows(seed: number): { bytes: Uint8Array; f32: Float32Array } {
  const r = mulberry32(seed);
  const h = new Uint16Array(N_PER_ROW * NROWS);
  for (let i = 0; i < h.length; i++) h[i] = fp32ToFp16(0.05 * (r() - 0.5) * (1 + (i % 7)));
  return { bytes: new Uint8Array(h.buffer), f32: Float32Array.from(h, fp16ToFp32) };
}

const imatrix = Float32Array.from({ length: N_PER_ROW }, (_, i) => 0.5 + ((i * 37) % 11));

/** The table's row for `kernel`: passes, device ms, blocks, ns per block. */
function row(lines: string[], kernel: string): { passes: number; ms: number; blocks: number; nsPerBlock: number } | undefined {
  const l = lines.find((x) => x.startsWith(`profile: ${kernel} `) && /^\s*\d/.test(x.slice(`profile: ${kernel}`.length)));
  if (!l) return undefined;
  const [passes, ms, blocks, nsPerBlock] = l.slice(`profile: ${kernel}`.length).trim().split(/\s+/).map(Number);
  return { passes, ms, blocks, nsPerBlock };
}

describe.skipIf(!env.handle)('kernel profile (timestamp queries)', () => {
  let timed: GpuDeviceHandle;
  let tmp: string;
  beforeAll(async () => {
    timed = await nodeGpuDevice({ timestamps: true, log: () => {} });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-kprof-'));
  });
  afterAll(() => {
    timed?.device.destroy();
    env.handle?.device.destroy();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('every pass of every kernel is timed, with exact counts; the bytes are unchanged', async () => {
    const hasFeature = timed.device.features.has('timestamp-query');
    const q = await GpuQuantizer.create({ handle: { ...timed, owned: false }, maxChunkValues: CHUNK_VALUES, profileKernels: true });
    const plain = await GpuQuantizer.create({ handle: { ...timed, owned: false }, maxChunkValues: CHUNK_VALUES, profileKernels: false });
    try {
      expect(plain.kernelProfile, 'an unprofiled quantizer holds no profile').toBeNull();
      expect(q.kernelProfile!.timestamps).toBe(hasFeature);
      if (!hasFeature) {
        const lines = q.kernelProfile!.lines(1000);
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(/has no timestamp-query feature/);
        return; // the adapter has no timestamp queries: the note is all there is to check
      }
      const a = f16Rows(1);
      const b = f16Rows(2);
      const runs = [
        // stored F16 with the legacy imatrix path: convert, row statistic and kernel passes
        { type: GgmlType.Q4_0, rows: { type: GgmlType.F16, bytes: a.bytes, firstRow: 0 } as const, f32: a.f32, im: imatrix, blocks: (N_PER_ROW * NROWS) / 32 },
        // stored F16, a K-quant with imatrix: convert and kernel passes
        { type: GgmlType.Q4_K, rows: { type: GgmlType.F16, bytes: b.bytes, firstRow: 0 } as const, f32: b.f32, im: imatrix, blocks: (N_PER_ROW * NROWS) / 256 },
        // f32 values: the kernel pass only
        { type: GgmlType.Q8_0, rows: a.f32, f32: a.f32, im: null, blocks: (N_PER_ROW * NROWS) / 32 },
      ];
      for (const r of runs) {
        const got = await q.quantize(r.type, r.rows, NROWS, N_PER_ROW, r.im, `t-${r.type}`);
        const want = await plain.quantize(r.type, r.rows, NROWS, N_PER_ROW, r.im, `t-${r.type}`);
        expectSameBytes(got, want, r.type, `type ${r.type}: profiled == unprofiled`);
        expectSameBytes(got, reference(r.type, r.f32, NROWS, N_PER_ROW, r.im), r.type, `type ${r.type}: profiled == CPU`);
      }
      const lines = q.kernelProfile!.lines(1000);
      const expected: [string, number][] = [
        ['q4_0 convert f16', 256], ['q4_0 row-sigma2', 256], ['q4_0 quantize +imatrix', 256],
        ['q4_K convert f16', 32], ['q4_K quantize +imatrix', 32],
        ['q8_0 quantize', 256],
      ];
      for (const [kernel, blocks] of expected) {
        const r = row(lines, kernel);
        expect(r, `${kernel} in\n${lines.join('\n')}`).toBeDefined();
        expect(r!.passes, kernel).toBe(2); // 2 chunks, one pass each
        expect(r!.blocks, kernel).toBe(blocks);
        expect(r!.ms, kernel).toBeGreaterThan(0);
        expect(r!.nsPerBlock, kernel).toBeGreaterThan(0);
      }
      // the kernels above and the total, nothing else
      expect(lines.filter((l) => /^profile: .*\s\d+\s+[\d.]+\s+\d+\s+[\d.]+\s+[\d.]+%$/.test(l))).toHaveLength(expected.length);
      expect(row(lines, 'all kernels')!.passes).toBe(2 * expected.length);
      expect(plain.kernelProfile).toBeNull();
    } finally {
      await q.destroy();
      await plain.destroy();
    }
  });

  test('a device without timestamp-query: one line says so; unprofiled by default', async () => {
    // WEBGPU_QUANTIZE_PROFILE is not set: the device was requested without the feature, a quantizer holds no profile
    expect(stageClock.on).toBe(false);
    expect(env.handle!.device.features.has('timestamp-query'), 'requested without timestamps').toBe(false);
    const byDefault = await GpuQuantizer.create({ handle: { ...timed, owned: false } });
    expect(byDefault.kernelProfile, 'no profile unless asked for').toBeNull();
    await byDefault.destroy();
    const q = await GpuQuantizer.create({ handle: { ...env.handle!, owned: false }, maxChunkValues: CHUNK_VALUES, profileKernels: true });
    try {
      const a = f16Rows(3);
      await q.quantize(GgmlType.Q8_0, a.f32, NROWS, N_PER_ROW, null, 'no-ts');
      expect(q.kernelProfile!.timestamps).toBe(false);
      expect(q.kernelProfile!.snapshot().size, 'no pass timed').toBe(0);
      const lines = q.kernelProfile!.lines(1000);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^profile: kernels: .* has no timestamp-query feature/);
    } finally {
      await q.destroy();
    }
  });

  test('a whole-file run under WEBGPU_QUANTIZE_PROFILE prints the kernel table after the host stages', async () => {
    const input = path.join(tmp, 'model-f16.gguf');
    await syntheticModel({ nLayer: 1, nEmbd: 256, nFf: 512, nHead: 4, nHeadKv: 1, nVocab: 320, untiedOutput: true, dtype: GgmlType.F16, seed: 5, name: 'kprof' })
      .write(await FileSink.create(input));
    const hasFeature = timed.device.features.has('timestamp-query');
    const gpu = new GpuBackend(await GpuQuantizer.create({ handle: { ...timed, owned: false }, profileKernels: true }), { widenOnDevice: true });
    stageClock.enable();
    try {
      const f = parseFtype('Q4_0')!;
      const lines: string[] = [];
      const log = { info: (l: string) => lines.push(l), warn: () => {} };
      // twice: the second run's table is that run's alone
      for (let i = 0; i < 2; i++) {
        lines.length = 0;
        const res = await quantizeFile({ input, output: path.join(tmp, 'out.gguf'), options: { ftype: f.id, ftypeName: f.name, nthreads: 1 }, backend: gpu, log });
        const stages = lines.findIndex((l) => l.startsWith('profile: wall'));
        expect(stages, lines.join('\n')).toBeGreaterThanOrEqual(0);
        if (!hasFeature) {
          expect(lines.filter((l) => /has no timestamp-query feature/.test(l))).toHaveLength(1);
          continue;
        }
        const header = lines.findIndex((l) => l.startsWith('profile: kernel (timestamp-query)'));
        expect(header, lines.join('\n')).toBeGreaterThan(stages);
        // one pass per tensor of each target type (every tensor fits one chunk), and one convert pass each
        const byType = new Map<string, { tensors: number; blocks: number }>();
        for (const e of res.plan.entries.filter((x) => x.quantize)) {
          const { name, blockSize } = typeLayout(e.targetType);
          const t = byType.get(name) ?? { tensors: 0, blocks: 0 };
          t.tensors++;
          t.blocks += (e.ne[0] * e.ne[1] * e.ne[2] * e.ne[3]) / blockSize;
          byType.set(name, t);
        }
        expect([...byType.keys()].sort()).toEqual(['q4_0', 'q6_K']);
        for (const [name, t] of byType) {
          for (const kernel of [`${name} convert f16`, `${name} quantize`]) {
            const r = row(lines, kernel);
            expect(r, `${kernel} in\n${lines.join('\n')}`).toBeDefined();
            expect(r!.passes, kernel).toBe(t.tensors);
            expect(r!.blocks, kernel).toBe(t.blocks);
            expect(r!.ms, kernel).toBeGreaterThan(0);
          }
        }
      }
    } finally {
      await gpu.close();
    }
  });
});
