/**
 * `compare`: GPU path against the CPU reference, block by block. The API must notice a single differing
 * block (and size its effect on the dequantized values); the command must report 100% on SwiftShader.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openGgufModelFile } from '../../src/node-io.js';
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

  it('the command reports 100% identical blocks on the GPU path and exits 0', () => {
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin/webgpu-quantize.js'), 'compare', SYNTH, 'Q4_K_M',
      '--imatrix', path.join(SYNTH_DIR, 'imatrix.gguf'), '--backend', 'gpu'], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^total: identical blocks 4928\/4928 \(100\.0000%\)/m);
    expect(r.stdout).toMatch(/blk\.1\.ffn_down\.weight +q6_K +identical +512\/512/);
  });
});
