/**
 * Throughput per type, measured side by side in one run on the same tensors (8B-model row widths,
 * synthetic values): the GPU path, the CPU path on --threads workers, and llama.cpp's ggml_quantize_chunk on
 * the same number of threads (the oracle library, scheduled as llama_model_quantize does: bench/lib/oracle-threads.ts).
 * Every implemented type by default (from the registry). Per type: blocks/s and input MB/s of each path, the
 * ratios, where the GPU's blocks were computed (device / host fallback, ordinary blocks among the latter), and
 * whether the GPU's and llama.cpp's bytes equal the CPU path's. Types without a GPU kernel print "no kernel".
 *
 * `--rows N` takes N rows of each shape (default 8); `--full` uses the full 8B shapes (slow on software
 * adapters). Types ggml cannot quantize without an imatrix (IQ1_S, IQ2_XXS, IQ2_XS) always get one (marked
 * "+im"). The GPU figure includes upload and readback; the first GPU call of each type (shader compile, one
 * row) is excluded and shown on its own ("gpu 1st s").
 *
 * `--profile`: the GPU's device time per kernel of each type's timed run, from timestamp queries
 * (src/gpu/kernel-profile.ts), printed under each type's row (so that a run cut short keeps them); one line
 * instead when the adapter has no timestamp-query feature.
 */
import os from 'node:os';
import { CpuWorkerBackend } from '../src/node/cpu-workers.js';
import { blockCountsSince, type QuantizeBackend } from '../src/pipeline/backend.js';
import { typeByName, typeLayout } from '../src/core/ggml-type.js';
import { implementedTypes, quantType } from '../src/quant/registry.js';
import { mulberry32 } from '../src/synthetic-model.js';
import { parseBenchFlags } from './lib/bench-cli.js';
import { OracleThreads, shared } from './lib/oracle-threads.js';

const USAGE = `usage: node dist/bench/quantize-throughput.js [--rows 8] [--full] [--types q8_0,q4_K,...|imatrix] [--threads N] [--imatrix] [--profile] [--no-gpu] [--no-oracle]
       npm run bench -- [the same options]

  Per type (default: every implemented type), side by side on the same tensors: the GPU path (blocks/s,
  MB/s of f32 input, the first call's seconds, blocks computed on the device / via the host fallback), the
  CPU path on --threads workers, and llama.cpp's ggml_quantize_chunk on --threads threads (chunked as
  llama_model_quantize does); ratios, and whether the GPU's and llama.cpp's bytes equal the CPU path's.
  --types imatrix: every type that reads an imatrix. Rows are printed as each type finishes.
  --rows N rows of each Llama-3-8B weight shape (default 8, about 1 MB of f32 per type); --full uses the
  whole shapes (about 3.3 GB per type: slow, and large in memory). Nothing is written to disk.
  --profile: each type's GPU device time per kernel (timestamp queries, where the adapter has them): passes,
  device ms, blocks, ns per block, share of the timed run's wall time; printed under each type's row.`;

/** Llama-3-8B weight shapes: [n_per_row, rows] */
const SHAPES: [string, number, number][] = [
  ['attn_q', 4096, 4096], ['attn_k', 4096, 1024], ['ffn_up', 4096, 14336], ['ffn_down', 14336, 4096], ['token_embd', 4096, 128256],
];
/** every implemented type, in registration order */
const DEFAULT_TYPES = implementedTypes().map((t) => t.layout.name);
/** `--types imatrix`: every implemented type that reads an imatrix */
const IMATRIX_TYPES = implementedTypes().filter((t) => t.imatrix !== 'ignored').map((t) => t.layout.name);

function values(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.02 * Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  return out;
}

/** `data` and `sharedImatrix` live in SharedArrayBuffers (llama.cpp's threads read them in place); the GPU
 * (Dawn's writeBuffer takes no SharedArrayBuffer) and the CPU workers get `imatrix`, an ordinary copy */
interface Tensor { name: string; n: number; rows: number; data: Float32Array; imatrix: Float32Array; sharedImatrix: Float32Array }

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

const same = (a: Uint8Array[], b: Uint8Array[]) => (a.every((o, i) => Buffer.compare(Buffer.from(o.buffer, o.byteOffset, o.byteLength), Buffer.from(b[i].buffer, b[i].byteOffset, b[i].byteLength)) === 0) ? 'yes' : 'NO');

async function main() {
  const f = parseBenchFlags(process.argv.slice(2), {
    rows: { kind: 'int', default: '8' }, full: { kind: 'bool' }, types: { kind: 'string', default: DEFAULT_TYPES.join(',') },
    threads: { kind: 'int', default: String(os.availableParallelism()) }, imatrix: { kind: 'bool' }, 'no-gpu': { kind: 'bool' }, 'no-oracle': { kind: 'bool' },
    profile: { kind: 'bool' },
  }, USAGE);
  const profile = f.profile as boolean;
  const full = f.full as boolean;
  const rowsArg = Number(f.rows);
  const useImatrix = f.imatrix as boolean;
  const typeNames = f.types === 'imatrix' ? IMATRIX_TYPES : (f.types as string).split(',');
  const unknown = typeNames.filter((n) => !typeByName(n));
  if (unknown.length) {
    process.stderr.write(`error: --types: unknown ggml type ${unknown.map((n) => `'${n}'`).join(', ')} (see --help)\n`);
    process.exit(2);
  }
  const types = typeNames.map((n) => typeByName(n)!.type);
  const threads = Number(f.threads);
  const tensors: Tensor[] = SHAPES.map(([name, n, rows], i) => {
    const r = full ? rows : Math.min(rows, rowsArg);
    const imatrix = values(n, 100 + i).map((v) => v * v * 2500);
    return { name, n, rows: r, data: shared(values(n * r, i + 1)), imatrix, sharedImatrix: shared(imatrix) };
  });
  const warmCpu: Tensor = { name: 'warm-up', n: 256, rows: threads, data: values(256 * threads, 99), imatrix: tensors[0].imatrix.slice(0, 256), sharedImatrix: tensors[0].sharedImatrix };
  const inBytes = tensors.reduce((s, t) => s + t.data.length * 4, 0);
  const nValues = inBytes / 4;
  console.log(`tensors: ${tensors.map((t) => `${t.name} ${t.n}x${t.rows}`).join(', ')} (${(inBytes / 1e6).toFixed(1)} MB of f32 per type)${useImatrix ? ', with imatrix' : ''}`);

  let gpu: QuantizeBackend | null = null;
  let gpuName = 'none';
  if (!f['no-gpu']) {
    try {
      const { createGpuBackend } = await import('../src/node/gpu-backend.js');
      const b = await createGpuBackend({ info: () => {}, warn: (l) => console.log(l) }, { profileKernels: profile });
      gpu = b;
      gpuName = b.description;
    } catch (e) {
      console.log(`no GPU: ${(e as Error).message}`);
    }
  }
  const cpu = new CpuWorkerBackend(threads);
  let oracle: OracleThreads | null = null;
  if (!f['no-oracle']) {
    const { oracleUnavailable } = await import('../test/oracle/llama-cpp.js');
    oracle = OracleThreads.open(threads);
    if (!oracle) console.log(oracleUnavailable);
  }
  console.log(`machine: ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}; GPU: ${gpuName}; CPU path and llama.cpp: ${threads} threads each`);
  const header = ['type', 'blocks', 'gpu blk/s', 'gpu MB/s', 'gpu 1st s', 'device', 'host fb (ordinary)',
    `cpu ${threads}t blk/s`, 'cpu MB/s', `llama.cpp ${threads}t blk/s`, 'llama.cpp MB/s',
    'gpu/llama.cpp', 'cpu/llama.cpp', 'gpu/cpu', 'gpu==cpu', 'llama.cpp==cpu'];
  // printed as each type finishes (a run cut short by a timeout keeps its rows): fixed column widths
  const widths = header.map((h, c) => (c === 0 ? 12 : Math.max(h.length, 9)));
  const print = (r: string[]) => console.log(r.map((v, c) => v.padStart(widths[c])).join('  '));
  print(header);
  for (const type of types) {
    const layout = typeLayout(type);
    const traits = quantType(type);
    if (!traits) { console.log(`${layout.name.padStart(widths[0])}  not implemented yet`); continue; }
    // types ggml cannot quantize without an imatrix always get one
    const withImatrix = useImatrix || traits.imatrix === 'required';
    const blocks = nValues / layout.blockSize;
    const job = (t: Tensor) => ({ type, src: t.data.slice(), nrows: t.rows, nPerRow: t.n, imatrix: withImatrix ? t.imatrix : null, label: t.name });
    const warm = { ...tensors[1], rows: 1, data: tensors[1].data.subarray(0, tensors[1].n) };
    const rate = (s: number, per: number) => (Number.isFinite(s) && s > 0 ? (per / s).toFixed(per === blocks ? 0 : 2) : '-');
    const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) ? (b / a).toFixed(2) : '-');

    // the CPU path first: its bytes are the reference the other two are checked against. One row per worker
    // first: each worker's one-time setup (i-quant grids, neighbour lists) is not throughput
    await cpu.quantize(job(warmCpu));
    const ref: Uint8Array[] = [];
    const cpuS = await time(async () => { for (const t of tensors) ref.push(await cpu.quantize(job(t))); });

    let gpuCols = [gpu ? 'no kernel' : 'no gpu', '-', '-', '-', '-'];
    let gpuS = NaN;
    let gpuSame = '-';
    let kernelLines: string[] = [];
    if (gpu?.supports(type)) {
      const firstS = await time(() => gpu!.quantize(job(warm))); // shader compile
      const before = gpu.blockCounts!();
      const outs: Uint8Array[] = [];
      const kernels = gpu.kernelProfile?.() ?? null;
      kernels?.reset(); // the timed run's passes only (not the first call's)
      gpuS = await time(async () => { for (const t of tensors) outs.push(await gpu!.quantize(job(t))); });
      if (kernels) kernelLines = kernels.lines(gpuS * 1000);
      const c = blockCountsSince(gpu.blockCounts!(), before);
      gpuSame = same(outs, ref);
      gpuCols = [rate(gpuS, blocks), rate(gpuS, inBytes / 1e6), firstS.toFixed(2), String(c.device), `${c.fallback} (${c.ordinaryFallback})`];
    }

    let oracleS = NaN;
    let oracleSame = '-';
    if (oracle) {
      const rowBytes = (n: number) => (n / layout.blockSize) * layout.typeSize;
      const outs = tensors.map((t) => new Uint8Array(new SharedArrayBuffer(rowBytes(t.n) * t.rows)));
      const wdst = new Uint8Array(new SharedArrayBuffer(rowBytes(warm.n)));
      await oracle.quantize(type, warm.data, wdst, 1, warm.n, rowBytes(warm.n), withImatrix ? warm.sharedImatrix : null); // ggml_quantize_init
      oracleS = await time(async () => {
        for (const [i, t] of tensors.entries()) await oracle!.quantize(type, t.data, outs[i], t.rows, t.n, rowBytes(t.n), withImatrix ? t.sharedImatrix : null);
      });
      oracleSame = same(outs, ref);
    }
    print([layout.name + (withImatrix && !useImatrix ? ' +im' : ''), String(blocks), ...gpuCols,
      rate(cpuS, blocks), rate(cpuS, inBytes / 1e6), rate(oracleS, blocks), rate(oracleS, inBytes / 1e6),
      ratio(gpuS, oracleS), ratio(cpuS, oracleS), ratio(gpuS, cpuS), gpuSame, oracleSame]);
    // --profile: this type's timed GPU run, per kernel (wall = the "gpu" column's seconds)
    for (const line of kernelLines) console.log(`${' '.repeat(widths[0] + 2)}${line}`);
  }
  console.log('ratios are speed-ups (a/b = b seconds / a seconds). "+im": the type requires an imatrix, so it got one.');
  console.log('device / host fb: blocks of the timed GPU run computed on the device / re-quantized on the host (flagged');
  console.log('subnormal/overflow inputs; "ordinary" must be 0). blocks = values / block size of the type.');
  if (profile) console.log('--profile: under each row, the device time of its timed GPU run per kernel (timestamp queries); "of wall": of that run\'s seconds.');
  await cpu.close();
  await gpu?.close();
  await oracle?.close();
}

await main();
