/**
 * Mixture of experts (architecture llama, Mixtral-style files: blk.N.ffn_gate_inp.weight and 3-D
 * blk.N.ffn_{gate,up,down}_exps.weight, 4 experts, 2 used per token) against llama.cpp v0.5.0 itself:
 * llama_decode's logits (oracle, test/oracle/llama-decode.ts) on a generated model in F32, F16, Q8_0 and
 * Q4_K_M (quantized by llama_model_quantize), from our CPU pass and from the WebGPU pass (SwiftShader
 * without a GPU); qwen3moe; the importance matrix that llama-imatrix's collection rule
 * gathers from llama.cpp's own graph, MUL_MAT_ID included (one row of sums and one count per expert);
 * quantizing with our MoE imatrix file = llama_model_quantize with the same file; perplexity and KLD from
 * our logits and from llama_decode's.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticModel, mulberry32, type SyntheticSpec } from '../../src/synthetic-model.js';
import { FileSink } from '../../src/node/file-io.js';
import { quantizeFile } from '../../src/node/index.js';
import { matmul, routeTokens } from '../../src/model/llama.js';
import { computeImatrix, imatrixGguf } from '../../src/eval/imatrix.js';
import { loadImatrix } from '../../src/formats/imatrix.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { decodeImatrix, decodeLogits, FORWARD_TYPES, kldOursAndTheirs, loadOurs, storiesTokenizerKvs, worstPerPosition, writeForwardModels, type ForwardType } from '../oracle/forward-compare.js';
import { loadReferenceImatrix } from '../oracle/imatrix-reference.js';
import { tiedRouterValues } from '../data/moe-values.js';
import { GpuForward } from '../../src/model/gpu-forward.js';
import { gpuEnv, requireAdapterInCi } from '../gpu/gpu-env.js';

const T = 128;
const UBATCH = 32;
const N_EXPERT = 4;

/**
 * Where the first Q8 activation rounding lands differently from llama.cpp's (a float-order difference
 * crossing a rounding boundary, after which the logits differ by ~0.1) depends on the weights: measured
 * first positions above 1e-5 for seeds 21-26 (Q8_0 / Q4_K_M, ubatches of 32): 25/1, 12/23, 30/15, 9/1,
 * 30/6, 3/29; seed 21's dense twin (same shape, no experts) flips at position 6 like the MoE model, so the
 * flips are not the experts'. Seed 23 keeps the first 15 positions (8 in one ubatch) exact for both
 * types, which is what the quantized checks claim; F32/F16 and the KLD test bound every position.
 */
const SPEC: SyntheticSpec = { nLayer: 2, nEmbd: 256, nFf: 256, nHead: 4, nHeadKv: 2, nVocab: 512, nExpert: N_EXPERT, untiedOutput: true, seed: 23 };

const oracle = requireOracle();
const env = await gpuEnv();
requireAdapterInCi(env);
afterAll(() => env.handle?.device.destroy());
let tmp: string;
let files = new Map<ForwardType, string>();
const rnd = mulberry32(6);
const IDS = Array.from({ length: 4 * T }, (_, i) => (i === 0 ? 1 : 3 + Math.floor(rnd() * 509)));

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'moe-forward-'));
  if (!oracle) return;
  files = await writeForwardModels(oracle, tmp, 'moe', SPEC);
}, 120_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

describe.skipIf(!oracle)('MoE llama (4 experts, 2 per token) vs llama.cpp: forward pass, imatrix, quantize with it, KLD', () => {
  it('loads as a MoE model: router and 4 experts per layer, each expert a slice of the 3-D tensor', async () => {
    const model = await loadOurs(files.get('Q4_K_M')!);
    expect(model.hp.nExpert).toBe(4);
    expect(model.hp.nExpertUsed).toBe(2);
    for (const L of model.layers) {
      expect(L.ffn.kind).toBe('moe');
      if (L.ffn.kind !== 'moe') continue;
      expect(L.ffn.gate.map((w) => [w.rows, w.cols])).toEqual(Array(4).fill([256, 256]));
      expect(L.ffn.down[3].name).toMatch(/^blk\.\d\.ffn_down_exps\.weight$/);
      // the 4 slices tile the stored tensor
      const s = L.ffn.up.map((w) => w.stored);
      for (let e = 1; e < 4; e++) expect(s[e].byteOffset).toBe(s[e - 1].byteOffset + s[e - 1].byteLength);
    }
  });

  for (const type of FORWARD_TYPES) {
    const quantized = type === 'Q8_0' || type === 'Q4_K_M';
    const claim = quantized
      ? 'logits within 1e-5 up to the first Q8 activation rounding that lands differently (positions 0-14 in ubatches of 32, 0-7 in one of 128)'
      : `logits within 2e-2 at every position${type === 'F32' ? ' (1e-3 in one ubatch of 128)' : ''}`;
    it(`${type}: ${claim}`, async () => {
      const ids = IDS.slice(0, T);
      const model = await loadOurs(files.get(type)!);
      for (const ubatch of [UBATCH, T]) {
        const { logits: theirs, nVocab: V } = decodeLogits(files.get(type)!, ids, ubatch);
        expect(V).toBe(512);
        const worst = worstPerPosition(await model.forward(ids, { ubatch, attention: 'auto' }), theirs, V);
        const first = worst.findIndex((d) => d > 1e-5);
        let rel = 0;
        const ours = await model.forward(ids, { ubatch, attention: 'auto' });
        for (let i = 0; i < ours.length; i++) rel = Math.max(rel, Math.abs(ours[i] - theirs[i]) / Math.max(1, Math.abs(theirs[i])));
        console.log(`moe ${type} ubatch ${ubatch}: max |Δlogit| ${Math.max(...worst).toExponential(2)} (max rel ${rel.toExponential(2)}), positions 0-15 ${Math.max(...worst.slice(0, 16)).toExponential(2)}, first position above 1e-5: ${first}`);
        if (quantized) expect(Math.max(...worst.slice(0, ubatch === T ? 8 : 15))).toBeLessThan(1e-5);
        else expect(Math.max(...worst)).toBeLessThan(type === 'F32' && ubatch === T ? 1e-3 : 2e-2);
      }
    });
  }

  it.skipIf(!env.handle)('the WebGPU forward pass (GpuForward; SwiftShader without a GPU): F32 logits within 2e-2 of llama_decode\'s (1e-3 in one ubatch of 128); Q4_K_M position 0 within 1e-5 and the mean within 0.02', async () => {
    const ids = IDS.slice(0, T);
    const g = new GpuForward(env.handle!.device, env.handle!.adapterName, { software: env.handle!.isSoftware });
    try {
      for (const type of ['F32', 'Q4_K_M'] as const) {
        const model = await loadOurs(files.get(type)!);
        for (const ubatch of [UBATCH, T]) {
          const theirs = decodeLogits(files.get(type)!, ids, ubatch).logits;
          const ours = await model.forward(ids, { matmul: g, ubatch, attention: 'auto' });
          const worst = worstPerPosition(ours, theirs, 512);
          let mean = 0;
          for (let i = 0; i < ours.length; i++) mean += Math.abs(ours[i] - theirs[i]) / ours.length;
          console.log(`moe GPU ${type} ubatch ${ubatch}: max |Δlogit| ${Math.max(...worst).toExponential(2)}, position 0 ${worst[0].toExponential(2)}, mean ${mean.toExponential(2)}`);
          if (type === 'F32') expect(Math.max(...worst)).toBeLessThan(ubatch === T ? 1e-3 : 2e-2);
          else {
            expect(worst[0]).toBeLessThan(1e-5);
            expect(mean).toBeLessThan(0.02);
          }
        }
      }
    } finally {
      g.destroy();
    }
  });

  it('qwen3moe (per-head Q/K RMSNorm, NEOX RoPE, head size 64, experts expert_feed_forward_length = 128 wide, tied output): F32 logits within 2e-2 in ubatches of 32, 1e-3 in one of 128; its imatrix counts per expert', async () => {
    const f = path.join(tmp, 'qwen3moe.gguf');
    const tokenizerKvs = await storiesTokenizerKvs();
    await syntheticModel({ arch: 'qwen3moe', nLayer: 2, nEmbd: 256, nFf: 128, nHead: 8, nHeadKv: 2, headDim: 64, nVocab: 512, nExpert: N_EXPERT, untiedOutput: false, seed: 23, tokenizerKvs }).write(await FileSink.create(f));
    const model = await loadOurs(f);
    expect([model.hp.arch, model.hp.nFf, model.hp.nExpert, model.layers[1].ffn.kind, !!model.layers[1].qNorm]).toEqual(['qwen3moe', 128, 4, 'moe', true]);
    const ids = IDS.slice(0, T);
    for (const ubatch of [UBATCH, T]) {
      const theirs = decodeLogits(f, ids, ubatch).logits;
      const worst = Math.max(...worstPerPosition(await model.forward(ids, { ubatch, attention: 'auto' }), theirs, 512));
      console.log(`qwen3moe F32 ubatch ${ubatch}: max |Δlogit| ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(ubatch === T ? 1e-3 : 2e-2);
    }
    const ours = await computeImatrix(model, IDS, { nCtx: 64, chunks: 2, bos: 1, attention: 'auto' });
    const theirs = decodeImatrix(f, IDS, 64, 2, false);
    expect([...ours.entries.keys()].sort()).toEqual([...theirs.keys()].sort());
    for (const [name, g] of theirs) expect(ours.entries.get(name)!.counts, name).toEqual(g.counts);
    console.log(`qwen3moe imatrix: ${theirs.size} tensors, blk.1.ffn_down_exps counts [${theirs.get('blk.1.ffn_down_exps.weight')!.counts}]`);
  });

  it('tied router rows (experts 2 and 3 share theirs, so their probabilities tie at every token): llama.cpp takes the lower index, and so do we (F32 logits within 1e-3 in one ubatch)', async () => {
    const f = path.join(tmp, 'moe-tied.gguf');
    const tokenizerKvs = await storiesTokenizerKvs();
    await syntheticModel({
      ...SPEC, tokenizerKvs, seed: 31,
      values: tiedRouterValues,
    }).write(await FileSink.create(f));
    const model = await loadOurs(f);
    const ids = IDS.slice(0, 64);
    // tokens where 2 and 3 tie for the last chosen place (one chosen, the other not)
    let tiedAtTheEdge = 0;
    await model.forward(ids, {
      onMatmulInput: (name, x, rows, cols) => {
        const L = model.layers[Number(name.split('.')[1])];
        if (!name.endsWith('ffn_gate_inp.weight') || L.ffn.kind !== 'moe') return;
        const logits = new Float32Array(rows * N_EXPERT);
        matmul(x, L.ffn.gateInp.data, rows, cols, N_EXPERT, logits);
        const { experts } = routeTokens(logits, rows, N_EXPERT, 2);
        for (let t = 0; t < rows; t++) {
          expect(logits[t * N_EXPERT + 2]).toBe(logits[t * N_EXPERT + 3]);
          const chosen = [experts[2 * t], experts[2 * t + 1]];
          if (chosen.includes(2) !== chosen.includes(3)) tiedAtTheEdge++;
        }
      },
    });
    const theirs = decodeLogits(f, ids, ids.length).logits;
    const worst = Math.max(...worstPerPosition(await model.forward(ids, { attention: 'auto' }), theirs, 512));
    console.log(`moe tied router rows: ${tiedAtTheEdge} of ${2 * ids.length} (token, layer) routings choose between the tied experts; max |Δlogit| ${worst.toExponential(2)}`);
    expect(tiedAtTheEdge).toBeGreaterThan(10);
    expect(worst).toBeLessThan(1e-3);
  });

  it('imatrix (with --process-output) = llama-imatrix\'s collection from llama.cpp\'s graph, MUL_MAT_ID per expert: same tensors, counts per expert, values within 5e-6 of the tensor max (target 1e-4); the file we write quantizes (Q4_K_M, IQ3_XXS) to the same bytes as llama_model_quantize given it', async () => {
    const nCtx = 64;
    const model = await loadOurs(files.get('F32')!);
    const ours = await computeImatrix(model, IDS, { nCtx, chunks: 3, bos: 1, processOutput: true, attention: 'auto' });
    const theirs = decodeImatrix(files.get('F32')!, IDS, nCtx, 3, true);
    const perLayer = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate_inp', 'ffn_gate_exps', 'ffn_up_exps', 'ffn_down_exps'];
    const want = [...[0, 1].flatMap((l) => perLayer.map((w) => `blk.${l}.${w}.weight`)), 'output.weight'];
    expect([...theirs.keys()].sort()).toEqual([...want].sort());
    expect([...ours.entries.keys()].sort()).toEqual([...want].sort());
    let worst = 0;
    let worstExpert = 0;
    for (const [name, g] of theirs) {
      const e = ours.entries.get(name)!;
      const moe = name.includes('_exps');
      expect(e.counts, name).toEqual(g.counts);
      if (moe) {
        // every token picks 2 different experts: 3 chunks x 64 tokens x 2 slots, spread unevenly
        expect(g.counts).toHaveLength(N_EXPERT);
        expect(g.counts.reduce((a, b) => a + b, 0), name).toBe(3 * nCtx * 2);
        expect(new Set(g.counts).size, `${name} counts ${g.counts}`).toBeGreaterThan(1);
      } else expect(g.counts, name).toEqual([3 * nCtx]);
      expect(e.sums.length, name).toBe(g.sums.length);
      const max = g.sums.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const cols = g.sums.length / g.counts.length;
      for (let x = 0; x < g.counts.length; x++) {
        const gx = g.sums.subarray(x * cols, (x + 1) * cols);
        const mx = gx.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        for (let j = 0; j < cols; j++) {
          const d = Math.abs(e.sums[x * cols + j] - gx[j]);
          worst = Math.max(worst, d / max);
          worstExpert = Math.max(worstExpert, d / mx);
        }
      }
    }
    console.log(`moe imatrix: ${theirs.size} tensors, counts per expert ${want.filter((n) => n.includes('_exps')).map((n) => `${n.replace(/^blk\.|\.weight$/g, '')} [${theirs.get(n)!.counts}]`).join(', ')}; ` +
      `max |ours - llama.cpp| / tensor max = ${worst.toExponential(3)} (/ that expert's max ${worstExpert.toExponential(3)})`);
    expect(worst).toBeLessThan(5e-6);

    // the GGUF file: [n, n_expert] sums and [1, n_expert] counts; our reader and llama_model_quantize take it
    const im = path.join(tmp, 'moe-imatrix.gguf');
    fs.writeFileSync(im, imatrixGguf(ours, ['calib.txt']));
    const loaded = loadImatrix(fs.readFileSync(im), im);
    expect(loaded.entries.size).toBe(want.length);
    expect(loaded.entries.get('blk.1.ffn_down_exps.weight')).toHaveLength(256 * N_EXPERT);
    expect(loaded.chunkCount).toBe(3);
    await loadReferenceImatrix(im);
    for (const [name, ftype] of [['Q4_K_M', 15], ['IQ3_XXS', 23]] as const) {
      const theirsQ = path.join(tmp, `moe-${name}-im-ref.gguf`);
      const oursQ = path.join(tmp, `moe-${name}-im-ours.gguf`);
      expect(oracle!.modelQuantize(files.get('F32')!, theirsQ, { ftype, imatrixFile: { path: im } }), oracle!.lastQuantizeError()).toBe(0);
      await quantizeFile({ input: files.get('F32')!, output: oursQ, options: { ftype, ftypeName: name, backend: 'cpu', nthreads: 1, imatrixPath: im } });
      expect(sha(oursQ), name).toBe(sha(theirsQ));
      // and the imatrix changed the file
      if (name === 'Q4_K_M') expect(sha(oursQ)).not.toBe(sha(files.get('Q4_K_M')!));
    }
  });

  /**
   * The F32 base agrees as the dense models do (0.1%). The Q4_K_M side gets looser bounds: a Q8_K rounding
   * that lands differently nudges a router whose two best experts are nearly tied into the other expert,
   * and that token's logits then differ by O(1) (measured: chunk 1 position 72, layer 1's 2nd/3rd router
   * logits 1.3e-4 apart, max |Δlogit| 2.4 there); one such token in 252 moves the perplexity by ~0.2%.
   * Measured with seed 23: ppl_q 0.17% and mean KLD 1.6% apart.
   */
  it('perplexity and KLD (F32 base, Q4_K_M) over 4 chunks of 128 from our logits and from llama_decode\'s (ubatches of 32) agree (base 0.1%; Q4_K_M 0.5%, KLD 5%)', async () => {
    const { ours: a, theirs: b } = await kldOursAndTheirs('moe', files.get('F32')!, files.get('Q4_K_M')!, IDS, T, UBATCH);
    const rel = (x: number, y: number) => Math.abs(x - y) / Math.abs(y);
    expect(a.chunks).toBe(4);
    expect(b.tokens).toBe(4 * (T - 1 - T / 2));
    expect(a.mean_kld[0]).toBeGreaterThan(0);
    expect(rel(a.ppl_base_full[0], b.ppl_base_full[0])).toBeLessThan(1e-3);
    expect(rel(a.ppl_q[0], b.ppl_q[0])).toBeLessThan(5e-3);
    expect(Math.abs(a.mean_kld[0] - b.mean_kld[0])).toBeLessThan(5e-2 * b.mean_kld[0]);
  });
});

describe('MoE files the forward pass refuses', () => {
  it('expert_used_count above expert_count: one line naming the file, the key and the numbers', async () => {
    const f = path.join(tmp, 'moe-bad.gguf');
    await syntheticModel({ ...SPEC, nLayer: 1, nVocab: 64 }).write(await FileSink.create(f));
    const b = fs.readFileSync(f);
    const key = Buffer.from('llama.expert_used_count');
    const at = b.indexOf(key);
    expect(at).toBeGreaterThan(0);
    // the key, its type (u32), then the value
    expect(b.readUInt32LE(at + key.length + 4)).toBe(2);
    b.writeUInt32LE(9, at + key.length + 4);
    fs.writeFileSync(f, b);
    await expect(loadOurs(f)).rejects.toThrow(`${f}: llama.expert_used_count is 9, expected 1 to llama.expert_count (4)`);
  });
});
