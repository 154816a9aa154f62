/**
 * The forward pass with its matmuls on WebGPU (shaders/model/matmul.wgsl) against the CPU path and against
 * llama-perplexity's per-chunk perplexities (../shared/golden/llama-tools-v050), on whatever adapter this
 * machine has (SwiftShader without a GPU).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openGgufModelFile } from '../../src/node/file-io.js';
import { LlamaModel, matmul } from '../../src/model/llama.js';
import { GpuMatmul } from '../../src/model/gpu-matmul.js';
import { Tokenizer } from '../../src/model/tokenizer.js';
import { chunkTokens, planChunks, PplAccumulator, tokenNll } from '../../src/eval/chunks.js';
import { mulberry32 } from '../../src/synthetic-model.js';
import { SHARED } from '../golden/shared-paths.js';
import { gpuEnv, requireAdapterInCi } from './gpu-env.js';

const env = await gpuEnv();
requireAdapterInCi(env);
afterAll(() => env.handle?.device.destroy());
const GOLD = path.join(SHARED, 'golden/llama-tools-v050');

describe.skipIf(!env.handle)('forward pass on WebGPU', () => {
  it('matmul kernel = CPU matmul within 1e-5 relative, on shapes that do not fill the 16x16 tiles', async () => {
    const g = new GpuMatmul(env.handle!.device, env.handle!.adapterName);
    const rnd = mulberry32(7);
    for (const [T, n, m] of [[1, 1, 1], [5, 33, 17], [128, 64, 512], [37, 172, 64], [16, 256, 768]]) {
      const x = Float32Array.from({ length: T * n }, () => rnd() * 2 - 1);
      const w = Float32Array.from({ length: m * n }, () => rnd() * 2 - 1);
      const want = new Float32Array(T * m);
      const got = new Float32Array(T * m);
      matmul(x, w, T, n, m, want);
      await g.matmul(x, w, T, n, m, got);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
      expect(worst, `${T}x${n}x${m}`).toBeLessThan(1e-5);
    }
    g.destroy();
  });

  it('stories260K: per-chunk perplexity of the first 3 eval chunks within 2e-4 of llama-perplexity', async () => {
    const m = await openGgufModelFile(path.join(SHARED, 'models/stories260K-gguf/stories260K.gguf'));
    const tok = Tokenizer.fromKvs(m.kvs, m.name);
    const model = await LlamaModel.load(m);
    await m.close();
    const gold = [...fs.readFileSync(path.join(GOLD, 'stories260K/perplexity-base.log'), 'utf8').matchAll(/\[(\d+)\](\d+\.\d+)/g)].map((x) => Number(x[2])).slice(0, 3);
    const ids = tok.tokenize(fs.readFileSync(path.join(GOLD, 'eval.txt'), 'utf8').replace(/\n$/, ''), true, false);
    const plan = planChunks(ids.length, 128, 3, 'eval');
    const g = new GpuMatmul(env.handle!.device, env.handle!.adapterName);
    const acc = new PplAccumulator();
    const V = model.hp.nVocab;
    for (let c = 0; c < 3; c++) {
      const logits = await model.forward(chunkTokens(ids, plan, c, tok.bos), { matmul: g });
      for (let i = plan.first; i < 127; i++) acc.add(tokenNll(logits, i * V, V, ids[c * 128 + i + 1]));
      expect(Math.abs(acc.ppl - gold[c]) / gold[c], `chunk ${c + 1}: ${acc.ppl} vs ${gold[c]}`).toBeLessThan(2e-4);
    }
    g.destroy();
  });
});
