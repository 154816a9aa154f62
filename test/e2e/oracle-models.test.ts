/**
 * Whole output files against llama.cpp v0.5.0's own llama_model_quantize: three generated models (dense
 * F16, 320-wide F32 with K-quant fallbacks and tied embeddings, MoE BF16 with 3-D expert tensors) times
 * every ftype whose tensor types the CPU path implements, default options. The sha256 of the whole file
 * must match; where it does not, the failure names the KVs, tensor infos or tensor blocks that differ.
 * Where llama.cpp itself refuses a combination (its reason is in the test name), ours must refuse too.
 *
 * llama.cpp runs while the tests are collected, so the test names can say which combinations it refuses.
 */
import { afterAll, describe, it } from 'vitest';
import fs from 'node:fs';
import { InlineCpuBackend } from '../../src/pipeline/backend.js';
import { oracleUnavailable } from '../oracle/llama-cpp.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { ALL_FTYPES, defineOracleCases, makeTempDir, writeModels } from './oracle-fixtures.js';

const oracle = requireOracle();

const dir = oracle ? makeTempDir('e2e-ftypes-') : '';
const models = oracle ? await writeModels(dir) : [];
const backend = new InlineCpuBackend();

if (!oracle) it.skip(`whole files vs llama_model_quantize: ${oracleUnavailable}`, () => {});

describe.skipIf(!oracle)('whole files identical to llama_model_quantize (default options)', () => {
  const cases = models.flatMap((m) => ALL_FTYPES.map((ft) => ({ group: `${m.key}: ${m.about}`, name: ft.name, input: m.path, ft, opts: {} })));
  const tally = oracle ? defineOracleCases(oracle, dir, cases, () => backend) : null;
  afterAll(() => {
    if (tally) console.log(`oracle-models: ${tally.identical} files sha256-identical, ${tally.refused} refusals matched, of ${tally.total} cases`);
    if (dir && !process.env.KEEP_E2E_TMP) fs.rmSync(dir, { recursive: true, force: true });
  });
});
