/**
 * The tokenizer, the forward pass, `imatrix` and `kld` against what llama.cpp v0.5.0's own tools printed and
 * wrote for the same models and texts (../shared/golden/llama-tools-v050): llama-tokenize's ids,
 * llama-perplexity's per-chunk perplexities, llama-imatrix's file, llama-perplexity --kl-divergence's
 * statistics. The imatrix file made here must also be accepted by llama_model_quantize (oracle).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadImatrix } from '../../src/formats/imatrix.js';
import { parseGgufBytes } from '../../src/formats/gguf-reader.js';
import { openGgufModelFile } from '../../src/node/file-io.js';
import { LlamaModel } from '../../src/model/llama.js';
import { Tokenizer } from '../../src/model/tokenizer.js';
import { chunkTokens, planChunks, PplAccumulator, tokenNll } from '../../src/eval/chunks.js';
import { loadOracle, oracleUnavailable } from '../oracle/llama-cpp.js';
import { ORACLE_REQUIRED } from '../oracle/require-oracle.js';
import { loadReferenceImatrix } from '../oracle/imatrix-reference.js';
import { loadOurs, worstPerPosition } from '../oracle/forward-compare.js';
import { REPO_ROOT, SHARED } from '../golden/shared-paths.js';
import { gpuEnv, requireAdapterInCi } from '../gpu/gpu-env.js';

const GOLD = path.join(SHARED, 'golden/llama-tools-v050');
const BIN = path.join(REPO_ROOT, 'bin/webgpu-quantize.js');
const MODELS = {
  stories260K: path.join(SHARED, 'models/stories260K-gguf/stories260K.gguf'),
  'synth-llama': path.join(GOLD, 'synth-llama-f16.gguf'),
} as const;
const manifest = JSON.parse(fs.readFileSync(path.join(GOLD, 'MANIFEST.json'), 'utf8'));
const CTX = manifest.ctx as number;
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ikld-golden-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** the CLI from dist, asynchronously (a long synchronous child would stall vitest's worker RPC) */
function cli(args: string[], cwd: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: '' }, maxBuffer: 64 << 20 }, (e, out, err) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err });
    });
  });
}

/** common's -f: the file with one trailing newline dropped */
const prompt = (name: string) => fs.readFileSync(path.join(GOLD, name), 'utf8').replace(/\n$/, '');

/** the running perplexities `[i]x.xxxx` a llama tool printed */
function chunkPpls(log: string): number[] {
  return [...fs.readFileSync(path.join(GOLD, log), 'utf8').matchAll(/\[(\d+)\](\d+\.\d+)/g)].map((m) => Number(m[2]));
}

describe('tokenizer (SentencePiece from the GGUF) vs llama-tokenize', () => {
  for (const [name, file] of Object.entries(MODELS)) {
    it(`${name}: calib and eval ids identical`, async () => {
      const m = await openGgufModelFile(file);
      const tok = Tokenizer.fromKvs(m.kvs, m.name);
      await m.close();
      for (const text of ['calib', 'eval']) {
        const gold = JSON.parse(fs.readFileSync(path.join(GOLD, name, `tokens-${text}.json`), 'utf8')) as number[];
        expect(gold.length).toBe(manifest.models[name][`tokens_${text}`].count);
        const ids = tok.tokenize(fs.readFileSync(path.join(GOLD, `${text}.txt`), 'utf8'), true, true);
        expect(ids.length).toBe(gold.length);
        expect(ids).toEqual(gold);
      }
    });
  }

  it('tokenize -f --ids prints the list as llama-tokenize does (last line)', async () => {
    const r = await cli(['tokenize', '-m', MODELS.stories260K, '-f', path.join(GOLD, 'eval.txt'), '--ids'], tmp);
    expect(r.code).toBe(0);
    const last = r.out.trim().split('\n').pop()!;
    expect(JSON.parse(last)).toEqual(JSON.parse(fs.readFileSync(path.join(GOLD, 'stories260K/tokens-eval.json'), 'utf8')));
  });
});

describe('forward pass vs llama-perplexity (per-chunk running perplexity, -c 128)', () => {
  const cases = [['stories260K', 8], ['synth-llama', 3]] as const;
  for (const [name, nChunks] of cases) {
    it(`${name}: the first ${nChunks} chunks within 2e-4 relative`, async () => {
      const gold = chunkPpls(`${name}/perplexity-base.log`).slice(0, nChunks);
      expect(gold).toHaveLength(nChunks);
      const m = await openGgufModelFile(MODELS[name]);
      const tok = Tokenizer.fromKvs(m.kvs, m.name);
      const model = await LlamaModel.load(m);
      await m.close();
      const ids = tok.tokenize(prompt('eval.txt'), true, false);
      const plan = planChunks(ids.length, CTX, nChunks, 'eval');
      const acc = new PplAccumulator();
      const ours: number[] = [];
      for (let c = 0; c < nChunks; c++) {
        const logits = await model.forward(chunkTokens(ids, plan, c, tok.bos));
        for (let i = plan.first; i < CTX - 1; i++) acc.add(tokenNll(logits, i * model.hp.nVocab, model.hp.nVocab, ids[c * CTX + i + 1]));
        ours.push(acc.ppl);
      }
      const rel = ours.map((v, i) => Math.abs(v - gold[i]) / gold[i]);
      console.log(`${name}: per-chunk ppl rel. error max ${Math.max(...rel).toExponential(2)} (ours ${ours.map((v) => v.toFixed(4)).join(',')})`);
      for (const r of rel) expect(r).toBeLessThan(2e-4);
    });
  }
});

/** tensors of an imatrix GGUF by name, as F32 values */
function imatrixTensors(file: string) {
  const b = fs.readFileSync(file);
  const g = parseGgufBytes(b, file);
  const t = new Map(g.tensors.map((x) => [x.name, new Float32Array(Uint8Array.prototype.slice.call(b, x.dataOffset, x.dataOffset + x.nbytes).buffer)]));
  return { kvs: Object.fromEntries(g.kvs.map((k) => [k.key, k.isArray ? [...(k.value as string[])] : k.value])), names: g.tensors.map((x) => x.name), t };
}

describe('imatrix vs llama-imatrix (stories260K, calib.txt, -c 128, all 388 chunks)', () => {
  const out = () => path.join(tmp, 'imatrix-stories.gguf');
  let run: Awaited<ReturnType<typeof cli>>;
  beforeAll(async () => {
    // from the model's golden folder, so the dataset path is stored as llama-imatrix stored it
    run = await cli(['imatrix', '-m', MODELS.stories260K, '-f', '../calib.txt', '-o', out(), '-c', String(CTX)], path.join(GOLD, 'stories260K'));
  }, 600_000);

  it('same perplexity line, same metadata, same tensors, counts identical, every entry within 1e-4 of its tensor max', () => {
    expect(run.code, run.err).toBe(0);
    const [ppl, unc] = manifest.models.stories260K.imatrix.final_ppl as [number, number];
    expect(run.out).toContain(`Final estimate: PPL = ${ppl.toFixed(4)} +/- ${unc.toFixed(5)}`);
    const ours = imatrixTensors(out());
    const gold = imatrixTensors(path.join(GOLD, 'stories260K/imatrix.gguf'));
    expect(ours.kvs).toEqual(gold.kvs);
    expect(ours.names).toEqual(gold.names);
    expect(fs.statSync(out()).size).toBe(fs.statSync(path.join(GOLD, 'stories260K/imatrix.gguf')).size);
    let worst = 0;
    for (const [name, g] of gold.t) {
      const o = ours.t.get(name)!;
      expect(o.length).toBe(g.length);
      if (name.endsWith('.counts')) {
        expect([...o]).toEqual([...g]);
        continue;
      }
      const max = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(o[i] - g[i]) / max);
    }
    console.log(`imatrix stories260K: max |ours - llama-imatrix| / tensor max = ${worst.toExponential(3)}`);
    expect(worst).toBeLessThan(1e-4);
  });

  it('the file is accepted by our quantizer and by llama_model_quantize', async () => {
    const im = loadImatrix(fs.readFileSync(out()), out());
    expect(im.entries.size).toBe(35);
    expect(im.chunkCount).toBe(388);
    const oracle = loadOracle();
    if (!oracle) {
      if (ORACLE_REQUIRED) throw new Error(oracleUnavailable);
      console.log(oracleUnavailable);
      return;
    }
    const q = path.join(tmp, 'q4_0-ours-imatrix.gguf');
    await loadReferenceImatrix(out()); // the oracle run reads it with the independent reader
    const status = oracle.modelQuantize(MODELS.stories260K, q, { ftype: 2, imatrixFile: { path: out() } });
    expect(status, oracle.lastQuantizeError()).toBe(0);
    expect(fs.statSync(q).size).toBeGreaterThan(0);
  });
});

/** the figures llama-perplexity --kl-divergence printed after chunk `n`: ppl_q, ln ratio, KLD, RMS Δp %, same top % with ± */
function kldLine(log: string, n: number) {
  const line = fs.readFileSync(path.join(GOLD, log), 'utf8').split('\n').find((l) => new RegExp(`^\\s*${n}\\s`).test(l));
  if (!line) throw new Error(`${log}: no line for chunk ${n}`);
  const v = [...line.matchAll(/(-?\d+\.\d+)\s*±\s*(-?\d+\.\d+)/g)].map((m) => [Number(m[1]), Number(m[2])] as [number, number]);
  expect(v).toHaveLength(5);
  return { ppl_q: v[0], kld: v[2], rms: v[3], top: v[4] };
}

describe('kld vs llama-perplexity --kl-divergence (stories260K, eval.txt, -c 128, 32 chunks)', () => {
  const CHUNKS = 32;
  for (const ft of ['Q8_0', 'Q4_K_M']) {
    it(`${ft}: the quantized file is llama-quantize's, and the statistics after ${CHUNKS} chunks agree`, async () => {
      const q = path.join(tmp, `stories-${ft}.gguf`);
      const made = await cli(['--backend', 'cpu', MODELS.stories260K, q, ft], tmp);
      expect(made.code, made.err).toBe(0);
      expect(createHash('sha256').update(fs.readFileSync(q)).digest('hex')).toBe(manifest.models.stories260K.kld[ft].quantized_sha256);
      const r = await cli(['kld', MODELS.stories260K, q, '-f', path.join(GOLD, 'eval.txt'), '-c', String(CTX), '--chunks', String(CHUNKS), '--json'], tmp);
      expect(r.code, r.err).toBe(0);
      const s = JSON.parse(r.out.trim().split('\n').pop()!);
      const g = kldLine(`stories260K/kld-${ft}.log`, CHUNKS);
      const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
      console.log(`kld ${ft} @${CHUNKS}: ppl_q ${s.ppl_q[0].toFixed(4)} vs ${g.ppl_q[0]}, KLD ${s.mean_kld[0].toFixed(6)} vs ${g.kld[0]} ± ${g.kld[1]}, ` +
        `RMS Δp ${s.rms_dp_pct[0].toFixed(3)} vs ${g.rms[0]}, same top ${s.same_top_p_pct[0].toFixed(3)} vs ${g.top[0]}`);
      expect(s.chunks).toBe(CHUNKS);
      expect(s.tokens).toBe(CHUNKS * (CTX - 1 - CTX / 2));
      expect(rel(s.ppl_q[0], g.ppl_q[0])).toBeLessThan(1e-3);
      // the same statistic of a different realization of ggml's rounding noise: within llama's own ± (and the print's last digit)
      expect(Math.abs(s.mean_kld[0] - g.kld[0])).toBeLessThan(g.kld[1] + 5e-6);
      expect(Math.abs(s.rms_dp_pct[0] - g.rms[0])).toBeLessThan(g.rms[1] + 5e-4);
      expect(Math.abs(s.same_top_p_pct[0] - g.top[0])).toBeLessThan(g.top[1] + 5e-4);
    }, 600_000);
  }
});

describe('forward pass vs llama_decode (oracle, one sequence of 128 tokens in ubatches of 32)', () => {
  it('stories260K F32: logits within 2e-2 at every position; Q8_0: within 1e-5 up to the first divergence of a Q8_0 activation rounding', async () => {
    const { openDecodeOracle } = await import('../oracle/llama-decode.js');
    const ids = (JSON.parse(fs.readFileSync(path.join(GOLD, 'stories260K/tokens-eval.json'), 'utf8')) as number[]).slice(0, CTX);
    const q8 = path.join(tmp, 'stories-Q8_0.gguf');
    if (!fs.existsSync(q8)) expect((await cli(['--backend', 'cpu', MODELS.stories260K, q8, 'Q8_0'], tmp)).code).toBe(0);
    const worst: Record<string, number[]> = {};
    for (const [name, file] of [['F32', MODELS.stories260K], ['Q8_0', q8]] as const) {
      const o = openDecodeOracle(file, CTX);
      if (!o) {
        if (ORACLE_REQUIRED) throw new Error(oracleUnavailable);
        console.log(oracleUnavailable);
        return;
      }
      const theirs = o.decode(ids, 32);
      o.free();
      const ours = await (await loadOurs(file)).forward(ids);
      worst[name] = worstPerPosition(ours, theirs, o.nVocab);
    }
    console.log(`llama_decode: F32 max |Δlogit| ${Math.max(...worst.F32).toExponential(2)}; Q8_0 positions 0-6 ${Math.max(...worst.Q8_0.slice(0, 7)).toExponential(2)}, all ${Math.max(...worst.Q8_0).toExponential(2)}`);
    expect(Math.max(...worst.F32)).toBeLessThan(2e-2);
    expect(Math.max(...worst.Q8_0.slice(0, 7))).toBeLessThan(1e-5);
  });
});

// The same tools with the whole forward pass on WebGPU (SwiftShader without a GPU, so few chunks): the kld
// statistics against llama-perplexity's line for the same chunk count, the imatrix against the CPU backend's.
const gpu = await gpuEnv();
requireAdapterInCi(gpu);
const gpuAdapter = !!gpu.handle;
gpu.handle?.device.destroy();

describe.skipIf(!gpuAdapter)('--backend gpu: kld and imatrix on the WebGPU forward pass (stories260K, -c 128)', () => {
  const CHUNKS = 8;
  it(`kld Q4_K_M: the statistics after ${CHUNKS} chunks agree with llama-perplexity's`, async () => {
    const q = path.join(tmp, 'stories-Q4_K_M-gpu.gguf');
    expect((await cli(['--backend', 'cpu', MODELS.stories260K, q, 'Q4_K_M'], tmp)).code).toBe(0);
    const r = await cli(['kld', '--backend', 'gpu', MODELS.stories260K, q, '-f', path.join(GOLD, 'eval.txt'), '-c', String(CTX), '--chunks', String(CHUNKS), '--json'], tmp);
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out.trim().split('\n').pop()!);
    expect(s.backend).toBe('gpu');
    const g = kldLine('stories260K/kld-Q4_K_M.log', CHUNKS);
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    console.log(`kld --backend gpu Q4_K_M @${CHUNKS}: ppl_q ${s.ppl_q[0].toFixed(4)} vs ${g.ppl_q[0]} (rel ${rel(s.ppl_q[0], g.ppl_q[0]).toExponential(2)}), ` +
      `KLD ${s.mean_kld[0].toFixed(6)} vs ${g.kld[0]} ± ${g.kld[1]}, RMS Δp ${s.rms_dp_pct[0].toFixed(3)} vs ${g.rms[0]}, same top ${s.same_top_p_pct[0].toFixed(3)} vs ${g.top[0]}`);
    expect(s.chunks).toBe(CHUNKS);
    expect(rel(s.ppl_q[0], g.ppl_q[0])).toBeLessThan(1e-3);
    expect(Math.abs(s.mean_kld[0] - g.kld[0])).toBeLessThan(g.kld[1] + 5e-6);
    expect(Math.abs(s.rms_dp_pct[0] - g.rms[0])).toBeLessThan(g.rms[1] + 5e-4);
    expect(Math.abs(s.same_top_p_pct[0] - g.top[0])).toBeLessThan(g.top[1] + 5e-4);
  }, 600_000);

  it(`imatrix: ${CHUNKS} chunks on the GPU = the CPU backend's within 1e-3 of each tensor's max, counts identical`, async () => {
    const runs: Record<string, ReturnType<typeof imatrixTensors>> = {};
    for (const b of ['gpu', 'cpu']) {
      const out = path.join(tmp, `imatrix-${b}.gguf`);
      const r = await cli(['imatrix', '--backend', b, '-m', MODELS.stories260K, '-f', path.join(GOLD, 'calib.txt'), '-o', out, '-c', String(CTX), '--chunks', String(CHUNKS), '--json'], tmp);
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out.trim().split('\n').pop()!).backend).toBe(b);
      runs[b] = imatrixTensors(out);
    }
    expect(runs.gpu.names).toEqual(runs.cpu.names);
    expect(runs.gpu.kvs).toEqual(runs.cpu.kvs);
    let worst = 0;
    for (const [name, c] of runs.cpu.t) {
      const g = runs.gpu.t.get(name)!;
      if (name.endsWith('.counts')) {
        expect([...g], name).toEqual([...c]);
        continue;
      }
      const max = c.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs(g[i] - c[i]) / max);
    }
    console.log(`imatrix --backend gpu vs cpu, ${CHUNKS} chunks: max |Δ| / tensor max = ${worst.toExponential(3)} over ${runs.cpu.t.size / 2} tensors`);
    expect(runs.cpu.t.size).toBe(70);
    expect(worst).toBeLessThan(1e-3);
  }, 600_000);
});
