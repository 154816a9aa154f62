/**
 * The planner against llama.cpp v0.5.0's `llama_model_quantize` itself (real runs, not dry runs), on
 * stories260K (5 layers, widths 64 and 172: nearly every tensor falls back) and the synth model:
 * every ftype with several option sets, --prune-layers, --tensor-type, imatrix data with an entry
 * missing, requantizing and COPY. Compares the written tensor names, order and types, the new
 * block_count, and that llama.cpp fails exactly where the plan raises an error.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireOracle } from '../oracle/require-oracle.js';
import { GgmlType } from '../../src/core/ggml-type.js';
import { FTYPES, LlamaFtype as F } from '../../src/policy/ftype.js';
import { planTensorTypes, PolicyError, type PolicyOptions, type TypePlan } from '../../src/policy/tensor-type.js';
import { modelFactsFromKv } from '../../src/policy/model-facts.js';
import { readGgufHeader } from './gguf-header.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STORIES = path.resolve(repoRoot, '../shared/models/stories260K-gguf/stories260K.gguf');
const SYNTH = path.resolve(repoRoot, '../shared/golden/synth-v050/synth-f32.gguf');
const oracle = requireOracle();

interface RunOptions extends Omit<PolicyOptions, 'hasImatrix' | 'imatrixNames' | 'tensorShard'> {
  /** imatrix entries: name → number of values (all 1.0) */
  imatrix?: Map<string, number>;
}

/** llama_model_quantize with every parameter the policy reads, through our own koffi binding. */
function makeQuantizer() {
  const require = createRequire(import.meta.url);
  const koffi = require('koffi');
  const dir = path.join(path.resolve(path.dirname(require.resolve('@node-llama-cpp/linux-x64')), '..'), 'bins', 'linux-x64');
  koffi.load(path.join(dir, 'libggml-base.so'));
  koffi.load(path.join(dir, 'libggml.v0.5.0.so'));
  const lib = koffi.load(path.join(dir, 'libllama.v0.5.0.so'));
  const Params = koffi.struct('policy_quantize_params', {
    nthread: 'int32_t', ftype: 'int', output_tensor_type: 'int', token_embedding_type: 'int',
    allow_requantize: 'bool', quantize_output_tensor: 'bool', only_copy: 'bool', pure: 'bool',
    keep_split: 'bool', dry_run: 'bool', imatrix: 'void *', kv_overrides: 'void *', tt_overrides: 'void *',
    prune_layers: 'void *', max_buf_size: 'size_t',
  });
  const defaults = lib.func('policy_quantize_params llama_model_quantize_default_params()');
  const quantize = lib.func('uint32_t llama_model_quantize(const char *in, const char *out, const policy_quantize_params *p)');
  const LogCb = koffi.proto('void policy_log_cb(int level, const char *text, void *ud)');
  const logSet = lib.func('void llama_log_set(policy_log_cb *cb, void *ud)');
  const quiet = koffi.register(() => {}, koffi.pointer(LogCb));
  lib.func('void llama_backend_init()')();

  // raw memory that stays alive for one call; pointers are written as addresses
  const keep: unknown[] = [];
  const bytes = (n: number) => {
    const mem = koffi.alloc('uint8_t', Math.max(n, 8));
    keep.push(mem);
    return { mem, view: new DataView(koffi.view(mem, Math.max(n, 8))), addr: koffi.address(mem) as bigint };
  };
  const cstr = (s: string) => {
    const b = Buffer.from(s + '\0', 'utf8');
    const m = bytes(b.length);
    b.forEach((x, i) => m.view.setUint8(i, x));
    return m.addr;
  };

  return (input: string, output: string, o: RunOptions): number => {
    keep.length = 0;
    const p = defaults();
    p.nthread = 1;
    p.ftype = o.ftype;
    if (o.outputTensorType !== undefined) p.output_tensor_type = o.outputTensorType;
    if (o.tokenEmbeddingType !== undefined) p.token_embedding_type = o.tokenEmbeddingType;
    p.allow_requantize = !!o.allowRequantize;
    p.quantize_output_tensor = !o.leaveOutputTensor;
    p.only_copy = !!o.onlyCopy;
    p.pure = !!o.pure;
    p.keep_split = !!o.keepSplit;
    if (o.pruneLayers?.length) {
      // the CLI sorts and de-duplicates the list; the library takes it as given (its first entry matters)
      const list = [...new Set(o.pruneLayers)].sort((a, b) => a - b);
      const m = bytes(4 * (list.length + 1));
      [...list, -1].forEach((v, i) => m.view.setInt32(4 * i, v, true));
      p.prune_layers = m.mem;
    }
    if (o.tensorTypes?.length) {
      const m = bytes(16 * (o.tensorTypes.length + 1));
      o.tensorTypes.forEach((t, i) => { m.view.setBigUint64(16 * i, cstr(t.pattern), true); m.view.setInt32(16 * i + 8, t.type, true); });
      p.tt_overrides = m.mem;
    }
    if (o.imatrix?.size) {
      const entries = [...o.imatrix];
      const m = bytes(24 * (entries.length + 1));
      entries.forEach(([name, n], i) => {
        const d = bytes(4 * n);
        for (let j = 0; j < n; j++) d.view.setFloat32(4 * j, 1, true);
        m.view.setBigUint64(24 * i, cstr(name), true);
        m.view.setBigUint64(24 * i + 8, d.addr, true);
        m.view.setBigUint64(24 * i + 16, BigInt(n), true);
      });
      p.imatrix = m.mem;
    }
    logSet(quiet, null);
    return quantize(input, output, p);
  };
}

let tmp = '';
let run: ReturnType<typeof makeQuantizer>;
beforeAll(() => {
  if (!oracle) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'policy-oracle-'));
  run = makeQuantizer();
});
afterAll(() => { if (tmp && !process.env.KEEP_POLICY_TMP) fs.rmSync(tmp, { recursive: true, force: true }); });

function planFor(input: string, o: RunOptions): TypePlan | PolicyError {
  const h = readGgufHeader(input);
  const model = modelFactsFromKv(h.kv, h.tensors);
  try {
    const offsets = new Map(h.tensors.map((t) => [t.name, t.offset]));
    return planTensorTypes(model, {
      ...o, hasImatrix: !!o.imatrix?.size, imatrixNames: o.imatrix && new Set(o.imatrix.keys()),
      tensorShard: (name) => ({ shard: 0, dataOffset: offsets.get(name)! }),
    });
  } catch (e) {
    if (e instanceof PolicyError) return e;
    throw e;
  }
}

let seq = 0;
/** Runs llama.cpp and the planner; returns a description of any disagreement ('' when they agree). */
function compare(input: string, o: RunOptions): { diff: string; plan: TypePlan | PolicyError; out: string } {
  // like the CLI, --keep-split gets a prefix: the library names each output <prefix>-0000i-of-0000n.gguf
  const out = path.join(tmp, `out-${seq++}${o.keepSplit ? '' : '.gguf'}`);
  const rc = run(input, out, o);
  const plan = planFor(input, o);
  if (rc !== 0 || plan instanceof PolicyError) {
    const ok = rc !== 0 && plan instanceof PolicyError;
    return { diff: ok ? '' : `rc ${rc} vs ${plan instanceof PolicyError ? plan.message : 'a plan'}`, plan, out };
  }
  const h = readGgufHeader(o.keepSplit ? `${out}-00001-of-00001.gguf` : out);
  const got = h.tensors.map((t) => `${t.name}:${GgmlType[t.type]}`);
  const want = plan.entries.map((e) => `${e.name}:${GgmlType[e.targetType]}`);
  const bc = h.kv.get(`${h.kv.get('general.architecture')}.block_count`);
  const sameBc = plan.blockCount === undefined || plan.blockCount === bc;
  const mism = want.map((w, i) => (w === got[i] ? '' : `${w} vs ${got[i]}`)).filter(Boolean);
  const diff = got.length !== want.length ? `${got.length} vs ${want.length} tensors` : mism.length ? mism.slice(0, 3).join(', ') : sameBc ? '' : `block_count ${bc} vs ${plan.blockCount}`;
  return { diff, plan, out };
}

const ftypes = [...new Set(FTYPES.filter((f) => !f.onlyCopy).map((f) => f.id))];

describe.skipIf(!oracle)('planner vs llama_model_quantize (real runs)', () => {
  const optionSets: [string, Partial<RunOptions>][] = [
    ['default', {}],
    ['--pure', { pure: true }],
    ['--leave-output-tensor', { leaveOutputTensor: true }],
    ['--prune-layers 1,3', { pruneLayers: [1, 3] }],
    ['--tensor-type attn_v=q8_0 ffn_.*=q5_k', { tensorTypes: [{ pattern: 'attn_v', type: GgmlType.Q8_0 }, { pattern: 'ffn_.*', type: GgmlType.Q5_K }] }],
  ];
  for (const [label, extra] of optionSets) {
    it(`stories260K, all 35 ftypes, ${label}`, () => {
      const bad: string[] = [];
      for (const ftype of ftypes) {
        const { diff } = compare(STORIES, { ftype, ...extra });
        if (diff) bad.push(`${F[ftype]}: ${diff}`);
      }
      expect(bad).toEqual([]);
    });
  }

  it('--prune-layers 0 and 4 (first and last), and all of them', () => {
    for (const pruneLayers of [[0], [4], [4, 0, 2], [0, 1, 2, 3, 4]]) {
      const { diff, plan } = compare(STORIES, { ftype: F.Q4_K_M, pruneLayers });
      expect(diff, pruneLayers.join(',')).toBe('');
      expect((plan as TypePlan).blockCount).toBe(5 - new Set(pruneLayers).size);
    }
  });

  it('--keep-split on a single file: input data order instead of name order', () => {
    const h = readGgufHeader(STORIES);
    const byOffset = [...h.tensors].sort((a, b) => a.offset - b.offset).map((t) => t.name);
    for (const ftype of [F.Q4_K_M, F.Q3_K_M, F.IQ3_XS]) {
      const r = compare(STORIES, { ftype, keepSplit: true });
      expect(r.diff).toBe('');
      expect((r.plan as TypePlan).entries.map((e) => e.name)).toEqual(byOffset);
    }
    expect(byOffset).not.toEqual([...byOffset].sort());
  });

  it('an imatrix without the entry of a tensor that needs one fails at that tensor', () => {
    const h = readGgufHeader(SYNTH);
    const all = new Map(h.tensors.filter((t) => t.ne.length > 1).map((t) => [t.name, t.ne[0]]));
    const missing = new Map(all);
    missing.delete('blk.0.attn_k.weight');
    const r = compare(SYNTH, { ftype: F.IQ2_XS, imatrix: missing });
    expect(r.diff).toBe('');
    expect(r.plan).toMatchObject({ code: 'imatrix-entry-missing', tensor: 'blk.0.attn_k.weight' });
    // no imatrix at all: refused before writing
    const none = compare(SYNTH, { ftype: F.IQ2_XS });
    expect(none.diff).toBe('');
    expect(none.plan).toMatchObject({ code: 'imatrix-required' });
    // with every entry, IQ3_XXS keeps ffn_down at iq3_xxs (without an imatrix the rule would pick q3_K)
    const full = compare(SYNTH, { ftype: F.IQ3_XXS, imatrix: all });
    expect(full.diff).toBe('');
    expect((full.plan as TypePlan).entries.find((e) => e.name === 'blk.1.ffn_down.weight')!.targetType).toBe(GgmlType.IQ3_XXS);
  });

  it('requantizing needs --allow-requantize; COPY copies', () => {
    const q8 = compare(STORIES, { ftype: F.Q8_0 });
    expect(q8.diff).toBe('');
    const refused = compare(q8.out, { ftype: F.Q4_K_M });
    expect(refused.diff).toBe('');
    expect(refused.plan).toMatchObject({ code: 'requantize-disabled' });
    expect(compare(q8.out, { ftype: F.Q4_K_M, allowRequantize: true }).diff).toBe('');
    expect(compare(q8.out, { ftype: F.Q6_K, allowRequantize: true, pure: true }).diff).toBe('');
    const copy = compare(q8.out, { ftype: F.ALL_F32, onlyCopy: true });
    expect(copy.diff).toBe('');
    expect((copy.plan as TypePlan).entries.every((e) => !e.quantize)).toBe(true);
  });
});
