/** The planner's option handling and refusals (spec §4.5, §4.8, §5.3, §5.5), on small synthetic models. */
import { describe, it, expect } from 'vitest';
import { GgmlType as T } from '../../src/core/ggml-type.js';
import { LlamaFtype as F } from '../../src/policy/ftype.js';
import { planTensorTypes, PolicyError, type PolicyOptions, type TypePlan } from '../../src/policy/tensor-type.js';
import type { ModelFacts, TensorFacts } from '../../src/policy/model-facts.js';

function dense(nLayer: number, opts: { type?: T; width?: number; tied?: boolean; experts?: number } = {}): ModelFacts {
  const E = opts.width ?? 256, type = opts.type ?? T.F16, ne = opts.experts ?? 0;
  const t: TensorFacts[] = [];
  const add = (name: string, ...shape: number[]) => t.push({ name, ne: shape, type: shape.length > 1 ? type : T.F32 });
  add('token_embd.weight', E, 300);
  if (!opts.tied) add('output.weight', E, 300);
  add('output_norm.weight', E);
  for (let i = nLayer - 1; i >= 0; i--) { // reverse: the plan must reorder
    for (const n of ['attn_q', 'attn_k', 'attn_v', 'attn_output']) add(`blk.${i}.${n}.weight`, E, E);
    add(`blk.${i}.attn_norm.weight`, E);
    if (ne) {
      for (const n of ['ffn_gate_exps', 'ffn_up_exps', 'ffn_down_exps']) add(`blk.${i}.${n}.weight`, E, E, ne);
    } else {
      for (const n of ['ffn_gate', 'ffn_up', 'ffn_down']) add(`blk.${i}.${n}.weight`, E, E);
    }
  }
  return { arch: 'llama', nLayer, nHead: 8, nHeadKv: 8, nExpert: ne, tensors: t };
}
const plan = (m: ModelFacts, o: Partial<PolicyOptions>): TypePlan => planTensorTypes(m, { ftype: F.Q4_K_M, hasImatrix: false, ...o });
const typeOf = (p: TypePlan, name: string) => p.entries.find((e) => e.name === name)?.targetType;
const thrown = (f: () => unknown): PolicyError => {
  try { f(); } catch (e) { if (e instanceof PolicyError) return e; throw e; }
  throw new Error('expected a PolicyError');
};

describe('write order and entries', () => {
  it('non-blk tensors first, then layers in numeric order', () => {
    const p = plan(dense(11), {});
    const names = p.entries.map((e) => e.name);
    expect(names.slice(0, 3)).toEqual(['output.weight', 'output_norm.weight', 'token_embd.weight']);
    expect(names.indexOf('blk.2.attn_k.weight')).toBeLessThan(names.indexOf('blk.10.attn_k.weight'));
    expect(names.slice(3, 11)).toEqual(['blk.0.attn_k.weight', 'blk.0.attn_norm.weight', 'blk.0.attn_output.weight',
      'blk.0.attn_q.weight', 'blk.0.attn_v.weight', 'blk.0.ffn_down.weight', 'blk.0.ffn_gate.weight', 'blk.0.ffn_up.weight']);
  });
  it('copy flags: norms and same-type tensors are copied', () => {
    const p = plan(dense(2, { type: T.Q4_K }), { dryRun: true });
    const norm = p.entries.find((e) => e.name === 'output_norm.weight')!;
    expect(norm).toMatchObject({ quantize: false, allowsQuantization: false, targetType: T.F32 });
    expect(p.entries.find((e) => e.name === 'blk.0.attn_q.weight')).toMatchObject({ quantize: false, targetType: T.Q4_K });
  });
  it('fallbacks are reported with the replaced type and counted', () => {
    const p = plan(dense(2, { width: 320 }), {});
    const q = p.entries.find((e) => e.name === 'blk.0.attn_q.weight')!;
    expect(q).toMatchObject({ targetType: T.Q5_0, fallback: T.Q4_K });
    // output (q8_0 by the nx rule) and 1-D norms do not fall back; every other matrix does
    expect(p.nFallback).toBe(p.entries.filter((e) => e.allowsQuantization).length - 1);
  });
});

describe('options', () => {
  it('--tensor-type is a lower-cased regex; a manual attn_v shifts the attn_v counter', () => {
    const m = dense(8);
    const base = plan(m, {});
    const v = (p: TypePlan) => [0, 1, 2, 3, 4, 5, 6, 7].filter((i) => typeOf(p, `blk.${i}.attn_v.weight`) === T.Q6_K);
    expect(v(base)).toEqual([0, 3, 6, 7]);
    const manual = plan(m, { tensorTypes: [{ pattern: 'BLK\\.0\\.ATTN_V', type: T.Q8_0 }] });
    expect(typeOf(manual, 'blk.0.attn_v.weight')).toBe(T.Q8_0);
    expect(v(manual)).toEqual([1, 4, 7]);
  });
  it('patterns are tried in order; the first match wins; the fallback still applies', () => {
    const p = plan(dense(2, { width: 320 }), { tensorTypes: [{ pattern: 'attn', type: T.Q6_K }, { pattern: 'attn_q', type: T.Q8_0 }] });
    expect(typeOf(p, 'blk.0.attn_q.weight')).toBe(T.Q8_0); // q6_K fell back
    expect(p.entries.find((e) => e.name === 'blk.0.attn_q.weight')!.fallback).toBe(T.Q6_K);
  });
  it('F16/BF16/F32 ftypes ignore --tensor-type', () => {
    const p = plan(dense(2), { ftype: F.BF16, tensorTypes: [{ pattern: 'attn_q', type: T.Q8_0 }] });
    expect(typeOf(p, 'blk.0.attn_q.weight')).toBe(T.BF16);
  });
  it('--output-tensor-type and --token-embedding-type skip the fallback; a tied token_embd follows the output type', () => {
    const p = plan(dense(2, { width: 320 }), { outputTensorType: T.Q4_K, tokenEmbeddingType: T.Q6_K });
    expect(typeOf(p, 'output.weight')).toBe(T.Q4_K);
    expect(typeOf(p, 'token_embd.weight')).toBe(T.Q6_K);
    const tied = plan(dense(2, { tied: true }), { outputTensorType: T.Q5_K });
    expect(typeOf(tied, 'token_embd.weight')).toBe(T.Q5_K);
  });
  it('per_layer_token_embd: an explicit --tensor-type wins over --token-embedding-type', () => {
    const m = dense(1);
    m.tensors.push({ name: 'per_layer_token_embd.weight', ne: [256, 300], type: T.F16 });
    expect(typeOf(plan(m, { tokenEmbeddingType: T.Q8_0 }), 'per_layer_token_embd.weight')).toBe(T.Q8_0);
    const p = plan(m, { tokenEmbeddingType: T.Q8_0, tensorTypes: [{ pattern: 'per_layer', type: T.Q5_K }] });
    expect(typeOf(p, 'per_layer_token_embd.weight')).toBe(T.Q5_K);
    expect(typeOf(p, 'token_embd.weight')).toBe(T.Q8_0);
  });
  it('--leave-output-tensor keeps output.weight; COPY keeps everything', () => {
    expect(typeOf(plan(dense(2), { leaveOutputTensor: true }), 'output.weight')).toBe(T.F16);
    const c = plan(dense(2, { type: T.Q4_0 }), { ftype: F.ALL_F32, onlyCopy: true });
    expect(c.entries.every((e) => !e.quantize && !e.allowsQuantization)).toBe(true);
  });
  it('--pure skips the mix, keeps the fallback', () => {
    const p = plan(dense(2, { width: 320 }), { pure: true });
    expect(typeOf(p, 'output.weight')).toBe(T.Q5_0);
    expect(typeOf(p, 'blk.0.attn_v.weight')).toBe(T.Q5_0);
  });
  it('an invalid regex is a PolicyError', () => {
    expect(thrown(() => plan(dense(1), { tensorTypes: [{ pattern: 'attn_(', type: T.Q8_0 }] })).code).toBe('invalid-pattern');
  });
});

describe('--keep-split', () => {
  it('decides and writes in input order, so the running counters see the layers in that order', () => {
    const m = dense(8);
    // the input stores layers last-to-first: m.tensors is already in that order (see dense())
    const offset = new Map(m.tensors.map((t, i) => [t.name, i * 1000]));
    const p = plan(m, { keepSplit: true, tensorShard: (n) => ({ shard: 0, dataOffset: offset.get(n)! }) });
    expect(p.entries.map((e) => e.name)).toEqual(m.tensors.map((t) => t.name));
    // processing index i ∈ {0, 3, 6, 7} gets q6_K; layer 7 is processed first
    const v = [0, 1, 2, 3, 4, 5, 6, 7].filter((i) => typeOf(p, `blk.${i}.attn_v.weight`) === T.Q6_K);
    expect(v).toEqual([0, 1, 4, 7]);
  });
  it('orders by shard first', () => {
    const m = dense(2);
    const p = plan(m, { keepSplit: true, tensorShard: (n) => ({ shard: n.startsWith('blk.0.') ? 1 : 0, dataOffset: n.length }) });
    expect(p.entries.findIndex((e) => e.name.startsWith('blk.0.'))).toBe(p.entries.length - 8);
  });
});

describe('--prune-layers', () => {
  it('drops layers, renumbers the rest, sets block_count, keeps imatrix names', () => {
    const p = plan(dense(5), { pruneLayers: [3, 1, 1] });
    expect(p.blockCount).toBe(3);
    const layers = [...new Set(p.entries.map((e) => /^blk\.(\d+)/.exec(e.name)?.[1]).filter(Boolean))];
    expect(layers).toEqual(['0', '1', '2']);
    expect(p.entries.find((e) => e.name === 'blk.1.attn_q.weight')!.sourceName).toBe('blk.2.attn_q.weight');
    expect(p.entries.find((e) => e.name === 'blk.2.attn_q.weight')!.sourceName).toBe('blk.4.attn_q.weight');
    expect(p.entries.length).toBe(3 + 3 * 8);
  });
  it('pruning layer 0 shifts everything down; counters still use the original block_count', () => {
    const p = plan(dense(8), { pruneLayers: [0] });
    expect(p.blockCount).toBe(7);
    // n_attention_wv counts the 7 kept attn_v: use_more_bits(i, 7) → i ∈ {2, 5, 6}
    const v = [0, 1, 2, 3, 4, 5, 6].filter((i) => typeOf(p, `blk.${i}.attn_v.weight`) === T.Q6_K);
    expect(v).toEqual([2, 5, 6]);
    // ffn_down: running index over n_ffn_down = 8 (unpruned): use_more_bits(i, 8) → i ∈ {0, 3, 6, 7}; i = 7 is absent
    const d = [0, 1, 2, 3, 4, 5, 6].filter((i) => typeOf(p, `blk.${i}.ffn_down.weight`) === T.Q6_K);
    expect(d).toEqual([0, 3, 6]);
  });
  it('no pruning: no block_count change', () => expect(plan(dense(2), {}).blockCount).toBeUndefined());
});

describe('refusals', () => {
  it('requantizing needs --allow-requantize (not checked by a dry run)', () => {
    const m = dense(2, { type: T.Q4_0 });
    const e = thrown(() => plan(m, {}));
    expect(e.code).toBe('requantize-disabled');
    expect(e.tensor).toBe('output.weight'); // first converted tensor in write order
    expect(e.message).toMatch(/already q4_0.*--allow-requantize/);
    expect(() => plan(m, { allowRequantize: true })).not.toThrow();
    expect(() => plan(m, { dryRun: true })).not.toThrow();
    expect(() => plan(m, { ftype: F.Q4_0, pure: true })).not.toThrow(); // same type: copied
  });
  it('a required imatrix missing stops the preliminary pass at the first tensor needing one', () => {
    const m = dense(8, { type: T.Q4_0 }); // the imatrix check comes before any requantize check
    const e = thrown(() => plan(m, { ftype: F.IQ2_XXS }));
    expect(e).toMatchObject({ code: 'imatrix-required', tensor: 'blk.0.attn_k.weight' });
    expect(e.message).toMatch(/iq2_xxs/);
    const dry = plan(m, { ftype: F.IQ2_XXS, dryRun: true });
    expect(dry.willRequireImatrix).toBe(true);
    expect(plan(m, { ftype: F.IQ2_XXS, hasImatrix: true, dryRun: true }).willRequireImatrix).toBe(false);
    expect(thrown(() => plan(dense(2), { ftype: F.Q2_K_S })).code).toBe('imatrix-required');
    expect(() => plan(dense(2), { ftype: F.Q2_K })).not.toThrow();
  });
  it('an imatrix without an entry for a tensor that requires one', () => {
    const m = dense(2);
    const all = new Set(m.tensors.map((t) => t.name));
    expect(() => plan(m, { ftype: F.IQ2_XS, hasImatrix: true, imatrixNames: all })).not.toThrow();
    all.delete('blk.1.ffn_up.weight');
    expect(thrown(() => plan(m, { ftype: F.IQ2_XS, hasImatrix: true, imatrixNames: all })))
      .toMatchObject({ code: 'imatrix-entry-missing', tensor: 'blk.1.ffn_up.weight' });
    // the entry is looked up under the name before pruning
    const pruned = new Set([...all].filter((n) => !n.startsWith('blk.0.')));
    pruned.add('blk.1.ffn_up.weight');
    expect(() => plan(m, { ftype: F.IQ2_XS, hasImatrix: true, imatrixNames: pruned, pruneLayers: [0] })).not.toThrow();
  });
  it('a fallback to nothing (q1_0, block 128) fails even in a dry run', () => {
    const e = thrown(() => plan(dense(2, { width: 320 }), { ftype: F.Q1_0, dryRun: true }));
    // output.weight takes q8_0 (its width is no multiple of q1_0's block); token_embd is the first to fail
    expect(e).toMatchObject({ code: 'no-fallback', tensor: 'token_embd.weight' });
  });
  it('MoE ffn tensors outside [0, block_count) are a bad layer', () => {
    const m = dense(2, { experts: 8 });
    m.tensors.push({ name: 'blk.5.ffn_down_exps.weight', ne: [256, 256, 8], type: T.F16 });
    const e = thrown(() => plan(m, { ftype: F.Q4_K_M }));
    expect(e).toMatchObject({ code: 'bad-layer', tensor: 'blk.5.ffn_down_exps.weight' });
    expect(e.message).toMatch(/Bad layer 5/);
  });
  it('NVFP4 is not a valid output file type', () => {
    expect(() => plan(dense(1), { ftype: F.NVFP4 })).toThrow(/invalid output file type 39/);
  });
});
