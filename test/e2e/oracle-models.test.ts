/**
 * Whole output files against llama.cpp v0.5.0's own llama_model_quantize: three generated models (dense
 * F16, 320-wide F32 with K-quant fallbacks and tied embeddings, MoE BF16 with 3-D expert tensors) times
 * every ftype whose tensor types the CPU path implements, default options. The sha256 of the whole file
 * must match; where it does not, the failure names the KVs, tensor infos or tensor blocks that differ.
 * Where llama.cpp itself refuses a combination (its reason is in the test name), ours must refuse too.
 *
 * llama.cpp runs while the tests are collected, so the test names can say which combinations it refuses.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { InlineCpuBackend } from '../../src/pipeline/backend.js';
import { QuantizeError } from '../../src/errors.js';
import { loadOracle, oracleUnavailable } from '../oracle/llama-cpp.js';
import { ALL_FTYPES, diffGguf, makeTempDir, runOurs, runReference, sha256, shortReason, writeModels, type FtypeCase, type ModelFixture, type RefRun } from './oracle-fixtures.js';

const oracle = loadOracle();
if (!oracle) console.log(oracleUnavailable);

const dir = oracle ? makeTempDir('e2e-ftypes-') : '';
const models = oracle ? await writeModels(dir) : [];
const cases: { model: ModelFixture; ft: FtypeCase; ref: RefRun }[] = [];
for (const model of models) {
  for (const ft of ALL_FTYPES) {
    const ref = runReference(oracle!, model.path, path.join(dir, `${model.key}-${ft.name}-ref.gguf`), ft, {});
    cases.push({ model, ft, ref });
  }
}

const backend = new InlineCpuBackend();
let identical = 0;
let refused = 0;
afterAll(() => {
  if (oracle) console.log(`oracle-models: ${identical} files sha256-identical, ${refused} refusals matched, of ${cases.length} cases`);
  if (dir && !process.env.KEEP_E2E_TMP) fs.rmSync(dir, { recursive: true, force: true });
});

if (!oracle) it.skip(`whole files vs llama_model_quantize: ${oracleUnavailable}`, () => {});

describe.skipIf(!oracle)('whole files identical to llama_model_quantize (default options)', () => {
  for (const model of models) {
    describe(`${model.key}: ${model.about}`, () => {
      for (const { ft, ref } of cases.filter((c) => c.model === model)) {
        const ours = path.join(dir, `${model.key}-${ft.name}-ours.gguf`);
        if (ref.rc === 0) {
          it(`${ft.name}: sha256-identical`, async () => {
            const err = await runOurs(model.path, ours, ft, {}, backend);
            expect(err?.message ?? null).toBeNull();
            if (sha256(ref.out) !== sha256(ours)) expect(diffGguf(ref.out, ours)).toBe('');
            identical++;
            fs.rmSync(ref.out);
            fs.rmSync(ours);
          });
        } else {
          it(`${ft.name}: llama.cpp refuses (${shortReason(ref.error)}), ours must refuse too`, async () => {
            const err = await runOurs(model.path, ours, ft, {}, backend);
            expect(err).toBeInstanceOf(QuantizeError);
            expect(fs.existsSync(ours)).toBe(false);
            refused++;
          });
        }
      }
    });
  }
});
