/**
 * Whole output files against llama_model_quantize with importance matrices that the test writes itself,
 * in both formats: every ftype with a GGUF imatrix, the legacy .dat on the mixes that use it most,
 * --include-weights / --exclude-weights, an imatrix entry missing for a tensor, pruning (entries looked
 * up by pre-pruning name), overrides before the imatrix KVs, and a path and dataset name longer than the
 * 127 bytes llama-quantize keeps (the dataset cut inside a UTF-8 sequence).
 *
 * Each imatrix holds entries for every `blk.*` matrix (one per expert for 3-D tensors, one expert with
 * count 0), output.weight where the model has one, and a token_embd.weight entry of the wrong size
 * (llama.cpp then quantizes token_embd without it). Counts such as 37 and 1234 make sum ÷ count inexact.
 * llama.cpp's side gets its weights from the reference reader (@huggingface/gguf, a separate .dat parser),
 * so a bug in our loader cannot hide on both sides.
 */
import { afterAll, describe, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { InlineCpuBackend } from '../../src/pipeline/backend.js';
import { syntheticTensors } from '../../src/synthetic-model.js';
import { oracleUnavailable } from '../oracle/llama-cpp.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { loadReferenceImatrix } from '../oracle/imatrix-reference.js';
import { imatrixGgufBytes, imatrixLegacyBytes, makeImatrixStats } from '../data/imatrix-files.js';
import { ALL_FTYPES, defineOracleCases, ftype, imatrixWeights, makeTempDir, writeModels, type ModelFixture, type OracleCase } from './oracle-fixtures.js';

const oracle = requireOracle();

const dir = oracle ? makeTempDir('e2e-imatrix-') : '';
const models = oracle ? await writeModels(dir) : [];
const backend = new InlineCpuBackend();

interface ImatrixPaths { gguf: string; dat: string; longGguf: string }

function writeImatrices(m: ModelFixture, seed: number): ImatrixPaths {
  const all = syntheticTensors(m.spec);
  const embd = all.find((t) => t.name === 'token_embd.weight')!;
  const weights = [
    ...imatrixWeights(m.spec),
    ...all.filter((t) => t.name === 'output.weight'),
    { name: 'token_embd.weight', ne: [embd.ne[0] / 2, embd.ne[1]] },
  ];
  const stats = makeImatrixStats(weights, { seed, zeroExpert: true, datasets: ['calib-a.txt', 'calib-b.txt'], chunkCount: 37, chunkSize: 512 });
  const gguf = path.join(dir, `${m.key}.imatrix.gguf`);
  const dat = path.join(dir, `${m.key}.imatrix.dat`);
  fs.writeFileSync(gguf, imatrixGgufBytes(stats));
  fs.writeFileSync(dat, imatrixLegacyBytes(stats));
  // a path and a first dataset name past 127 bytes: both KVs are cut (the dataset inside an 'é')
  const deep = path.join(dir, 'a-directory-name-long-enough-that-the-imatrix-path-exceeds-the-127-bytes-kept-by-llama-quantize');
  fs.mkdirSync(deep, { recursive: true });
  const longGguf = path.join(deep, `${m.key}-with-a-long-dataset-name.imatrix.gguf`);
  fs.writeFileSync(longGguf, imatrixGgufBytes({ ...stats, datasets: ['é'.repeat(80)], chunkCount: 0 }));
  return { gguf, dat, longGguf };
}

const K4 = ['Q4_K_M', 'Q3_K_M', 'Q5_0', 'Q2_K'].map(ftype);

function casesFor(m: ModelFixture, im: ImatrixPaths): OracleCase[] {
  const c = (group: string, fts: typeof K4, opts: OracleCase['opts']): OracleCase[] =>
    fts.map((ft) => ({ group: `${m.key}: ${group}`, name: ft.name, input: m.path, ft, opts }));
  return [
    ...c('--imatrix (GGUF)', [...ALL_FTYPES], { imatrixPath: im.gguf }),
    ...c('--imatrix (legacy .dat)', [...K4, ftype('Q2_K_S'), ftype('Q4_0')], { imatrixPath: im.dat }),
    ...c('--imatrix --include-weights attn', K4, { imatrixPath: im.gguf, includeWeights: ['attn'] }),
    ...c('--imatrix --exclude-weights ffn_down --exclude-weights output', K4, { imatrixPath: im.gguf, excludeWeights: ['ffn_down', 'output'] }),
    // Q2_K_S needs weights for every Q2_K tensor: without the ffn_up/ffn_down entries llama.cpp refuses
    ...c('--imatrix --exclude-weights ffn_up --exclude-weights ffn_down', [ftype('Q2_K_S'), ftype('Q4_K_M')], { imatrixPath: im.gguf, excludeWeights: ['ffn_up', 'ffn_down'] }),
    // no entry left: no imatrix at all (no quantize.imatrix.* KVs)
    ...c('--imatrix --include-weights no-such-tensor', [ftype('Q4_K_M'), ftype('Q2_K_S')], { imatrixPath: im.gguf, includeWeights: ['no-such-tensor'] }),
    ...c('--imatrix --prune-layers 0', [ftype('Q4_K_M'), ftype('Q2_K_S')], { imatrixPath: im.gguf, pruneLayers: [0] }),
    ...c('--imatrix --leave-output-tensor --override-kv (user KVs before the imatrix KVs)', [ftype('Q4_K_M'), ftype('Q3_K_S')], {
      imatrixPath: im.gguf, leaveOutputTensor: true,
      overrideKv: [{ key: 'quantize.imatrix.entries_count', kind: 'int', value: 7 }, { key: 'e2e.note', kind: 'str', value: 'set before the imatrix keys' }],
    }),
    ...c('--imatrix with a path and dataset name over 127 bytes', [ftype('Q4_K_M')], { imatrixPath: im.longGguf }),
  ];
}

if (!oracle) it.skip(`imatrix runs vs llama_model_quantize: ${oracleUnavailable}`, () => {});

// llama.cpp's side reads these files with the reference reader (test/oracle/imatrix-reference.ts), never ours
const imatrixFiles = models.map((m, i) => writeImatrices(m, 100 + i));
for (const im of imatrixFiles) for (const f of Object.values(im)) await loadReferenceImatrix(f);

describe.skipIf(!oracle)('whole files identical to llama_model_quantize (imatrix)', () => {
  const cases = models.flatMap((m, i) => casesFor(m, imatrixFiles[i]));
  const tally = oracle ? defineOracleCases(oracle, dir, cases, () => backend) : null;
  afterAll(() => {
    if (tally) console.log(`oracle-imatrix: ${tally.identical} files sha256-identical, ${tally.refused} refusals matched, of ${tally.total} cases`);
    if (dir && !process.env.KEEP_E2E_TMP) fs.rmSync(dir, { recursive: true, force: true });
  });
});
