/**
 * The one backend decision (src/pipeline/choose-backend.ts, called by the CLI and the page) and the GPU
 * backend's handling of types without a kernel: `gpu` refuses them in one line naming the type, `auto` runs
 * them on the CPU path and says so, and a quantize run on a GPU backend prints where its blocks went.
 * Stand-in quantizers: no device needed.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UnsupportedTypeError } from '../../src/errors.js';
import { GpuBackend } from '../../src/gpu/backend.js';
import type { GpuQuantizer, GpuQuantizerStats } from '../../src/gpu/quantize-gpu.js';
import { openGgufModelFile } from '../../src/node/file-io.js';
import { InlineCpuBackend, quantizeOnCpu } from '../../src/pipeline/backend.js';
import { chooseBackend, type GpuRequest } from '../../src/pipeline/choose-backend.js';
import { defaultOptions } from '../../src/pipeline/options.js';
import { quantizeModel, type RunLog } from '../../src/pipeline/quantize-model.js';
import { parseFtype } from '../../src/policy/ftype.js';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { toFloat32 } from '../../src/formats/gguf-model.js';
import type { StoredRows } from '../../src/pipeline/stored-rows.js';
import { SYNTH_DIR } from '../golden/shared-paths.js';

/** a GpuQuantizer stand-in: "kernels" for `kernels` (computed by the CPU reference), counted like the real one */
function fakeQuantizer(kernels: GgmlType[], isSoftware = false): GpuQuantizer {
  const stats: GpuQuantizerStats = { chunks: 0, blocks: 0, fallbackBlocks: 0, fallbackRows: 0, ordinaryFallbackBlocks: 0, uploadedBytes: 0 };
  return {
    adapterName: isSoftware ? 'fake software' : 'fake hardware', isSoftware, stats,
    supports: (t: GgmlType) => kernels.includes(t),
    async quantize(type: GgmlType, src: Float32Array | StoredRows, nrows: number, nPerRow: number, imatrix: Float32Array | null, label: string) {
      stats.blocks += (nrows * nPerRow) / typeLayout(type).blockSize;
      // a hardware GpuBackend hands over the rows as stored (widened on the device by the real one)
      const f32 = src instanceof Float32Array ? src : toFloat32(src.type, src.bytes);
      return quantizeOnCpu({ type, src: f32, nrows, nPerRow, imatrix, label });
    },
    destroy: async () => {},
  } as unknown as GpuQuantizer;
}

function recorder(): RunLog & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (l) => lines.push(l), warn: (l) => lines.push(l) };
}

async function runQ4_0(backend: GpuBackend, log: RunLog) {
  const model = await openGgufModelFile(path.join(SYNTH_DIR, 'synth-f32.gguf'));
  const f = parseFtype('Q4_0')!;
  let written = 0;
  try {
    return await quantizeModel({
      model, options: { ...defaultOptions(), ftype: f.id, ftypeName: f.name, pure: true }, imatrix: null, backend, outputPath: 'x.gguf', log,
      openOutput: async () => ({ name: 'x.gguf', bytesWritten: 0, write: async (c: Uint8Array) => { written += c.length; }, close: async () => {}, abort: async () => {} }),
    }).then((r) => ({ r, written }));
  } finally {
    await model.close();
  }
}

describe('GpuBackend and types without a kernel', () => {
  it('gpu (strict): refuses before writing anything, in one line naming the type', async () => {
    const log = recorder();
    const run = runQ4_0(new GpuBackend(fakeQuantizer([GgmlType.Q8_0])), log);
    await expect(run).rejects.toThrow(UnsupportedTypeError);
    await expect(run).rejects.toThrow(/^tensor '[^']+' needs type q4_0, which has no GPU kernel yet: the gpu backend runs GPU kernels only \(the auto or cpu backend runs q4_0 on the CPU path\)$/);
    expect(log.lines.filter((l) => l.startsWith('['))).toEqual([]);
  });

  it('auto: runs the type on the CPU path, says so once, and counts those blocks', async () => {
    const log = recorder();
    const { r, written } = await runQ4_0(new GpuBackend(fakeQuantizer([GgmlType.Q8_0]), { cpuForMissingKernels: true, log: (l) => log.lines.push(l) }), log);
    expect(written).toBeGreaterThan(0);
    expect(log.lines.filter((l) => /no GPU kernel/.test(l))).toEqual(['webgpu-quantize: no GPU kernel for q4_0 yet: its tensors run on the CPU path']);
    const blocks = r.plan.entries.filter((e) => e.quantize).reduce((n, e) => n + (e.ne[0] * e.ne[1]) / typeLayout(e.targetType).blockSize, 0);
    expect(r.blockCounts).toEqual({ device: 0, fallback: 0, ordinaryFallback: 0, noKernel: blocks });
    expect(log.lines).toContain(`webgpu-quantize: blocks computed on the device 0, via the host fallback 0 (flagged subnormal/overflow; ordinary among them 0), on the CPU path for want of a GPU kernel ${blocks}`);
  });

  it('a GPU run prints one line with its device and fallback counts', async () => {
    const log = recorder();
    const { r } = await runQ4_0(new GpuBackend(fakeQuantizer([GgmlType.Q4_0])), log);
    const blocks = r.plan.entries.filter((e) => e.quantize).reduce((n, e) => n + (e.ne[0] * e.ne[1]) / typeLayout(e.targetType).blockSize, 0);
    expect(blocks).toBeGreaterThan(0);
    expect(log.lines.filter((l) => l.startsWith('webgpu-quantize: blocks computed'))).toEqual([
      `webgpu-quantize: blocks computed on the device ${blocks}, via the host fallback 0 (flagged subnormal/overflow; ordinary among them 0)`,
    ]);
  });
});

describe('chooseBackend: one decision for the CLI and the page', () => {
  const cpu = new InlineCpuBackend();
  function makers(result: 'hardware' | 'software' | 'none') {
    const asked: GpuRequest[] = [];
    return {
      asked,
      make: {
        async gpu(req: GpuRequest) {
          asked.push(req);
          if (result === 'none') throw new Error('no adapter here');
          return new GpuBackend(fakeQuantizer([], result === 'software'), req);
        },
        cpu: () => cpu,
        forceGpu: '--backend gpu',
      },
    };
  }

  it.each([
    // choice, adapter, backend, request made (null: none), notice
    ['cpu', 'hardware', 'cpu', null, null],
    ['auto', 'hardware', 'gpu', { allowSoftware: false, cpuForMissingKernels: true }, null],
    ['auto', 'software', 'cpu', { allowSoftware: false, cpuForMissingKernels: true }, /^webgpu-quantize: only a software GPU adapter \(fake software\); using the CPU path \(--backend gpu forces it\)$/],
    ['auto', 'none', 'cpu', { allowSoftware: false, cpuForMissingKernels: true }, /^webgpu-quantize: no usable GPU adapter \(no adapter here\); using the CPU path/],
    ['gpu', 'hardware', 'gpu', { allowSoftware: true, cpuForMissingKernels: false }, null],
    ['gpu', 'software', 'gpu', { allowSoftware: true, cpuForMissingKernels: false }, null],
  ] as const)('%s with a %s adapter: %s', async (choice, adapter, kind, request, notice) => {
    const { asked, make } = makers(adapter);
    const log = recorder();
    const b = await chooseBackend(choice, make, log);
    expect(b.kind).toBe(kind);
    expect(asked).toEqual(request ? [request] : []);
    if (notice) expect(log.lines).toEqual([expect.stringMatching(notice)]);
    else expect(log.lines).toEqual([]);
  });

  it('gpu without an adapter fails with the reason', async () => {
    await expect(chooseBackend('gpu', makers('none').make, recorder())).rejects.toThrow('no adapter here');
  });
});
