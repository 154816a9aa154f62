/**
 * IQ1_S / IQ1_M whole files against llama_model_quantize, and the imatrix refusals:
 * - the IQ1_S and IQ1_M mixes with an imatrix on the MoE fixture (3-D expert tensors, one expert with count 0;
 *   every type of those mixes is implemented), and --pure IQ1_M on the dense fixture, where token_embd has no
 *   imatrix entry and takes IQ1_M's plain path: sha256-identical;
 * - without an imatrix both ftypes are refused as llama.cpp refuses them (spec §4.8), with a message saying
 *   how to get one, and no output file;
 * - --pure IQ1_S with an imatrix that has no token_embd entry: llama.cpp aborts in ggml_quantize_chunk
 *   (GGML_ASSERT(imatrix != NULL), seen with runReferenceIsolated while writing this); we refuse, naming the tensor.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { InlineCpuBackend } from '../../src/pipeline/backend.js';
import { parseFtype } from '../../src/policy/ftype.js';
import { syntheticTensors } from '../../src/synthetic-model.js';
import { oracleUnavailable } from '../oracle/llama-cpp.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { imatrixGgufBytes, makeImatrixStats } from '../data/imatrix-files.js';
import { loadReferenceImatrix } from '../oracle/imatrix-reference.js';
import { imatrixWeights, makeTempDir, runOurs, runReference, sha256, diffGguf, writeModels, type FtypeCase, type ModelFixture } from './oracle-fixtures.js';

const oracle = requireOracle();
if (!oracle) console.log(oracleUnavailable);

/** a whole model through both quantizers, on a shared 2-core machine (llama.cpp's IQ1 init alone is ~10 s of CPU) */
const LONG = 600_000;

const ft = (name: string): FtypeCase => {
  const p = parseFtype(name)!;
  return { name: p.name, id: p.id };
};

// a missing oracle on linux-x64 or under CI=true fails through requireOracle() above

describe.skipIf(!oracle)('IQ1 whole files and imatrix refusals vs llama_model_quantize', () => {
  const dir = makeTempDir('e2e-iq1-');
  const backend = new InlineCpuBackend();
  let models: Record<string, ModelFixture & { imatrix: string }>;
  let identical = 0;
  afterAll(() => {
    console.log(`oracle-iq1-files: ${identical} files sha256-identical`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const setup = async () => {
    if (models) return models;
    models = {};
    for (const [i, m] of (await writeModels(dir)).entries()) {
      if (m.key !== 'moe-bf16' && m.key !== 'dense-f16') continue;
      // every blk.* matrix and output.weight; no token_embd entry
      const weights = [...imatrixWeights(m.spec), ...syntheticTensors(m.spec).filter((t) => t.name === 'output.weight')];
      const stats = makeImatrixStats(weights, { seed: 100 + i, zeroExpert: true, datasets: ['calib.txt'], chunkCount: 37, chunkSize: 512 });
      const imatrix = path.join(dir, `${m.key}.imatrix.gguf`);
      fs.writeFileSync(imatrix, imatrixGgufBytes(stats));
      await loadReferenceImatrix(imatrix); // the oracle run reads it with the independent reader
      models[m.key] = { ...m, imatrix };
    }
    return models;
  };

  const same = (key: string, ftName: string, pure: boolean) => async () => {
    const m = (await setup())[key];
    const opts = { imatrixPath: m.imatrix, pure };
    const ref = path.join(dir, `${key}-${ftName}-${pure}-ref.gguf`);
    const ours = path.join(dir, `${key}-${ftName}-${pure}-ours.gguf`);
    const r = runReference(oracle!, m.path, ref, ft(ftName), opts);
    expect(r.rc, r.error).toBe(0);
    const err = await runOurs(m.path, ours, ft(ftName), opts, backend);
    expect(err?.message ?? null).toBeNull();
    if (sha256(ref) !== sha256(ours)) expect(diffGguf(ref, ours)).toBe('');
    identical++;
    fs.rmSync(ref);
    fs.rmSync(ours);
  };

  it('MoE, IQ1_S mix with imatrix: sha256-identical', same('moe-bf16', 'IQ1_S', false), LONG);
  it('MoE, IQ1_M mix with imatrix: sha256-identical', same('moe-bf16', 'IQ1_M', false), LONG);
  it('dense, --pure IQ1_M with imatrix (token_embd without an entry): sha256-identical', same('dense-f16', 'IQ1_M', true), LONG);

  for (const name of ['IQ1_S', 'IQ1_M']) {
    it(`${name} without an imatrix: refused like llama.cpp, saying how to get one, no output`, async () => {
      const m = (await setup())['moe-bf16'];
      const ref = path.join(dir, `${name}-noim-ref.gguf`);
      const r = runReference(oracle!, m.path, ref, ft(name), {});
      expect(r.rc).not.toBe(0);
      expect(r.error).toMatch(/requires an imatrix/);
      const ours = path.join(dir, `${name}-noim-ours.gguf`);
      const err = await runOurs(m.path, ours, ft(name), {}, backend);
      expect(err?.message).toMatch(/tensor blk\.0\.attn_q\.weight would be iq1_\w+\) requires an importance matrix: .*webgpu-quantize imatrix -m .*llama-imatrix.* --imatrix .*--calibrate/);
      expect(fs.existsSync(ours)).toBe(false);
    });
  }

  it('--pure IQ1_S, imatrix without a token_embd entry: refused naming the tensor (llama.cpp aborts), no output', async () => {
    const m = (await setup())['dense-f16'];
    const ours = path.join(dir, 'pure-iq1s-ours.gguf');
    const err = await runOurs(m.path, ours, ft('IQ1_S'), { imatrixPath: m.imatrix, pure: true }, backend);
    expect(err?.message).toMatch(/^tensor 'token_embd\.weight' \(iq1_s, and the imatrix has no entry for it\) requires an importance matrix: .*webgpu-quantize imatrix/);
    expect(fs.existsSync(ours)).toBe(false);
  });
});
