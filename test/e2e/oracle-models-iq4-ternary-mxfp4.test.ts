/**
 * Whole files against llama.cpp v0.5.0's llama_model_quantize for the ftypes whose main type is IQ4_NL,
 * IQ4_XS, TQ1_0, TQ2_0, MXFP4 (MXFP4_MOE: the MoE model's 3-D expert tensors), Q1_0 or Q2_0: the three
 * generated models of oracle-fixtures.ts (dense F16, 320-wide F32 with fallbacks, MoE BF16), with default
 * options and with a GGUF imatrix (entries for every blk.* matrix, one expert with count 0). The whole
 * file's sha256 must match; where llama.cpp refuses, ours must refuse too.
 */
import { afterAll, describe, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { InlineCpuBackend } from '../../src/pipeline/backend.js';
import { parseFtype } from '../../src/policy/ftype.js';
import { loadOracle, oracleUnavailable } from '../oracle/llama-cpp.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { imatrixGgufBytes, makeImatrixStats } from '../data/imatrix-files.js';
import { loadReferenceImatrix } from '../oracle/imatrix-reference.js';
import { defineOracleCases, imatrixWeights, makeTempDir, writeModels, type FtypeCase, type OracleCase } from './oracle-fixtures.js';

const oracle = requireOracle();
if (!oracle) console.log(oracleUnavailable);

const FTYPES: FtypeCase[] = ['IQ4_NL', 'IQ4_XS', 'TQ1_0', 'TQ2_0', 'MXFP4_MOE', 'Q1_0', 'Q2_0'].map((name) => ({ name, id: parseFtype(name)!.id }));

const dir = oracle ? makeTempDir('e2e-iq4-tq-mx-') : '';
const models = oracle ? await writeModels(dir) : [];
const backend = new InlineCpuBackend();

if (!oracle) it.skip(`IQ4/ternary/MXFP4/Q1_0/Q2_0 whole files vs llama_model_quantize: ${oracleUnavailable}`, () => {});

// one GGUF imatrix per model; the oracle runs read them with the independent reader (test/oracle/imatrix-reference.ts),
// loaded here because defineOracleCases runs llama.cpp while the suite is collected
const imatrixOf = new Map<string, string>();
for (const [k, m] of models.entries()) {
  const imatrix = path.join(dir, `${m.key}.imatrix.gguf`);
  fs.writeFileSync(imatrix, imatrixGgufBytes(makeImatrixStats(imatrixWeights(m.spec), { seed: 40 + k, zeroExpert: true, datasets: ['calib.txt'], chunkCount: 37, chunkSize: 512 })));
  await loadReferenceImatrix(imatrix);
  imatrixOf.set(m.key, imatrix);
}

describe.skipIf(!oracle)('IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, MXFP4_MOE, Q1_0, Q2_0 whole files identical to llama_model_quantize', () => {
  const cases: OracleCase[] = models.flatMap((m) => FTYPES.flatMap((ft) => [
    { group: `${m.key}: ${m.about}`, name: ft.name, input: m.path, ft, opts: {} },
    { group: `${m.key}: ${m.about}, --imatrix`, name: ft.name, input: m.path, ft, opts: { imatrixPath: imatrixOf.get(m.key)! } },
  ]));
  const tally = oracle ? defineOracleCases(oracle, dir, cases, () => backend) : null;
  afterAll(() => {
    if (tally) console.log(`oracle-models (IQ4/ternary/MXFP4/Q1_0/Q2_0 ftypes): ${tally.identical} files sha256-identical, ${tally.refused} refusals matched, of ${tally.total} cases`);
    if (dir && !process.env.KEEP_E2E_TMP) fs.rmSync(dir, { recursive: true, force: true });
  });
});
