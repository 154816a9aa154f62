/**
 * `compare`: GPU path against the CPU reference, block by block. The API must notice a single differing
 * block (and size its effect on the dequantized values) and fail when ordinary blocks went to the host;
 * the command must report 100% on SwiftShader with the exact device and host-fallback counts.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openGgufModelFile } from '../../src/node/file-io.js';
import { InlineCpuBackend, quantizeOnCpu, type QuantizeBackend } from '../../src/pipeline/backend.js';
import { compareBackends } from '../../src/pipeline/compare.js';
import { defaultOptions } from '../../src/pipeline/options.js';
import { GgmlType } from '../../src/core/ggml-type.js';
import { REPO_ROOT, SYNTH_DIR } from '../golden/shared-paths.js';

const SYNTH = path.join(SYNTH_DIR, 'synth-f32.gguf');

/** The CPU reference with one byte of one block changed in every q6_K job: a stand-in for a broken kernel. */
const broken: QuantizeBackend = {
  kind: 'gpu', description: 'broken', supports: () => true, close: async () => {},
  async quantize(job) {
    const out = quantizeOnCpu(job);
    if (job.type === GgmlType.Q6_K) out[3] ^= 0x10;
    return out;
  },
};

describe('compare', () => {
  it('finds one differing block per corrupted job and measures its value difference', async () => {
    const model = await openGgufModelFile(SYNTH);
    try {
      const r = await compareBackends({ model, options: defaultOptions(), imatrix: null, a: broken, b: new InlineCpuBackend() });
      const q6 = r.tensors.filter((t) => t.type === GgmlType.Q6_K);
      expect(q6.length).toBeGreaterThan(0);
      for (const t of q6) {
        expect(t.blocks - t.identicalBlocks).toBe(1);
        expect(t.firstDiffBlock).toBe(0);
        expect(t.maxAbsDiff).toBeGreaterThan(0);
      }
      for (const t of r.tensors.filter((t) => t.type !== GgmlType.Q6_K)) expect(t.identicalBlocks).toBe(t.blocks);
      expect(r.blocks - r.identicalBlocks).toBe(q6.length);
    } finally {
      await model.close();
    }
  });

  it('fails when the backend left ordinary blocks to the host or ran a type on the CPU for want of a kernel', async () => {
    const model = await openGgufModelFile(SYNTH);
    try {
      for (const [counts, problem] of [
        [{ device: 0, fallback: 4928, ordinaryFallback: 4928, noKernel: 0 }, /4928 ordinary blocks .* went to the host fallback/],
        [{ device: 4000, fallback: 0, ordinaryFallback: 0, noKernel: 928 }, /928 blocks ran on the CPU path for want of a GPU kernel/],
      ] as const) {
        let calls = 0;
        const cpuAsGpu: QuantizeBackend = {
          kind: 'gpu', description: 'stand-in', supports: () => true, close: async () => {},
          quantize: async (job) => { calls++; return quantizeOnCpu(job); },
          // nothing before the run, everything after it
          blockCounts: () => (calls ? counts : { device: 0, fallback: 0, ordinaryFallback: 0, noKernel: 0 }),
        };
        const r = await compareBackends({ model, options: defaultOptions(), imatrix: null, a: cpuAsGpu, b: new InlineCpuBackend() });
        expect(r.identicalBlocks).toBe(r.blocks);
        expect(r.problems.join('\n')).toMatch(problem);
      }
    } finally {
      await model.close();
    }
  });

  it('the command reports 100% identical blocks on the GPU path and exits 0', () => {
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin/webgpu-quantize.js'), 'compare', SYNTH, 'Q4_K_M',
      '--imatrix', path.join(SYNTH_DIR, 'imatrix.gguf'), '--backend', 'gpu'], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^total: identical blocks 4928\/4928 \(100\.0000%\)/m);
    expect(r.stdout).toMatch(/blk\.1\.ffn_down\.weight +q6_K +identical +512\/512/);
    // exactly the blocks the kernels flag (as mix/Q4_K_M-imatrix in the golden suite), none of them ordinary
    expect(r.stdout).toMatch(/^webgpu-quantize: blocks computed on the device 4800, via the host fallback 128 \(flagged subnormal\/overflow; ordinary among them 0\)$/m);
  });
});
