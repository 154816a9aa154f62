/**
 * Our CPU matmul (CPU_MATMUL in src/model/llama.ts) against the matmuls llama.cpp itself computes in
 * llama_decode (oracle, ggml-cpu's AVX-512 variant on this machine), bit for bit: every MUL_MAT of the graph
 * of generated llama models with F32, F16 and BF16 weights, each fed the oracle's own F32 input (so no
 * difference upstream carries in), rounded to the weight's dot-product type, times our copy of the weight.
 * That is llamafile's tinyBLAS order (16 lanes of fused multiply-adds, BF16 pairs by vdpbf16ps, then the
 * lanes' horizontal sum); the exactly rounded sum, which the path used before, differs in most outputs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticModel } from '../../src/synthetic-model.js';
import { FileSink } from '../../src/node/file-io.js';
import { GgmlType } from '../../src/core/ggml-type.js';
import { CPU_MATMUL, matmul, type LlamaModel, type Weight } from '../../src/model/llama.js';
import { roundActivations } from '../../src/model/act-round.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { openDecodeOracle } from '../oracle/llama-decode.js';
import { loadOurs, storiesTokenizerKvs } from '../oracle/forward-compare.js';

const oracle = requireOracle();

/** the x86 features whose kernels this order is: the oracle library picks its variant by them */
const cpuFlags = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1].split(/\s+/) ?? [] : [];
const AVX512 = cpuFlags.includes('avx512f') && cpuFlags.includes('avx512_bf16');

const T = 64;
const TYPES = [['F32', GgmlType.F32], ['F16', GgmlType.F16], ['BF16', GgmlType.BF16]] as const;
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cpu-matmul-oracle-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function weightsByName(model: LlamaModel): Map<string, Weight> {
  const ws = new Map<string, Weight>();
  for (const L of model.layers) {
    for (const w of [L.q, L.k, L.v, L.o]) ws.set(w.name, w);
    if (L.ffn.kind === 'dense') for (const w of [L.ffn.gate, L.ffn.up, L.ffn.down]) ws.set(w.name, w);
  }
  ws.set(model.output.name, model.output);
  return ws;
}

describe.skipIf(!oracle)('CPU matmul vs llama_decode\'s MUL_MATs (one ubatch of 64 tokens)', () => {
  it('this machine has the AVX-512 (with BF16) kernels these figures are for', () => {
    expect(AVX512, `CPU flags lack avx512f/avx512_bf16: llama.cpp's CPU variant here sums in another order`).toBe(true);
  });
  for (const [label, dtype] of TYPES) {
    it.skipIf(!AVX512)(`${label} weights: every output of every matmul bit for bit`, async () => {
      const f = path.join(tmp, `${label}.gguf`);
      await syntheticModel({
        arch: 'llama', nLayer: 2, nEmbd: 128, nFf: 320, nHead: 4, nHeadKv: 2, nVocab: 512, untiedOutput: true, seed: 31,
        dtype, tokenizerKvs: await storiesTokenizerKvs(), name: `matmul ${label}`,
      }).write(await FileSink.create(f));
      const o = openDecodeOracle(f, T, { matmuls: true })!;
      const ids = Array.from({ length: T }, (_, i) => (i === 0 ? 1 : 3 + ((i * 37) % 509)));
      try {
        o.decode(ids, T);
      } finally {
        o.free();
      }
      const model = await loadOurs(f);
      const ws = weightsByName(model);
      // 2 layers × 7 matmuls + the output
      expect(o.matmuls.map((m) => m.weight).sort()).toEqual([...ws.keys()].sort());
      let outputs = 0;
      let differ = 0;
      let differExact = 0;
      for (const mm of o.matmuls) {
        const w = ws.get(mm.weight)!;
        expect([mm.cols, mm.m, mm.rows]).toEqual([w.cols, w.rows, T]);
        const x = mm.x.slice();
        roundActivations(x, mm.cols, w.round);
        const ours = new Float32Array(mm.rows * mm.m);
        CPU_MATMUL.matmul(x, w.data, mm.rows, mm.cols, mm.m, ours, w.round);
        const exact = new Float32Array(mm.rows * mm.m);
        matmul(x, w.data, mm.rows, mm.cols, mm.m, exact);
        const a = new Uint32Array(ours.buffer);
        const b = new Uint32Array(mm.y.buffer, mm.y.byteOffset, mm.y.length);
        const e = new Uint32Array(exact.buffer);
        for (let i = 0; i < a.length; i++) {
          if (a[i] !== b[i]) differ++;
          if (e[i] !== b[i]) differExact++;
        }
        outputs += a.length;
      }
      console.log(`${label}: ${o.matmuls.length} matmuls, ${outputs} outputs: ${differ} differ (the exactly rounded sum: ${differExact})`);
      expect(differ, `${differ} of ${outputs} outputs differ from llama.cpp's`).toBe(0);
      // the order is what makes them equal: the exactly rounded sum misses in many
      expect(differExact).toBeGreaterThan(outputs / 10);
    }, 120_000);
  }
});
