/**
 * A generated llama model with Llama-3-8B's tensor shapes (random F16 weights), written fast: shared by the
 * device benchmarks (device-whole-model.ts, imatrix-throughput.ts --synth8b).
 */
import { FileSink } from '../../src/node/file-io.js';
import { GgmlType } from '../../src/core/ggml-type.js';
import { fp32ToFp16 } from '../../src/core/half.js';
import { paddingAfter, ZERO_PAD } from '../../src/formats/gguf-writer.js';
import { mulberry32, syntheticModel, type SyntheticSpec } from '../../src/synthetic-model.js';

/** Llama-3-8B: n_embd 4096, n_ff 14336, 32 heads, 8 KV heads, vocab 128256; `small`: the same tensor set, 256 wide */
export function specFor(small: boolean, nLayer: number): SyntheticSpec {
  if (small) return { nLayer, nEmbd: 256, nFf: 768, nHead: 4, nHeadKv: 1, nVocab: 2048, dtype: GgmlType.F16, untiedOutput: true, name: 'whole-model-small', seed: 3 };
  return { nLayer, nEmbd: 4096, nFf: 14336, nHead: 32, nHeadKv: 8, nVocab: 128256, dtype: GgmlType.F16, untiedOutput: true, name: 'llama3-8b-shapes', seed: 3 };
}

/**
 * Writes the model fast: rows are copied from pools of pre-converted F16 gaussian values (16 per-row
 * scales, rare 20x outliers) at random offsets, so a 4 GB file is written at memory speed rather than
 * one fp32 -> fp16 conversion per value in JavaScript. Norms are F32 near 1.
 */
export async function writeModel(spec: SyntheticSpec, file: string): Promise<void> {
  const m = syntheticModel(spec);
  const rand = mulberry32(99);
  const POOL = 1 << 20;
  const pools: Uint16Array[] = [];
  for (let s = 0; s < 16; s++) {
    const scale = 0.02 * Math.exp(2 * (s / 15 - 0.5));
    const p = new Uint16Array(POOL + 16384);
    for (let i = 0; i < p.length; i++) {
      const u = Math.max(rand(), 1e-12);
      const g = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
      p[i] = fp32ToFp16(rand() < 0.002 ? g * scale * 20 : g * scale);
    }
    pools.push(p);
  }
  const sink = await FileSink.create(file);
  await sink.write(m.layout.meta);
  for (const t of m.tensors) {
    const n = t.ne[0];
    const rows = t.ne.slice(1).reduce((a, b) => a * b, 1);
    let nbytes: number;
    if (t.type === GgmlType.F32) {
      const v = new Float32Array(n * rows);
      for (let i = 0; i < v.length; i++) v[i] = 1 + 0.1 * (rand() - 0.5);
      nbytes = v.byteLength;
      await sink.write(new Uint8Array(v.buffer));
    } else {
      const step = Math.max(1, Math.floor((32 << 20) / (2 * n)));
      for (let r0 = 0; r0 < rows; r0 += step) {
        const k = Math.min(step, rows - r0);
        const slab = new Uint16Array(k * n);
        for (let r = 0; r < k; r++) {
          const pool = pools[Math.floor(rand() * 16)];
          const off = Math.floor(rand() * (pool.length - n));
          slab.set(pool.subarray(off, off + n), r * n);
        }
        await sink.write(new Uint8Array(slab.buffer));
      }
      nbytes = rows * n * 2;
    }
    await sink.write(ZERO_PAD.subarray(0, paddingAfter(nbytes)));
  }
  await sink.close();
}
