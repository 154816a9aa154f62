// Whole files through the GPU backend with stored rows widened on the device (F16 and BF16 models): the
// output is byte-identical to the CPU path's, the device computed the blocks, the upload was the stored
// bytes (not f32), MoE expert segments keep their imatrix slices, and an Inf in an F16 weight fails with the CPU path's one-line error and no output.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { quantizeFile } from '../../src/node/index.js';
import { FileSink } from '../../src/node/file-io.js';
import { InlineCpuBackend } from '../../src/pipeline/backend.js';
import { GpuBackend } from '../../src/gpu/backend.js';
import { GpuQuantizer } from '../../src/gpu/quantize-gpu.js';
import { parseFtype } from '../../src/policy/ftype.js';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { syntheticModel, type SyntheticSpec } from '../../src/synthetic-model.js';
import { imatrixGgufBytes, makeImatrixStats } from '../data/imatrix-files.js';
import { gpuEnv, requireAdapterInCi } from './gpu-env.js';

const env = await gpuEnv();
requireAdapterInCi(env);

const SPEC: SyntheticSpec = { nLayer: 1, nEmbd: 256, nFf: 512, nHead: 4, nHeadKv: 1, nVocab: 320, untiedOutput: true, seed: 21, name: 'stored' };
/** per stored type, so that the K-quant mix and the legacy imatrix path each see both within a short run */
const RUNS: Record<string, string[]> = { f16: ['Q4_K_M+im', 'Q8_0'], bf16: ['Q5_1+im', 'Q4_0', 'Q6_K'] };

describe.skipIf(!env.handle)('stored F16/BF16 models: GPU (device widening) == CPU, file to file', () => {
  let tmp: string;
  let gpu: GpuBackend;
  const cpu = new InlineCpuBackend();
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-stored-'));
    gpu = new GpuBackend(await GpuQuantizer.create({ handle: { ...env.handle!, owned: false }, maxChunkValues: 1 << 14 }), { widenOnDevice: true });
  });
  afterAll(async () => {
    await gpu?.close();
    env.handle?.device.destroy();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  for (const dtype of [GgmlType.F16, GgmlType.BF16] as const) {
    const name = typeLayout(dtype).name;
    test(`${name} model: ${RUNS[name].join(', ')}`, async () => {
      const input = path.join(tmp, `model-${name}.gguf`);
      // the BF16 model has 2 experts: 3-D FFN tensors, one job (and imatrix slice) per expert segment
      const spec = { ...SPEC, dtype, nExpert: dtype === GgmlType.BF16 ? 2 : 0 };
      await syntheticModel(spec).write(await FileSink.create(input));
      const im = path.join(tmp, `imatrix-${name}.gguf`);
      fs.writeFileSync(im, imatrixGgufBytes(makeImatrixStats(syntheticModel(spec).tensors.filter((t) => t.ne.length >= 2), { seed: 4 })));
      let identical = 0;
      for (const run of RUNS[name]) {
        const [ftype, imFlag] = run.split('+');
        const f = parseFtype(ftype)!;
        const options = { ftype: f.id, ftypeName: f.name, nthreads: 1, imatrixPath: imFlag ? im : undefined };
        const outGpu = path.join(tmp, `gpu-${name}-${run}.gguf`);
        const outCpu = path.join(tmp, `cpu-${name}-${run}.gguf`);
        const s0 = { ...gpu.quantizer.stats };
        const c0 = gpu.blockCounts();
        const res = await quantizeFile({ input, output: outGpu, options, backend: gpu });
        await quantizeFile({ input, output: outCpu, options, backend: cpu });
        expect(Buffer.compare(fs.readFileSync(outGpu), fs.readFileSync(outCpu)), `${name} ${run}`).toBe(0);
        identical++;
        // every quantized tensor went through the device, uploaded as stored (2 bytes a value)
        const quantized = res.plan.entries.filter((e) => e.quantize);
        const values = quantized.reduce((n, e) => n + e.ne[0] * e.ne[1] * e.ne[2] * e.ne[3], 0);
        const blocks = quantized.reduce((n, e) => n + (e.ne[0] * e.ne[1] * e.ne[2] * e.ne[3]) / typeLayout(e.targetType).blockSize, 0);
        expect(gpu.quantizer.stats.uploadedBytes - s0.uploadedBytes, `${name} ${run} upload`).toBe(2 * values);
        expect(gpu.quantizer.stats.blocks - s0.blocks, `${name} ${run} blocks`).toBe(blocks);
        expect(gpu.blockCounts().fallback - c0.fallback, `${name} ${run} host fallback`).toBe(0);
        expect(gpu.blockCounts().noKernel - c0.noKernel, `${name} ${run} no-kernel blocks`).toBe(0);
        for (const o of [outGpu, outCpu]) fs.rmSync(o);
      }
      expect(identical).toBe(RUNS[name].length);
    });
  }

  test('an Inf in an F16 weight: the same one-line error on both paths, no output file', async () => {
    const input = path.join(tmp, 'model-inf.gguf');
    const spec: SyntheticSpec = {
      ...SPEC, dtype: GgmlType.F16,
      values: (tensor, row, out, rand) => {
        for (let i = 0; i < out.length; i++) out[i] = 0.02 * (rand() - 0.5);
        if (tensor === 'blk.0.ffn_up.weight' && row === 301) out[77] = -1e6; // -Inf in F16
      },
    };
    await syntheticModel(spec).write(await FileSink.create(input));
    const f = parseFtype('Q8_0')!;
    const messages: string[] = [];
    for (const backend of [gpu, cpu]) {
      const output = path.join(tmp, `inf-${backend.kind}.gguf`);
      const err = await quantizeFile({ input, output, options: { ftype: f.id, ftypeName: f.name, nthreads: 1 }, backend }).catch((e) => e);
      expect(fs.existsSync(output)).toBe(false);
      messages.push((err as Error).message);
    }
    expect(messages[0]).toBe(`${input}: tensor 'blk.0.ffn_up.weight': input data has a non-finite value (-Infinity) at row 301, column 77`);
    expect(messages[1]).toBe(messages[0]);
  });
});
