import { describe, it, expect } from 'vitest';
import { GgmlType as T } from '../../src/core/ggml-type.js';
import { LlamaFtype as F } from '../../src/policy/ftype.js';
import {
  useMoreBits, fallbackType, tensorCategory, TensorCategory as C, tensorAllowsQuantization, requiresImatrix,
  compareTensorNames, nDims, blockIndex, PolicyError,
} from '../../src/policy/tensor-type.js';
import { modelFactsFromKv, detect70B } from '../../src/policy/model-facts.js';

describe('useMoreBits (spec §4.2)', () => {
  it('n = 28: the first and last eighth and every third layer between', () => {
    const hits = Array.from({ length: 28 }, (_, i) => i).filter((i) => useMoreBits(i, 28));
    expect(hits).toEqual([0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27]);
  });
  it('uses integer division (n = 8, n = 5)', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].filter((i) => useMoreBits(i, 8))).toEqual([0, 3, 6, 7]);
    expect([0, 1, 2, 3, 4].filter((i) => useMoreBits(i, 5))).toEqual([2, 4]);
  });
});

describe('shape fallback (spec §4.7)', () => {
  const cases: [T, T][] = [
    [T.IQ1_S, T.IQ4_NL], [T.IQ1_M, T.IQ4_NL], [T.IQ2_XXS, T.IQ4_NL], [T.IQ2_XS, T.IQ4_NL], [T.IQ2_S, T.IQ4_NL],
    [T.IQ3_XXS, T.IQ4_NL], [T.IQ3_S, T.IQ4_NL], [T.IQ4_XS, T.IQ4_NL], [T.Q2_K, T.Q4_0], [T.Q3_K, T.Q4_0],
    [T.TQ1_0, T.Q4_0], [T.TQ2_0, T.Q4_0], [T.Q4_K, T.Q5_0], [T.Q5_K, T.Q5_1], [T.Q6_K, T.Q8_0],
  ];
  it.each(cases)('%s → %s for a row of 320, f16 for a row of 48', (from, to) => {
    expect(fallbackType(from, 512)).toBe(from);
    expect(fallbackType(from, 320)).toBe(to);
    expect(fallbackType(from, 48)).toBe(T.F16);
  });
  it('q2_0 (block 64) falls back to q4_0', () => {
    expect(fallbackType(T.Q2_0, 96)).toBe(T.Q4_0);
    expect(fallbackType(T.Q2_0, 128)).toBe(T.Q2_0);
  });
  it('block ≤ 32 types stand for themselves, then f16', () => {
    for (const t of [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.IQ4_NL, T.MXFP4]) {
      expect(fallbackType(t, 64)).toBe(t);
      expect(fallbackType(t, 48)).toBe(T.F16);
    }
    expect(fallbackType(T.F16, 7)).toBe(T.F16);
  });
  it('no fallback for q1_0 (block 128): an error naming tensor and width', () => {
    expect(fallbackType(T.Q1_0, 256)).toBe(T.Q1_0);
    let err: unknown;
    try { fallbackType(T.Q1_0, 320, 'blk.0.attn_k.weight'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(PolicyError);
    expect(err).toMatchObject({ code: 'no-fallback', tensor: 'blk.0.attn_k.weight' });
    expect((err as Error).message).toMatch(/type q1_0.*ncols 320 not divisible by 128/);
  });
});

describe('categories (spec §4.4)', () => {
  const cases: [string, C][] = [
    ['output.weight', C.OUTPUT], ['token_embd.weight', C.TOKEN_EMBD], ['per_layer_token_embd.weight', C.TOKEN_EMBD],
    ['blk.0.attn_qkv.weight', C.ATTN_QKV], ['blk.0.attn_kv_b.weight', C.ATTN_KV_B], ['blk.0.attn_v.weight', C.ATTN_V],
    ['blk.0.attn_k.weight', C.ATTN_K], ['blk.0.attn_q.weight', C.ATTN_Q], ['blk.0.attn_output.weight', C.ATTN_OUTPUT],
    ['blk.0.ffn_up.weight', C.FFN_UP], ['blk.0.ffn_up_exps.weight', C.FFN_UP], ['blk.0.ffn_gate_exps.weight', C.FFN_GATE],
    ['blk.0.ffn_down_exps.weight', C.FFN_DOWN], ['blk.0.ffn_down_shexp.weight', C.FFN_DOWN],
    ['blk.0.ffn_gate_up_exps.weight', C.FFN_GATE], ['blk.0.attn_q_a.weight', C.OTHER], ['blk.0.attn_q_b.weight', C.OTHER],
    ['blk.0.attn_k_b.weight', C.OTHER], ['blk.0.attn_v_b.weight', C.OTHER], ['blk.0.attn_kv_a_mqa.weight', C.OTHER],
    ['blk.0.ssm_out.weight', C.OTHER], ['output.weight.extra', C.OTHER], ['v.output.weight', C.OTHER],
  ];
  it.each(cases)('%s is %s', (name, cat) => expect(tensorCategory(name)).toBe(cat));
});

describe('which tensors are quantized (spec §4.3)', () => {
  it('2-D weights only, trailing 1s do not count', () => {
    expect(nDims([4096, 1])).toBe(1);
    expect(nDims([4096, 1, 8])).toBe(3);
    expect(tensorAllowsQuantization('blk.0.attn_q.weight', [256, 256])).toBe(true);
    expect(tensorAllowsQuantization('blk.0.attn_q.weight', [4096, 1])).toBe(false);
    expect(tensorAllowsQuantization('blk.0.attn_q.bias', [256, 256])).toBe(false);
    expect(tensorAllowsQuantization('blk.0.ffn_down_exps.weight', [256, 256, 8])).toBe(true);
  });
  it('exclusions by name', () => {
    for (const n of ['blk.0.attn_norm.weight', 'blk.0.ffn_gate_inp.weight', 'position_embd.weight', 'token_types.weight',
      'blk.0.ssm_conv1d.weight', 'v.position_embd.weight', 'blk.0.time_mix_w1.weight', 'v.patch_embd.weight',
      'blk.0.altup_proj.weight', 'per_layer_model_proj.weight']) {
      expect(tensorAllowsQuantization(n, [256, 256]), n).toBe(false);
    }
  });
  it('options: COPY and --leave-output-tensor', () => {
    expect(tensorAllowsQuantization('output.weight', [256, 256], { leaveOutputTensor: true })).toBe(false);
    expect(tensorAllowsQuantization('token_embd.weight', [256, 256], { leaveOutputTensor: true })).toBe(true);
    expect(tensorAllowsQuantization('token_embd.weight', [256, 256], { onlyCopy: true })).toBe(false);
  });
  it('a 5-byte name counts as ending in "weight" (size_t wrap in llama.cpp)', () => {
    expect(tensorAllowsQuantization('abcde', [256, 256])).toBe(true);
    expect(tensorAllowsQuantization('abcdef', [256, 256])).toBe(false);
  });
});

describe('imatrix requirement (spec §4.8)', () => {
  it('by final type, q2_K only in Q2_K_S, never for embeddings/output', () => {
    for (const t of [T.IQ3_XXS, T.IQ2_XXS, T.IQ2_XS, T.IQ2_S, T.IQ1_M, T.IQ1_S]) expect(requiresImatrix('blk.0.x.weight', t, F.Q4_K_M)).toBe(true);
    for (const t of [T.IQ3_S, T.IQ4_XS, T.Q3_K, T.Q4_0]) expect(requiresImatrix('blk.0.x.weight', t, F.IQ2_M)).toBe(false);
    expect(requiresImatrix('blk.0.x.weight', T.Q2_K, F.Q2_K_S)).toBe(true);
    expect(requiresImatrix('blk.0.x.weight', T.Q2_K, F.Q2_K)).toBe(false);
    for (const n of ['token_embd.weight', 'per_layer_token_embd.weight', 'output.weight']) expect(requiresImatrix(n, T.IQ1_S, F.IQ1_S)).toBe(false);
  });
});

describe('loader order (spec §4.2)', () => {
  const sorted = (names: string[]) => [...names].sort(compareTensorNames);
  it('non-blk first, then by layer number, then by name', () => {
    expect(sorted(['blk.10.a.weight', 'blk.2.b.weight', 'token_embd.weight', 'blk.2.a.weight', 'output.weight', 'output_norm.weight']))
      .toEqual(['output.weight', 'output_norm.weight', 'token_embd.weight', 'blk.2.a.weight', 'blk.2.b.weight', 'blk.10.a.weight']);
  });
  it('byte-wise, not locale order', () => {
    expect(sorted(['b', 'a', 'Z', '_x', '.x'])).toEqual(['.x', 'Z', '_x', 'a', 'b']);
    // UTF-8 bytes: é (c3 a9) < U+FF01 (ef bc 81) < U+1F600 (f0 9f 98 80); UTF-16 would put the emoji second
    expect(sorted(['\u{1F600}', '\uFF01', 'é'])).toEqual(['é', '\uFF01', '\u{1F600}']);
  });
  it('agrees with Buffer.compare of the UTF-8 bytes on random names', () => {
    const pool = ['a', 'b', 'Z', '_', '.', 'é', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\uffff', '\u{10000}', '\u{1F600}', '\u{10FFFF}'];
    let seed = 12345;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
    for (let k = 0; k < 5000; k++) {
      const mk = () => Array.from({ length: 1 + rnd(4) }, () => pool[rnd(pool.length)]).join('');
      const a = mk(), b = mk();
      expect(Math.sign(compareTensorNames(a, b)), `${a} ${b}`).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
    }
  });
  it('reads the layer like sscanf("blk.%d.")', () => {
    expect(blockIndex('blk.12.attn_q.weight')).toBe(12);
    expect(blockIndex('blk.7x')).toBe(7);
    expect(blockIndex('blk.-1.x')).toBe(-1);
    expect(blockIndex('v.blk.3.x')).toBeUndefined();
    expect(blockIndex('blk.x')).toBeUndefined();
    expect(sorted(['blk.-1.a', 'z.weight', 'blk.0.a'])).toEqual(['blk.-1.a', 'z.weight', 'blk.0.a']);
  });
});

describe('model facts from GGUF key/values', () => {
  it('reads head counts (arrays: layer 0), defaults and expert count', () => {
    const f = modelFactsFromKv({ 'general.architecture': 'qwen3', 'qwen3.block_count': 28n, 'qwen3.attention.head_count': [16, 8],
      'qwen3.attention.head_count_kv': new Uint32Array([8, 4]) }, []);
    expect(f).toMatchObject({ arch: 'qwen3', nLayer: 28, nHead: 16, nHeadKv: 8, nExpert: 0, is70B: false });
    const g = modelFactsFromKv(new Map<string, unknown>([['general.architecture', 'llama'], ['llama.block_count', 80],
      ['llama.attention.head_count', 64], ['llama.expert_count', { type: 4, value: 0 }]]), []);
    expect(g).toMatchObject({ nHead: 64, nHeadKv: 64, is70B: false });
  });
  it('70B: llama with 80 layers and GQA (not 8 experts), qwen2/deci/olmo 80, jais2 68', () => {
    expect(detect70B('llama', 80, 64, 8, 0)).toBe(true);
    expect(detect70B('llama', 80, 64, 64, 0)).toBe(false);
    expect(detect70B('llama', 80, 64, 8, 8)).toBe(false);
    expect(detect70B('qwen2', 80, 64, 64, 0)).toBe(true);
    expect(detect70B('olmo', 80, 64, 64, 0)).toBe(true);
    expect(detect70B('deci', 80, 64, 8, 0)).toBe(true);
    expect(detect70B('jais2', 68, 64, 8, 0)).toBe(true);
    expect(detect70B('qwen3', 80, 64, 8, 0)).toBe(false);
    const kv = { 'general.architecture': 'llama', 'llama.block_count': 81, 'llama.nextn_predict_layers': 1,
      'llama.attention.head_count': 64, 'llama.attention.head_count_kv': 8 };
    expect(modelFactsFromKv(kv, []).is70B).toBe(true);
  });
});
