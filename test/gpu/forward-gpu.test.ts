/**
 * The forward pass on WebGPU (src/model/gpu-forward.ts) against the CPU path (src/model/llama.ts) and against
 * llama-perplexity's per-chunk perplexities (../shared/golden/llama-tools-v050), on whatever adapter this
 * machine has (SwiftShader without a GPU): stories260K (F32), qwen2/qwen3, a mixture-of-experts llama, and a
 * generated model whose matrices use twelve storage types (all dequantized on the device), resident and
 * streamed, and with its weights cut into row slices (GpuForwardOptions.maxBindingBytes) resident and
 * streamed, bit for bit the unsliced pass; likewise the logits in token slices (stories260K, qwen2 with its
 * output.bias, qwen3), with the imatrix's Σx²; the slicing arithmetic, and a streamed weight sliced at the
 * 16 MiB floor under a budget below it. With F32/F16/BF16 weights (stories260K F32, qwen2 F16, qwen3 BF16,
 * the MoE in F16) the logits and Σx² equal the CPU pass's bit for bit (counts of identical values).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGgufModelFile, FileSink } from '../../src/node/file-io.js';
import { quantizeFile } from '../../src/node/index.js';
import { CPU_MATMUL, LlamaModel, matmul } from '../../src/model/llama.js';
import { bf16ToFp32, fp16ToFp32, fp32ToBf16, fp32ToFp16 } from '../../src/core/half.js';
import { GpuMatmul } from '../../src/model/gpu-matmul.js';
import { GpuForward, rowSlices } from '../../src/model/gpu-forward.js';
import { Tokenizer } from '../../src/model/tokenizer.js';
import { chunkTokens, planChunks, PplAccumulator, tokenNll } from '../../src/eval/chunks.js';
import { computeImatrix } from '../../src/eval/imatrix.js';
import { mulberry32, syntheticModel } from '../../src/synthetic-model.js';
import { GgmlType, typeByName } from '../../src/core/ggml-type.js';
import { SHARED } from '../golden/shared-paths.js';
import { gpuEnv, requireAdapterInCi } from './gpu-env.js';
import { tiedRouterValues } from '../data/moe-values.js';

const env = await gpuEnv();
requireAdapterInCi(env);
afterAll(() => env.handle?.device.destroy());
const GOLD = path.join(SHARED, 'golden/llama-tools-v050');

async function loadModel(file: string) {
  const m = await openGgufModelFile(file);
  const tok = Tokenizer.fromKvs(m.kvs, m.name);
  const model = await LlamaModel.load(m);
  await m.close();
  return { model, tok };
}

/** max |a - b|, and the sums' worst |a - b| relative to the largest entry of their tensor */
function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]));
  return w;
}
function sumsDiff(gpu: Map<string, Float32Array>, cpu: Map<string, Float32Array>): number {
  expect([...gpu.keys()]).toEqual([...cpu.keys()]);
  let w = 0;
  for (const [name, c] of cpu) {
    const g = gpu.get(name)!;
    const max = c.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let i = 0; i < c.length; i++) w = Math.max(w, Math.abs(g[i] - c[i]) / max);
  }
  return w;
}
const sumsInto = (m: Map<string, Float32Array>) => (name: string, s: Float32Array) => void m.set(name, Float32Array.from(s));
/** how many of a's values differ from b's in their bits */
function bitsDiffer(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) n++;
  return n;
}

/** how many Σx² values differ in their bits between two passes, of how many */
function sumsBitsDiffer(gpu: Map<string, Float32Array>, cpu: Map<string, Float32Array>): [number, number] {
  expect([...gpu.keys()]).toEqual([...cpu.keys()]);
  let n = 0;
  let d = 0;
  for (const [name, c] of cpu) {
    n += c.length;
    d += bitsDiffer(gpu.get(name)!, c);
  }
  return [d, n];
}

/**
 * `model` on `ids` with weights and logits cut into slices of at most `maxBindingBytes`, resident and streamed:
 * the logits (`logitSlices` token slices) and every Σx² of the unsliced pass (`want`, `wantSums`), bit for bit.
 */
async function expectSlicedSame(what: string, model: LlamaModel, ids: ArrayLike<number>, maxBindingBytes: number, logitSlices: number,
  want: Float32Array, wantSums: Map<string, Float32Array>): Promise<GpuForward> {
  const V = model.hp.nVocab;
  expect(want.length).toBe(ids.length * V);
  let last: GpuForward | undefined;
  for (const budgetBytes of [undefined, 0]) {
    last?.destroy();
    const g = (last = new GpuForward(env.handle!.device, env.handle!.adapterName, { software: env.handle!.isSoftware, budgetBytes, maxBindingBytes }));
    const sums = new Map<string, Float32Array>();
    const t0 = performance.now();
    const got = await model.forward(ids, { matmul: g, onMatmulSums: sumsInto(sums) });
    const ms = performance.now() - t0;
    const how = `${what}, ${budgetBytes === 0 ? 'streamed' : 'resident'}`;
    expect(g.isResident(model), how).toBe(budgetBytes === undefined);
    expect(g.logitSlices, how).toBe(logitSlices);
    const per = Math.floor(maxBindingBytes / (V * 4));
    expect(ids.length % per, `${how}: a last token slice shorter than the others`).not.toBe(0);
    const dl = bitsDiffer(got, want);
    expect([...sums.keys()], how).toEqual([...wantSums.keys()]);
    let ns = 0;
    let ds = 0;
    for (const [name, s] of wantSums) {
      ns += s.length;
      ds += bitsDiffer(sums.get(name)!, s);
    }
    console.log(`${how}: logits of ${ids.length} tokens in ${g.logitSlices} token slices of ${per}, ${got.length - dl} of ${got.length} logits and ` +
      `${ns - ds} of ${ns} Σx² values (${sums.size} matmul inputs) bit-identical to the unsliced pass (${ms.toFixed(0)} ms)`);
    expect(dl, `${how}: ${dl} of ${got.length} logits differ from the unsliced pass`).toBe(0);
    expect(ds, `${how}: ${ds} of ${ns} Σx² values differ from the unsliced pass`).toBe(0);
  }
  return last!;
}

describe('row slices of a weight (rowSlices)', () => {
  it('as many rows as fit the binding limit; streamed, also the budget, but never below 16 MiB; a row wider than that refused', () => {
    const MiB = 2 ** 20;
    const binding = 128 * MiB;
    // 4096 x 4096 F32: 16 KiB rows, 64 MiB in all
    const f32 = { name: 'blk.0.ffn_up.weight', rows: 4096, cols: 4096, storedBytes: 4096 * 4096 * 4 };
    const quarters = [{ row0: 0, rows: 1024 }, { row0: 1024, rows: 1024 }, { row0: 2048, rows: 1024 }, { row0: 3072, rows: 1024 }];
    // resident: one slice within the binding limit
    expect(rowSlices(f32, binding, null)).toEqual([{ row0: 0, rows: 4096 }]);
    // streamed with budgets below the floor (0, 1 MiB, 16 MiB - 1): 16 MiB slices of 1024 rows
    for (const budget of [0, MiB, 16 * MiB - 1]) expect(rowSlices(f32, binding, budget), `budget ${budget}`).toEqual(quarters);
    // a budget above the floor is the cap: 32 MiB = 2048 rows; 40 MiB = 2560 rows, then the other 1536
    expect(rowSlices(f32, binding, 32 * MiB)).toEqual([{ row0: 0, rows: 2048 }, { row0: 2048, rows: 2048 }]);
    expect(rowSlices(f32, binding, 40 * MiB)).toEqual([{ row0: 0, rows: 2560 }, { row0: 2560, rows: 1536 }]);
    // the binding limit below the floor still wins: 8 MiB = 512 rows, 8 slices
    expect(rowSlices(f32, 8 * MiB, 0)).toHaveLength(8);
    expect(rowSlices(f32, 8 * MiB, 0)[7]).toEqual({ row0: 3584, rows: 512 });
    // Q8_0, 4096 x 5000: a row stores 128 blocks x 34 = 4352 bytes but widens to 16384: 1024 rows a slice, the last 904
    const q8 = { name: 'output.weight', rows: 5000, cols: 4096, storedBytes: 5000 * 4352 };
    expect(rowSlices(q8, binding, 0)).toEqual([...quarters, { row0: 4096, rows: 904 }]);
    // a row of 8 Mi F32 values (32 MiB) fits no 16 MiB slice
    expect(() => rowSlices({ name: 'token_embd.weight', rows: 2, cols: 8 * MiB, storedBytes: 64 * MiB }, binding, 0))
      .toThrow('token_embd.weight: one row of 33554432 bytes exceeds the 16777216 bytes a weight slice may bind on this adapter');
  });
});

describe.skipIf(!env.handle)('forward pass on WebGPU', () => {
  it('matmul kernel = CPU matmul within 1e-5 relative, on shapes that do not fill the 16x16 tiles', async () => {
    const g = new GpuMatmul(env.handle!.device, env.handle!.adapterName);
    const rnd = mulberry32(7);
    for (const [T, n, m] of [[1, 1, 1], [5, 33, 17], [128, 64, 512], [37, 172, 64], [16, 256, 768]]) {
      const x = Float32Array.from({ length: T * n }, () => rnd() * 2 - 1);
      const w = Float32Array.from({ length: m * n }, () => rnd() * 2 - 1);
      const want = new Float32Array(T * m);
      const got = new Float32Array(T * m);
      matmul(x, w, T, n, m, want);
      await g.matmul(x, w, T, n, m, got);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
      expect(worst, `${T}x${n}x${m}`).toBeLessThan(1e-5);
    }
    // with the weight's dot-product type, the CPU path's own sum (tinyBLAS's 16 lanes where ggml takes it, the
    // double sum elsewhere), bit for bit: F32 values, F16 and BF16 values (weights and activations rounded)
    const toF16 = (v: number) => fp16ToFp32(fp32ToFp16(v));
    const toBf16 = (v: number) => bf16ToFp32(fp32ToBf16(v));
    let exact = 0;
    for (const [dot, round] of [['f32', Math.fround], ['f16', toF16], ['bf16', toBf16]] as const) {
      for (const [T, n, m] of [[40, 256, 64], [5, 64, 36], [1, 64, 64], [9, 172, 64], [16, 96, 20]]) {
        const x = Float32Array.from({ length: T * n }, () => round((rnd() * 2 - 1) * 4));
        const w = Float32Array.from({ length: m * n }, () => round((rnd() * 2 - 1) / 8));
        const want = new Float32Array(T * m);
        const got = new Float32Array(T * m);
        await CPU_MATMUL.matmul(x, w, T, n, m, want, dot);
        await g.matmul(x, w, T, n, m, got, dot);
        expect(bitsDiffer(got, want), `${dot} ${T}x${n}x${m}: outputs differing in their bits`).toBe(0);
        exact += got.length;
      }
    }
    console.log(`matmul.wgsl with the dot-product type: ${exact} of ${exact} outputs bit-identical to the CPU path's (F32, F16, BF16; tinyBLAS shapes and others)`);
    g.destroy();
  });

  it('stories260K: logits and Σx² of the CPU pass, and the first 3 eval chunks\' perplexity within 2e-4 of llama-perplexity', async () => {
    const { model, tok } = await loadModel(path.join(SHARED, 'models/stories260K-gguf/stories260K.gguf'));
    const gold = [...fs.readFileSync(path.join(GOLD, 'stories260K/perplexity-base.log'), 'utf8').matchAll(/\[(\d+)\](\d+\.\d+)/g)].map((x) => Number(x[2])).slice(0, 3);
    const ids = tok.tokenize(fs.readFileSync(path.join(GOLD, 'eval.txt'), 'utf8').replace(/\n$/, ''), true, false);
    const plan = planChunks(ids.length, 128, 3, 'eval');
    const g = new GpuForward(env.handle!.device, env.handle!.adapterName, { software: env.handle!.isSoftware });
    const acc = new PplAccumulator();
    const V = model.hp.nVocab;
    for (let c = 0; c < 3; c++) {
      const chunk = chunkTokens(ids, plan, c, tok.bos);
      const gs = new Map<string, Float32Array>();
      const logits = await model.forward(chunk, { matmul: g, onMatmulSums: sumsInto(gs) });
      for (let i = plan.first; i < 127; i++) acc.add(tokenNll(logits, i * V, V, ids[c * 128 + i + 1]));
      expect(Math.abs(acc.ppl - gold[c]) / gold[c], `chunk ${c + 1}: ${acc.ppl} vs ${gold[c]}`).toBeLessThan(2e-4);
      if (c === 0) {
        const cs = new Map<string, Float32Array>();
        const cpu = await model.forward(chunk, { onMatmulSums: sumsInto(cs) });
        // the GPU follows the CPU path's float operations (F32 weights: ffn_down's 172 columns take the
        // float-float sum, the rest tinyBLAS's fused lanes; head size 8: the dot's tail sum): bit for bit
        const dl = bitsDiffer(logits, cpu);
        const [ds, ns] = sumsBitsDiffer(gs, cs);
        console.log(`stories260K chunk 1, GPU vs CPU: ${logits.length - dl} of ${logits.length} logits and ${ns - ds} of ${ns} Σx² values (${gs.size} matmuls) bit-identical`);
        expect(gs.size).toBe(5 * 7 + 1);
        expect(dl).toBe(0);
        expect(ds).toBe(0);
        expect([...g.paths.values()].every((p) => p === 'f32')).toBe(true);
        // F32 weights uploaded in 40 KiB row slices (160 rows of 64 values), the logits made in 7 token slices
        // (6 of 20 tokens of 512 logits, then 8): the same logits and Σx², bit for bit, resident and streamed
        const sliced = await expectSlicedSame('stories260K', model, chunk, 40 * 1024, 7, logits, gs);
        expect(sliced.slicesByWeight.get('token_embd.weight')).toBe(4);
        sliced.destroy();
      }
    }
    expect(g.isResident(model)).toBe(true);
    g.destroy();
  });

  it('qwen2 (Q/K/V biases, NEOX RoPE, tied output, output.bias) and qwen3 (per-head Q/K RMSNorm, head size 64): the CPU pass\'s logits', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-forward-qwen-'));
    try {
      const specs = {
        qwen2: { arch: 'qwen2', nLayer: 2, nEmbd: 256, nFf: 512, nHead: 4, nHeadKv: 2, nVocab: 320, untiedOutput: false, outputBias: true, seed: 11 },
        qwen3: { arch: 'qwen3', nLayer: 2, nEmbd: 256, nFf: 512, nHead: 8, nHeadKv: 2, headDim: 64, nVocab: 320, untiedOutput: true, seed: 12 },
      } as const;
      // qwen2 in F16, qwen3 in BF16 (tinyBLAS's BF16 pairs)
      const dtypes = { qwen2: GgmlType.F16, qwen3: GgmlType.BF16 } as const;
      const rnd = mulberry32(9);
      const ids = Array.from({ length: 40 }, () => 3 + Math.floor(rnd() * 317));
      for (const [arch, spec] of Object.entries(specs)) {
        const f = path.join(dir, `${arch}.gguf`);
        await syntheticModel({ ...spec, dtype: dtypes[arch as keyof typeof dtypes] }).write(await FileSink.create(f));
        const { model } = await loadModel(f);
        expect(model.hp.archConfig.rope).toBe('neox');
        expect(arch === 'qwen2' ? !!(model.layers[0].qBias && model.outputBias) : !!model.layers[0].qNorm).toBe(true);
        const g = new GpuForward(env.handle!.device, env.handle!.adapterName, { software: env.handle!.isSoftware });
        const pg = await model.forward(ids, { matmul: g, roundActivations: false, attention: 'f32' });
        const pc = await model.forward(ids, { roundActivations: false, attention: 'f32' });
        const plain = bitsDiffer(pg, pc);
        const gs = new Map<string, Float32Array>();
        const gpu = await model.forward(ids, { matmul: g, onMatmulSums: sumsInto(gs) });
        // in 16 KiB slices: weights of 16 rows of 256 values (qwen2: the tied output reuses the embedding's 20
        // slices), the logits in 4 token slices (3 of 12 tokens of 320 logits, then 4; qwen2 adds its output.bias
        // to each); the same logits and Σx², bit for bit, resident and streamed
        const sliced = await expectSlicedSame(arch, model, ids, 16 * 1024, 4, gpu, gs);
        expect(sliced.slicesByWeight.get('token_embd.weight'), arch).toBe(20);
        expect(sliced.slicesByWeight.get('output.weight'), arch).toBe(arch === 'qwen2' ? undefined : 20);
        sliced.destroy();
        const cs = new Map<string, Float32Array>();
        const cpu = await model.forward(ids, { onMatmulSums: sumsInto(cs) });
        const dl = bitsDiffer(gpu, cpu);
        const [ds, ns] = sumsBitsDiffer(gs, cs);
        console.log(`${arch}: GPU vs CPU bit-identical logits: ${pg.length - plain} of ${pg.length} without rounding points and with ggml's tiled ` +
          `attention kernel ('f32'); ${gpu.length - dl} of ${gpu.length}, and ${ns - ds} of ${ns} Σx² values, with them and the F16 attention loop`);
        expect(plain).toBe(0);
        expect(dl).toBe(0);
        expect(ds).toBe(0);
        g.destroy();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('mixture of experts (llama, 4 experts, 2 per token; F16 with two tied, Q4_K with one unchosen): the CPU pass\'s logits, and its imatrix (per-expert sums and counts), resident and streamed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-forward-moe-'));
    try {
      const spec = { nLayer: 2, nEmbd: 256, nFf: 256, nHead: 4, nHeadKv: 2, nVocab: 320, nExpert: 4, untiedOutput: true, seed: 23 };
      // F16: experts 2 and 3 share their router row (the top-k's tie order decides between them)
      const f16 = path.join(dir, 'moe-f16.gguf');
      await syntheticModel({ ...spec, dtype: GgmlType.F16, values: tiedRouterValues }).write(await FileSink.create(f16));
      // Q4_K_M (from the default values, where one expert of layer 0 gets no token of these)
      const plain16 = path.join(dir, 'moe-plain-f16.gguf');
      await syntheticModel({ ...spec, dtype: GgmlType.F16 }).write(await FileSink.create(plain16));
      const q4k = path.join(dir, 'moe-q4k.gguf');
      await quantizeFile({ input: plain16, output: q4k, options: { ftype: 15, ftypeName: 'Q4_K_M', backend: 'cpu', nthreads: 1 } });
      const rnd = mulberry32(4);
      const ids = Array.from({ length: 40 }, () => 3 + Math.floor(rnd() * 317));
      for (const [what, f] of [['F16', f16], ['Q4_K_M', q4k]] as const) {
        const { model } = await loadModel(f);
        expect(model.layers.every((L) => L.ffn.kind === 'moe')).toBe(true);
        const g = new GpuForward(env.handle!.device, env.handle!.adapterName, { software: env.handle!.isSoftware });
        const plain = maxDiff(await model.forward(ids, { matmul: g, roundActivations: false, attention: 'f32' }), await model.forward(ids, { roundActivations: false, attention: 'f32' }));
        // without rounding points every matmul is an F32 one (tinyBLAS's fused lanes): bit for bit, except where an
        // expert gets a single row (Q4_K_M, layer 1), which the CPU path sums in double and the device, running
        // every expert over all tokens, in lanes
        if (what === 'F16') expect(plain, 'without rounding points, tiled attention').toBe(0);
        const gs = new Map<string, Float32Array>();
        const gc = new Map<string, number>();
        const cs = new Map<string, Float32Array>();
        const cc = new Map<string, number>();
        /** Σx² and rows per (weight, expert) */
        const into = (m: Map<string, Float32Array>, c: Map<string, number>) => (name: string, s: Float32Array, rows: number, e?: { index: number }) => {
          const key = e ? `${name}#${e.index}` : name;
          m.set(key, Float32Array.from(s));
          c.set(key, rows);
        };
        const gpu = await model.forward(ids, { matmul: g, onMatmulSums: into(gs, gc) });
        const cpu = await model.forward(ids, { onMatmulSums: into(cs, cc) });
        const V = model.hp.nVocab;
        const d0 = maxDiff(gpu.subarray(0, V), cpu.subarray(0, V));
        let meanAbs = 0;
        for (let i = 0; i < gpu.length; i++) meanAbs += Math.abs(gpu[i] - cpu[i]) / gpu.length;
        const ds = sumsDiff(gs, cs);
        // rows per expert, per layer (an expert no token chose has no entry)
        const rows = [0, 1].map((l) => [0, 1, 2, 3].map((e) => cc.get(`blk.${l}.ffn_down_exps.weight#${e}`) ?? 0));
        console.log(`MoE ${what}: GPU vs CPU max |Δlogit| ${plain.toExponential(2)} without rounding points; with them position 0 ${d0.toExponential(2)}, mean ${meanAbs.toExponential(2)}; ` +
          `Σx² ${ds.toExponential(2)} of the tensor max over ${gs.size} (weight, expert) inputs; rows per expert ${JSON.stringify(rows)}`);
        // the same (weight, expert) inputs with the same row counts: per layer q/k/v, o, router, and gate/up/down of each expert chosen
        expect(gs.size).toBe(2 * 5 + 3 * rows.flat().filter((r) => r > 0).length + 1);
        expect(Object.fromEntries(gc)).toEqual(Object.fromEntries(cc));
        for (const r of rows) expect(r.reduce((a, b) => a + b, 0)).toBe(2 * ids.length);
        expect(new Set(rows.flat()).size).toBeGreaterThan(2);
        if (what === 'Q4_K_M') expect(rows[0]).toContain(0);
        expect(plain).toBeLessThan(1e-3);
        if (what === 'F16') {
          // F16 weights: the CPU path's float operations, bit for bit (routing included)
          const [dsb, ns] = sumsBitsDiffer(gs, cs);
          console.log(`MoE F16: ${gpu.length - bitsDiffer(gpu, cpu)} of ${gpu.length} logits and ${ns - dsb} of ${ns} Σx² values bit-identical to the CPU pass`);
          expect(bitsDiffer(gpu, cpu)).toBe(0);
          expect(dsb).toBe(0);
        } else {
          // quantized weights: the device sums Q8 activations times the dequantized weights in F32, the CPU in double
          expect(d0).toBeLessThan(2e-4);
          expect(meanAbs).toBeLessThan(0.02);
          expect(ds).toBeLessThan(0.02);
        }
        if (what === 'F16') {
          // the imatrix from the device's sums: [n, 4] sums and 4 counts per expert matrix, as from the CPU's
          const opts = { nCtx: 20, chunks: 2, bos: null };
          const gi = await computeImatrix(model, ids, { ...opts, matmul: g });
          const ci = await computeImatrix(model, ids, opts);
          expect([...gi.entries.keys()].sort()).toEqual([...ci.entries.keys()].sort());
          for (const [name, c] of ci.entries) {
            expect(gi.entries.get(name)!.counts, name).toEqual(c.counts);
            expect(c.counts, name).toHaveLength(name.includes('_exps') ? 4 : 1);
          }
          expect(ci.entries.get('blk.1.ffn_down_exps.weight')!.counts.reduce((a, b) => a + b, 0)).toBe(2 * 40);
          // the same squares; the imatrix adds a device pass's per-chunk sums, a CPU pass's rows one by one (the order differs)
          expect(sumsDiff(new Map([...gi.entries].map(([n, e]) => [n, e.sums])), new Map([...ci.entries].map(([n, e]) => [n, e.sums])))).toBeLessThan(1e-6);
        }
        if (what === 'Q4_K_M') {
          const streamed = new GpuForward(env.handle!.device, env.handle!.adapterName, { budgetBytes: 0, software: env.handle!.isSoftware });
          const again = await model.forward(ids, { matmul: streamed });
          expect(streamed.isResident(model)).toBe(false);
          expect(Buffer.from(again.buffer, again.byteOffset, again.byteLength).equals(Buffer.from(gpu.buffer, gpu.byteOffset, gpu.byteLength))).toBe(true);
          streamed.destroy();
        }
        g.destroy();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a streamed weight above the 16 MiB slice floor, under budgets below it: token_embd (16448 x 256, 16 MiB + 64 KiB in F32) in 2 slices of 16384 and 64 rows, the logits bit for bit the resident unsliced pass', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-forward-floor-'));
    try {
      // F16 on disk (8.4 MB); the output is tied, so the logits multiply with the sliced embedding too
      const f = path.join(dir, 'wide-vocab.gguf');
      await syntheticModel({ nLayer: 1, nEmbd: 256, nFf: 256, nHead: 4, nHeadKv: 2, nVocab: 16448, untiedOutput: false, dtype: GgmlType.F16, seed: 8 }).write(await FileSink.create(f));
      const { model } = await loadModel(f);
      const rnd = mulberry32(12);
      const ids = Array.from({ length: 8 }, () => 3 + Math.floor(rnd() * 16445));
      const { device, adapterName, isSoftware } = env.handle!;
      const resident = new GpuForward(device, adapterName, { software: isSoftware });
      const whole = await model.forward(ids, { matmul: resident });
      expect(resident.isResident(model)).toBe(true);
      expect(resident.slicesByWeight.get('token_embd.weight')).toBe(1);
      resident.destroy();
      const layer = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'].map((w) => [`blk.0.${w}.weight`, 1]);
      for (const budgetBytes of [0, 2 ** 20]) {
        const streamed = new GpuForward(device, adapterName, { budgetBytes, software: isSoftware });
        const out = await model.forward(ids, { matmul: streamed });
        expect(streamed.isResident(model)).toBe(false);
        expect(Object.fromEntries(streamed.slicesByWeight), `budget ${budgetBytes}`).toEqual(Object.fromEntries([['token_embd.weight', 2], ...layer]));
        expect(Buffer.from(out.buffer, out.byteOffset, out.byteLength).equals(Buffer.from(whole.buffer, whole.byteOffset, whole.byteLength)), `budget ${budgetBytes}: sliced = unsliced`).toBe(true);
        streamed.destroy();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('a generated model with twelve weight types', () => {
    let dir: string;
    let file: string;
    // each matrix's type, every one with a WGSL dequantizer (F32 is the norms and stories260K)
    const TYPES: Record<string, string> = {
      'token_embd': 'q8_0', 'output': 'q6_K',
      'blk.0.attn_q': 'q4_0', 'blk.0.attn_k': 'q4_1', 'blk.0.attn_v': 'q5_0', 'blk.0.attn_output': 'q5_1',
      'blk.0.ffn_gate': 'q4_K', 'blk.0.ffn_up': 'q5_K', 'blk.0.ffn_down': 'q2_K',
      'blk.1.attn_q': 'q3_K', 'blk.1.attn_k': 'bf16', 'blk.1.attn_v': 'tq1_0', 'blk.1.attn_output': 'f16',
      'blk.1.ffn_gate': 'q8_0', 'blk.1.ffn_up': 'q4_K', 'blk.1.ffn_down': 'q6_K',
    };
    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-forward-'));
      const f32 = path.join(dir, 'synth-f32.gguf');
      const spec = { nLayer: 2, nEmbd: 256, nFf: 512, nHead: 8, nHeadKv: 2, nVocab: 320, untiedOutput: true, seed: 5 };
      await syntheticModel(spec).write(await FileSink.create(f32));
      file = path.join(dir, 'synth-mixed.gguf');
      const tensorTypes = Object.entries(TYPES).map(([t, ty]) => ({ pattern: `^${t.replace(/\./g, '\\.')}\\.weight$`, type: typeByName(ty)!.type }));
      await quantizeFile({ input: f32, output: file, options: { ftype: 7, ftypeName: 'Q8_0', backend: 'cpu', nthreads: 1, tensorTypes } });
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('each matrix has its type, dequantized where expected; logits and Σx² match the CPU pass; streamed = resident, bit for bit', async () => {
      const { model } = await loadModel(file);
      const all = [model.tokEmbd, model.output, ...model.layers.flatMap((L) => (L.ffn.kind === 'dense' ? [L.q, L.k, L.v, L.o, L.ffn.gate, L.ffn.up, L.ffn.down] : []))];
      expect(Object.fromEntries(all.map((w) => [w.name.replace(/\.weight$/, ''), typeByName(TYPES[w.name.replace(/\.weight$/, '')])!.type]))).toEqual(
        Object.fromEntries(all.map((w) => [w.name.replace(/\.weight$/, ''), w.type])));
      const rnd = mulberry32(3);
      const ids = Array.from({ length: 48 }, () => 3 + Math.floor(rnd() * 317));
      const dev = env.handle!.device;
      // the matmul kernel of software adapters (matmul-rows.wgsl); the tiled one of GPUs is checked below
      const resident = new GpuForward(dev, env.handle!.adapterName, { software: true });
      const gs = new Map<string, Float32Array>();
      const gpu = await model.forward(ids, { matmul: resident, onMatmulSums: sumsInto(gs) });
      expect(resident.isResident(model)).toBe(true);
      expect(Object.fromEntries(resident.paths)).toEqual(Object.fromEntries(all.map((w) => [w.name, 'gpu'])));
      const cs = new Map<string, Float32Array>();
      const cpu = await model.forward(ids, { onMatmulSums: sumsInto(cs) });
      const dl = maxDiff(gpu, cpu);
      const ds = sumsDiff(gs, cs);
      // and without ggml's rounding points on either side
      const plainGpu = await model.forward(ids, { matmul: resident, roundActivations: false, attention: 'f32' });
      const plainCpu = await model.forward(ids, { roundActivations: false, attention: 'f32' });
      const dp = maxDiff(plainGpu, plainCpu);
      const tiled = new GpuForward(dev, env.handle!.adapterName, { software: false });
      const tiledOut = await model.forward(ids, { matmul: tiled, roundActivations: false, attention: 'f32' });
      const dt = maxDiff(tiledOut, plainCpu);
      tiled.destroy();
      const dr = maxDiff(gpu, plainCpu);
      // position 0 attends to itself only: no rounding decision there depends on the order of float additions
      const V = model.hp.nVocab;
      const d0 = maxDiff(gpu.subarray(0, V), cpu.subarray(0, V));
      let meanAbs = 0;
      for (let i = 0; i < gpu.length; i++) meanAbs += Math.abs(gpu[i] - cpu[i]) / gpu.length;
      const plainSums = new Map<string, Float32Array>();
      const plainCpuSums = new Map<string, Float32Array>();
      await model.forward(ids, { matmul: resident, roundActivations: false, attention: 'f32', onMatmulSums: sumsInto(plainSums) });
      await model.forward(ids, { roundActivations: false, attention: 'f32', onMatmulSums: sumsInto(plainCpuSums) });
      const dps = sumsDiff(plainSums, plainCpuSums);
      console.log(`mixed-type model, GPU vs CPU: without ggml's rounding points max |Δlogit| ${dp.toExponential(2)} (tiled matmul ${dt.toExponential(2)}), Σx² ${dps.toExponential(2)} of the tensor max; ` +
        `with them: position 0 ${d0.toExponential(2)}, all positions max ${dl.toExponential(2)} mean ${meanAbs.toExponential(2)} (logits up to ` +
        `${cpu.reduce((m, v) => Math.max(m, Math.abs(v)), 0).toFixed(2)}), Σx² ${ds.toExponential(2)}; what the rounding points change: ${dr.toExponential(2)}`);
      // without them every matmul is an F32 one (tinyBLAS's fused lanes over the dequantized weights) and
      // attention ggml's tiled kernel: the CPU path's float operations, bit for bit (either matmul kernel)
      expect(dp).toBe(0);
      expect(dt).toBe(0);
      expect(dps).toBe(0);
      expect(d0).toBeLessThan(1e-5);
      // past position 0, a last-bit difference in an attention sum can move a Q8/F16 rounding by one step,
      // which the next layers amplify (as between this CPU path and llama.cpp): bounded, not bit-level
      expect(meanAbs).toBeLessThan(0.02);
      expect(ds).toBeLessThan(0.02);
      // the rounding points matter more than the GPU's arithmetic: the test can tell a missing one
      expect(dr).toBeGreaterThan(100 * dp);
      resident.destroy();

      const streamed = new GpuForward(dev, env.handle!.adapterName, { budgetBytes: 0, software: true });
      const ss = new Map<string, Float32Array>();
      const again = await model.forward(ids, { matmul: streamed, onMatmulSums: sumsInto(ss) });
      expect(streamed.isResident(model)).toBe(false);
      expect(Buffer.from(again.buffer, again.byteOffset, again.byteLength).equals(Buffer.from(gpu.buffer, gpu.byteOffset, gpu.byteLength))).toBe(true);
      for (const [name, s] of gs) expect([...ss.get(name)!], name).toEqual([...s]);
      streamed.destroy();

      // weights bigger than one storage binding: 64 KiB slices (64 rows of 256 F32 values, 32 of 512), each
      // dequantized and multiplied on its own into its output columns; resident and streamed (a wait per slice)
      const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      const SLICES = { token_embd: 5, output: 5, attn_q: 4, attn_k: 1, attn_v: 1, attn_output: 4, ffn_gate: 8, ffn_up: 8, ffn_down: 8 };
      for (const budgetBytes of [undefined, 0]) {
        const sliced = new GpuForward(dev, env.handle!.adapterName, { budgetBytes, software: true, maxBindingBytes: 64 * 1024 });
        const sl = new Map<string, Float32Array>();
        const out = await model.forward(ids, { matmul: sliced, onMatmulSums: sumsInto(sl) });
        expect(sliced.isResident(model)).toBe(budgetBytes === undefined);
        expect(Object.fromEntries(sliced.slicesByWeight)).toEqual(Object.fromEntries(all.map((w) => [w.name, SLICES[w.name.replace(/^blk\.\d\.|\.weight$/g, '') as keyof typeof SLICES]])));
        let differ = 0;
        for (let i = 0; i < gpu.length; i++) if (Object.is(out[i], gpu[i]) === false) differ++;
        console.log(`sliced weights (${budgetBytes === 0 ? 'streamed' : 'resident'}): ${gpu.length - differ} of ${gpu.length} logits identical to the unsliced pass`);
        expect(differ).toBe(0);
        expect(sameBits(out, gpu)).toBe(true);
        expect([...sl.keys()]).toEqual([...gs.keys()]);
        for (const [name, s] of gs) expect(sameBits(sl.get(name)!, s), name).toBe(true);
        sliced.destroy();
      }
      // the tiled matmul (GPUs) sliced the same way
      const tiledSliced = new GpuForward(dev, env.handle!.adapterName, { software: false, maxBindingBytes: 64 * 1024 });
      expect(sameBits(await model.forward(ids, { matmul: tiledSliced, roundActivations: false, attention: 'f32' }), tiledOut), 'tiled matmul: sliced = unsliced').toBe(true);
      expect(tiledSliced.slicesByWeight.get('output.weight')).toBe(5);
      tiledSliced.destroy();
      // a row wider than the binding cannot be sliced: one clear line (a token's logits, checked first; a weight's row)
      const tooSmall = new GpuForward(dev, env.handle!.adapterName, { software: true, maxBindingBytes: 1000 });
      await expect(model.forward(ids, { matmul: tooSmall })).rejects.toThrow("forward pass: one token's 320 logits (1280 bytes) exceed the 1000 bytes a logits slice may bind on this adapter");
      tooSmall.destroy();
      const rowTooWide = new GpuForward(dev, env.handle!.adapterName, { software: true, maxBindingBytes: 1500 });
      await expect(model.forward(ids, { matmul: rowTooWide })).rejects.toThrow('blk.0.ffn_down.weight: one row of 2048 bytes exceeds the 1500 bytes a weight slice may bind on this adapter');
      rowTooWide.destroy();
      // activations wider than the device's own binding limit (not sliced): one line naming the buffer and the longest context that fits
      const limit = Math.min(dev.limits.maxStorageBufferBindingSize, dev.limits.maxBufferSize);
      const T = Math.floor(limit / (512 * 4)) + 1;
      console.log(`activations: a context of ${T} tokens (gate/up/act ${T * 2048} bytes) against this adapter's binding limit of ${limit} bytes`);
      const longCtx = new GpuForward(dev, env.handle!.adapterName, { software: true });
      await expect(model.forward(new Array<number>(T).fill(3), { matmul: longCtx })).rejects.toThrow(
        `forward pass: the gate/up/act activations of ${T} tokens × 512 values (${T * 2048} bytes) exceed this adapter's storage binding limit of ${limit} bytes; ` +
        `use a context of at most ${T - 1} tokens (-c, --eval-ctx)`);
      longCtx.destroy();
    });
  });
});
