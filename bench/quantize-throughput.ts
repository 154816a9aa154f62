/**
 * Throughput per type, measured side by side in one run on the same tensors (8B-model row widths,
 * synthetic values): the GPU path, the CPU path on all threads, and llama.cpp's ggml_quantize_chunk on
 * one thread (the oracle library, whose per-thread speed is multiplied by the thread count and stated as
 * such). Prints input GB/s, seconds, and ratios, with the adapter's name.
 *
 *   node dist/quantize-throughput.js [--rows 64] [--full] [--types q8_0,q4_K,...] [--imatrix] [--no-gpu] [--no-oracle]
 *
 * `--rows N` takes N rows of each shape (default 64); `--full` uses the full 8B shapes (slow on software
 * adapters). Types ggml cannot quantize without an imatrix (IQ2_XXS, IQ2_XS) always get one; types without
 * a GPU kernel get no GPU column. The GPU figure includes upload and readback; the first GPU call of each type (shader compile)
 * is excluded as warm-up.
 */
import os from 'node:os';
import { CpuWorkerBackend } from '../src/node/cpu-workers.js';
import type { QuantizeBackend } from '../src/pipeline/backend.js';
import { GgmlType, typeByName, typeLayout } from '../src/core/ggml-type.js';
import { implementedTypes, quantType } from '../src/quant/registry.js';
import { mulberry32 } from '../src/synthetic-model.js';

const argv = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};

/** Llama-3-8B weight shapes: [n_per_row, rows] */
const SHAPES: [string, number, number][] = [
  ['attn_q', 4096, 4096], ['attn_k', 4096, 1024], ['ffn_up', 4096, 14336], ['ffn_down', 14336, 4096], ['token_embd', 4096, 128256],
];
/** every implemented type, in registration order */
const DEFAULT_TYPES = implementedTypes().map((t) => t.layout.name);

function values(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.02 * Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  return out;
}

interface Tensor { name: string; n: number; rows: number; data: Float32Array; imatrix: Float32Array }

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

async function main() {
  const full = argv.includes('--full');
  const rowsArg = Number(arg('--rows', '64'));
  const useImatrix = argv.includes('--imatrix');
  const types = arg('--types', DEFAULT_TYPES.join(',')).split(',').map((n) => typeByName(n)!.type);
  const threads = Number(arg('--threads', String(os.availableParallelism())));
  const tensors: Tensor[] = SHAPES.map(([name, n, rows], i) => {
    const r = full ? rows : Math.min(rows, rowsArg);
    return { name, n, rows: r, data: values(n * r, i + 1), imatrix: values(n, 100 + i).map((v) => v * v * 2500) };
  });
  const inBytes = tensors.reduce((s, t) => s + t.data.length * 4, 0);
  console.log(`tensors: ${tensors.map((t) => `${t.name} ${t.n}x${t.rows}`).join(', ')} (${(inBytes / 1e6).toFixed(1)} MB of f32 per type)${useImatrix ? ', with imatrix' : ''}`);

  let gpu: QuantizeBackend | null = null;
  let gpuName = 'none';
  if (!argv.includes('--no-gpu')) {
    try {
      const { createGpuBackend } = await import('../src/node/gpu-backend.js');
      const b = await createGpuBackend({ info: () => {}, warn: (l) => console.log(l) });
      gpu = b;
      gpuName = b.description;
    } catch (e) {
      console.log(`no GPU: ${(e as Error).message}`);
    }
  }
  const cpu = new CpuWorkerBackend(threads);
  let oracle: { quantizeChunk(type: number, src: Float32Array, nrows: number, n: number, im: Float32Array | null): Uint8Array } | null = null;
  if (!argv.includes('--no-oracle')) {
    const { loadOracle, oracleUnavailable } = await import('../test/oracle/llama-cpp.js');
    oracle = loadOracle();
    if (!oracle) console.log(oracleUnavailable);
  }
  console.log(`machine: ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}; GPU: ${gpuName}; CPU path: ${threads} threads`);
  const rows: string[][] = [['type', 'gpu GB/s', 'gpu s', `cpu(${threads}t) GB/s`, 'cpu s', `llama.cpp 1t GB/s`, `llama.cpp x${threads} GB/s*`, 'gpu/cpu', `gpu/llama.cpp x${threads}`, `cpu/llama.cpp x${threads}`, 'gpu==cpu']];
  for (const type of types) {
    const name = typeLayout(type).name;
    const traits = quantType(type);
    if (!traits) { console.log(`${name}: not implemented yet`); continue; }
    // types ggml cannot quantize without an imatrix always get one
    const withImatrix = useImatrix || traits.imatrix === 'required';
    const job = (t: Tensor) => ({ type, src: t.data.slice(), nrows: t.rows, nPerRow: t.n, imatrix: withImatrix ? t.imatrix : null, label: t.name });
    let gpuS = NaN;
    let identical = '-';
    if (gpu?.supports(type)) {
      await gpu.quantize(job({ ...tensors[1], rows: 1, data: tensors[1].data.subarray(0, tensors[1].n) })); // compile
      const outs: Uint8Array[] = [];
      gpuS = await time(async () => { for (const t of tensors) outs.push(await gpu!.quantize(job(t))); });
      const ref = await Promise.all(tensors.map((t) => cpu.quantize(job(t))));
      identical = outs.every((o, i) => Buffer.compare(Buffer.from(o), Buffer.from(ref[i])) === 0) ? 'yes' : 'NO';
    }
    // one row first through the CPU path and llama.cpp, as the GPU path compiles first: one-time setup (the
    // i-quant grids and neighbour lists, ggml_quantize_init) is not throughput
    const warm = { ...tensors[1], rows: 1, data: tensors[1].data.subarray(0, tensors[1].n) };
    await cpu.quantize(job(warm));
    oracle?.quantizeChunk(type, warm.data, 1, warm.n, withImatrix ? warm.imatrix : null);
    const cpuS = await time(async () => { for (const t of tensors) await cpu.quantize(job(t)); });
    let oracleS = NaN;
    if (oracle) oracleS = await time(() => { for (const t of tensors) oracle!.quantizeChunk(type, t.data, t.rows, t.n, withImatrix ? t.imatrix : null); });
    const gbs = (s: number) => (Number.isFinite(s) ? (inBytes / 1e9 / s).toFixed(3) : '-');
    const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) ? (b / a).toFixed(2) : '-');
    rows.push([name, gbs(gpuS), gpuS.toFixed(2), gbs(cpuS), cpuS.toFixed(2), gbs(oracleS), gbs(oracleS / threads),
      ratio(gpuS, cpuS), ratio(gpuS, oracleS / threads), ratio(cpuS, oracleS / threads), identical]);
  }
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((s, c) => s.padStart(w[c])).join('  '));
  console.log(`* llama.cpp x${threads}: one-thread ggml_quantize_chunk throughput times ${threads} (an ideal-scaling estimate, not a measured multi-thread run).`);
  console.log('ratios are speed-ups: gpu/cpu = cpu seconds / gpu seconds.');
  await cpu.close();
  await gpu?.close();
}

await main();
