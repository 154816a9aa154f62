/**
 * Whole output files against llama_model_quantize with llama-quantize's options, on the three generated
 * models and the ftypes whose mixes the options touch most (Q4_K_M, Q3_K_M, Q5_0, Q2_K): leaving the
 * output tensor, --pure, output/token-embedding types, --tensor-type, --override-kv of every kind (new
 * keys and an existing one), --prune-layers, and combinations. The imatrix option sets are in
 * oracle-imatrix.test.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { InlineCpuBackend } from '../../src/pipeline/backend.js';
import { GgmlType } from '../../src/core/ggml-type.js';
import { oracleUnavailable } from '../oracle/llama-cpp.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { defineOracleCases, diffGguf, explicitTypeMisfit, ftype, makeTempDir, writeModels, type OracleCase, type RunOptions } from './oracle-fixtures.js';

const oracle = requireOracle();

const dir = oracle ? makeTempDir('e2e-options-') : '';
const models = oracle ? await writeModels(dir) : [];
const backend = new InlineCpuBackend();

const OPTION_SETS: readonly { name: string; opts: RunOptions }[] = [
  { name: '--leave-output-tensor', opts: { leaveOutputTensor: true } },
  { name: '--pure', opts: { pure: true } },
  { name: '--output-tensor-type q8_0 --token-embedding-type q4_k', opts: { outputTensorType: GgmlType.Q8_0, tokenEmbeddingType: GgmlType.Q4_K } },
  {
    name: '--tensor-type attn_q=q8_0 --tensor-type ffn_down=q5_k',
    opts: { tensorTypes: [{ pattern: 'attn_q', type: GgmlType.Q8_0 }, { pattern: 'ffn_down', type: GgmlType.Q5_K }] },
  },
  {
    name: '--override-kv int/float/bool/str (new keys and existing ones)',
    opts: {
      overrideKv: [
        { key: 'e2e.answer', kind: 'int', value: -42 },
        { key: 'e2e.scale', kind: 'float', value: 0.1 },
        { key: 'e2e.flag', kind: 'bool', value: true },
        { key: 'general.name', kind: 'str', value: 'overridden – name ✓' },
        { key: 'llama.context_length', kind: 'int', value: 4096 },
        { key: 'e2e.off', kind: 'bool', value: false },
      ],
    },
  },
  { name: '--prune-layers 1', opts: { pruneLayers: [1] } },
  { name: '--pure --output-tensor-type q6_k --tensor-type attn_v=q4_0', opts: { pure: true, outputTensorType: GgmlType.Q6_K, tensorTypes: [{ pattern: 'attn_v', type: GgmlType.Q4_0 }] } },
  { name: '--leave-output-tensor --prune-layers 0,1 --override-kv', opts: { leaveOutputTensor: true, pruneLayers: [0, 1], overrideKv: [{ key: 'e2e.pruned', kind: 'str', value: 'yes' }] } },
];

const FTYPES = ['Q4_K_M', 'Q3_K_M', 'Q5_0', 'Q2_K'].map(ftype);

if (!oracle) it.skip(`option sets vs llama_model_quantize: ${oracleUnavailable}`, () => {});

describe.skipIf(!oracle)('whole files identical to llama_model_quantize (option sets)', () => {
  const cases: OracleCase[] = models.flatMap((m) =>
    OPTION_SETS.flatMap((s) => FTYPES.map((ft) => ({
      group: `${m.key}: ${s.name}`, name: ft.name, input: m.path, ft, opts: s.opts, isolate: explicitTypeMisfit(m.spec, s.opts),
    }))));
  const tally = oracle ? defineOracleCases(oracle, dir, cases, () => backend) : null;

  // the comparison itself must be able to fail, and say where
  it('diffGguf names a changed KV and a changed tensor block', () => {
    const src = models[0].path;
    const bytes = new Uint8Array(fs.readFileSync(src));
    const kvAt = Buffer.from(bytes).indexOf('e2e dense f16');
    const changed = bytes.slice();
    changed[kvAt] ^= 1;
    changed[changed.length - 40] ^= 0x80;
    const p = path.join(dir, 'changed.gguf');
    fs.writeFileSync(p, changed);
    const d = diffGguf(src, p);
    expect(d).toMatch(/KV #1: llama.cpp general.name .*e2e dense f16.* \| ours general.name .*d2e dense f16/);
    expect(d).toMatch(/tensor data blk\.3\.[a-z_]+\.weight \(f16\): 1 of \d+ blocks differ/);
    expect(diffGguf(src, src)).toBe('');
  });

  afterAll(() => {
    if (tally) console.log(`oracle-options: ${tally.identical} files sha256-identical, ${tally.refused} refusals matched, of ${tally.total} cases`);
    if (dir && !process.env.KEEP_E2E_TMP) fs.rmSync(dir, { recursive: true, force: true });
  });
});
