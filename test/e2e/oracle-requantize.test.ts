/**
 * Requantizing and thread counts, whole files against llama_model_quantize:
 * - files quantized by llama.cpp itself (Q8_0, Q4_K_M, Q5_1) requantized with --allow-requantize by both
 *   (dequantize_row_* then quantize), with and without an imatrix; without the flag llama.cpp refuses
 *   and ours throws RequantizeError;
 * - our output does not depend on the thread count: the in-thread path (CpuWorkerBackend(1)) and the
 *   2-worker pool give the same bytes as llama.cpp.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { RequantizeError } from '../../src/errors.js';
import { InlineCpuBackend } from '../../src/pipeline/backend.js';
import { CpuWorkerBackend } from '../../src/node/cpu-workers.js';
import { oracleUnavailable } from '../oracle/llama-cpp.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { loadReferenceImatrix } from '../oracle/imatrix-reference.js';
import { imatrixGgufBytes, makeImatrixStats } from '../data/imatrix-files.js';
import {
  defineOracleCases, diffGguf, ftype, imatrixWeights, makeTempDir, runOurs, runReference, sha256, writeModels, type OracleCase,
} from './oracle-fixtures.js';

const oracle = requireOracle();

const dir = oracle ? makeTempDir('e2e-requant-') : '';
const models = oracle ? await writeModels(dir) : [];
const inline = new InlineCpuBackend();
const workerBuilt = fs.existsSync(new URL('../../dist/quantize-worker.js', import.meta.url));

/** A model quantized by llama.cpp, the input of the requantize cases. */
function quantizedByLlama(modelIdx: number, ftName: string): string {
  const m = models[modelIdx];
  const out = path.join(dir, `${m.key}-${ftName}-src.gguf`);
  const r = runReference(oracle!, m.path, out, ftype(ftName), {});
  if (r.rc !== 0) throw new Error(`llama.cpp could not make the ${ftName} input from ${m.key}: ${r.error}`);
  return out;
}

if (!oracle) it.skip(`requantize and threads vs llama_model_quantize: ${oracleUnavailable}`, () => {});

const imPath = path.join(dir, 'dense-f16.imatrix.gguf');
if (oracle) {
  fs.writeFileSync(imPath, imatrixGgufBytes(makeImatrixStats(imatrixWeights(models[0].spec), { seed: 5 })));
  await loadReferenceImatrix(imPath); // llama.cpp's side reads it without our loader
}

describe.skipIf(!oracle)('requantizing llama.cpp-quantized files', () => {
  const cases: OracleCase[] = [];
  if (oracle) {
    const sources = [
      { model: 0, from: 'Q8_0', to: ['Q4_K_M', 'Q2_K', 'Q5_1'] },
      { model: 0, from: 'Q4_K_M', to: ['Q3_K_M', 'Q6_K', 'F16'] },
      { model: 1, from: 'Q5_1', to: ['Q4_K_M', 'Q8_0'] },
      { model: 2, from: 'Q8_0', to: ['Q4_K_M', 'Q3_K_S'] },
    ];
    for (const s of sources) {
      const input = quantizedByLlama(s.model, s.from);
      const group = `${models[s.model].key} ${s.from} (by llama.cpp) requantized`;
      for (const to of s.to) cases.push({ group, name: `--allow-requantize ${to}`, input, ft: ftype(to), opts: { allowRequantize: true } });
      cases.push({ group, name: `without --allow-requantize ${s.to[0]}`, input, ft: ftype(s.to[0]), opts: {} });
      if (s.model === 0) cases.push({ group, name: `--allow-requantize --imatrix ${s.to[0]}`, input, ft: ftype(s.to[0]), opts: { allowRequantize: true, imatrixPath: imPath } });
    }
  }
  const tally = oracle ? defineOracleCases(oracle, dir, cases, () => inline) : null;

  it('without --allow-requantize ours throws RequantizeError naming the tensor', async () => {
    const input = cases[0].input;
    const err = await runOurs(input, path.join(dir, 'refused.gguf'), ftype('Q4_K_M'), {}, inline);
    expect(err).toBeInstanceOf(RequantizeError);
    expect(err!.message).toMatch(/tensor '[a-z0-9_.]+\.weight'/);
  });

  afterAll(() => {
    if (tally) console.log(`oracle-requantize: ${tally.identical} files sha256-identical, ${tally.refused} refusals matched, of ${tally.total} cases`);
  });
});

describe.skipIf(!oracle || !workerBuilt)('thread-count independence (CpuWorkerBackend 1 vs 2)', () => {
  if (oracle && !workerBuilt) it.skip('dist/quantize-worker.js is missing: run `node scripts/build.mjs`', () => {});
  let one: CpuWorkerBackend;
  let two: CpuWorkerBackend;
  beforeAll(() => {
    one = new CpuWorkerBackend(1);
    two = new CpuWorkerBackend(2);
  });
  afterAll(async () => {
    await one?.close();
    await two?.close();
  });
  const runs = [
    { model: 0, ft: 'Q4_K_M', imatrix: true },
    { model: 1, ft: 'Q3_K_M', imatrix: false },
    { model: 2, ft: 'Q5_K_S', imatrix: true },
  ];
  for (const r of runs) {
    const m = models[r.model];
    if (!m) continue;
    it(`${m.key} ${r.ft}${r.imatrix ? ' --imatrix' : ''}: 1 thread, 2 threads and llama.cpp identical`, async () => {
      let opts = {};
      if (r.imatrix) {
        const p = path.join(dir, `${m.key}-threads.imatrix.gguf`);
        fs.writeFileSync(p, imatrixGgufBytes(makeImatrixStats(imatrixWeights(m.spec), { seed: 9, zeroExpert: true })));
        await loadReferenceImatrix(p);
        opts = { imatrixPath: p };
      }
      const ft = ftype(r.ft);
      const ref = runReference(oracle!, m.path, path.join(dir, `${m.key}-threads-ref.gguf`), ft, opts);
      expect(ref.rc).toBe(0);
      const a = path.join(dir, `${m.key}-threads-1.gguf`);
      const b = path.join(dir, `${m.key}-threads-2.gguf`);
      expect((await runOurs(m.path, a, ft, opts, one))?.message ?? null).toBeNull();
      expect((await runOurs(m.path, b, ft, opts, two))?.message ?? null).toBeNull();
      expect(diffGguf(a, b)).toBe('');
      if (sha256(ref.out) !== sha256(b)) expect(diffGguf(ref.out, b)).toBe('');
    });
  }
});

afterAll(() => {
  if (dir && !process.env.KEEP_E2E_TMP) fs.rmSync(dir, { recursive: true, force: true });
});
