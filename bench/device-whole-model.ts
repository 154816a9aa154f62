/**
 * The whole-model device benchmark (issue 8, item 4): on a generated model with Llama-3-8B shapes (4
 * layers + token embedding + output, F16, about 3.9 GB) and an imatrix for it, times file to file
 *   - ours: `webgpu-quantize --backend gpu` (quantizeFile with the GPU backend, device start included),
 *   - llama.cpp: `llama_model_quantize` through the oracle with nthread = all cores (a real run),
 *   - the read floor: reading the input once from a warm page cache,
 * for Q4_K_M with and without imatrix, Q5_K_M, Q6_K, Q8_0 and Q4_0; prints seconds, input GB/s, the ratios,
 * peak RSS of each side (its own child process), device / host-fallback block counts, and whether the two
 * outputs are sha256-identical; writes the rows to a JSON file and the table beside it.
 *
 *   node dist/bench/device-whole-model.js [--small] [--layers 4] [--runs Q4_K_M+im,Q4_K_M,...] [--backend gpu]
 *                                   [--json bench/results/device-whole-model.json] [--dir D] [--keep]
 *
 * --small: a tiny model with the same tensor set (256-wide), to check the mode end to end on SwiftShader.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFtype } from '../src/policy/ftype.js';
import { GgmlType } from '../src/core/ggml-type.js';
import { syntheticModel, type SyntheticSpec } from '../src/synthetic-model.js';
import { imatrixGgufBytes, makeImatrixStats } from '../test/data/imatrix-files.js';
import { benchTempDir, parseBenchFlags } from './lib/bench-cli.js';
import { specFor, writeModel } from './lib/synth-llama3.js';

const argv = process.argv.slice(2);
const USAGE = `usage: node dist/bench/device-whole-model.js [--small] [--layers N] [--threads N] [--runs Q4_K_M+im,Q4_K_M,...]
                                           [--backend gpu|cpu] [--json FILE] [--dir D] [--keep]
  Whole file to whole file on a generated Llama-3-8B-shaped F16 model (4 layers: about 3.9 GB; --small: a
  tiny model with the same tensor set): ours vs llama_model_quantize on all cores vs the warm read floor.`;
const here = path.dirname(fileURLToPath(import.meta.url));

const DEFAULT_RUNS = 'Q4_K_M+im,Q4_K_M,Q5_K_M,Q6_K,Q8_0,Q4_0';

function writeImatrix(spec: SyntheticSpec, file: string): void {
  const weights = syntheticModel(spec).tensors.filter((t) => t.ne.length >= 2 && t.name !== 'token_embd.weight');
  fs.writeFileSync(file, imatrixGgufBytes(makeImatrixStats(weights, { seed: 5 })));
}

/** Reads the file once, sequentially, in 64 MiB pieces; returns seconds. */
function readOnce(file: string): number {
  const buf = Buffer.allocUnsafe(64 << 20);
  const fd = fs.openSync(file, 'r');
  const t0 = process.hrtime.bigint();
  try {
    while (fs.readSync(fd, buf, 0, buf.length, null) > 0) { /* read */ }
  } finally {
    fs.closeSync(fd);
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function sha256(file: string): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(64 << 20);
  const fd = fs.openSync(file, 'r');
  try {
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

interface ChildResult {
  s: number;
  peakRssMiB: number;
  adapter?: string;
  deviceBlocks?: number;
  fallbackBlocks?: number;
}

/** One side in its own process, so that its peak RSS (getrusage ru_maxrss) is its own. */
async function child(kind: string, input: string, output: string, ftype: string, imatrix: string, threads: number, backend: string): Promise<void> {
  const f = parseFtype(ftype)!;
  const t0 = process.hrtime.bigint();
  const r: Partial<ChildResult> = {};
  if (kind === 'ours') {
    const { quantizeFile } = await import('../src/node/index.js');
    const options = { ftype: f.id, ftypeName: f.name, nthreads: threads, backend: backend as 'gpu', imatrixPath: imatrix || undefined };
    if (backend === 'gpu') {
      const { createGpuBackend } = await import('../src/node/gpu-backend.js');
      const gpu = await createGpuBackend({ info() {}, warn: (l) => console.error(l) });
      try {
        await quantizeFile({ input, output, options, backend: gpu });
      } finally {
        await gpu.close();
      }
      r.adapter = gpu.description;
      const c = gpu.blockCounts();
      r.fallbackBlocks = c.fallback + c.noKernel;
      r.deviceBlocks = c.device;
    } else {
      const res = await quantizeFile({ input, output, options });
      r.adapter = res.backend;
    }
  } else {
    const { loadOracle } = await import('../test/oracle/llama-cpp.js');
    // the oracle reads the imatrix file with its own reader (not ours), which must be loaded first
    if (imatrix) await (await import('../test/oracle/imatrix-reference.js')).loadReferenceImatrix(imatrix);
    const o = loadOracle();
    if (!o) throw new Error('llama.cpp oracle unavailable');
    const rc = o.modelQuantize(input, output, { ftype: f.id, nthread: threads, imatrixFile: imatrix ? { path: imatrix } : undefined });
    if (rc !== 0) throw new Error(`llama_model_quantize returned ${rc}: ${o.lastQuantizeError()}`);
  }
  r.s = Number(process.hrtime.bigint() - t0) / 1e9;
  r.peakRssMiB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify(r) + '\n');
}

export interface WholeModelRow {
  ftype: string;
  imatrix: boolean;
  ours_s: number;
  llama_s: number;
  llama_threads: number;
  read_floor_s: number;
  input_bytes: number;
  peak_rss_mib: number;
  llama_peak_rss_mib: number;
  device_blocks: number | null;
  fallback_blocks: number | null;
  identical: boolean;
  adapter: string;
}

async function main(): Promise<void> {
  if (argv[0] === '--child') {
    const [, kind, input, output, ftype, imatrix, threads, backend] = argv;
    await child(kind, input, output, ftype, imatrix === '-' ? '' : imatrix, Number(threads), backend);
    return;
  }
  const flags = parseBenchFlags(argv, {
    small: { kind: 'bool' }, layers: { kind: 'int' }, threads: { kind: 'int', default: String(os.availableParallelism()) },
    backend: { kind: 'string', default: 'gpu', choices: ['gpu', 'cpu'] }, runs: { kind: 'string', default: DEFAULT_RUNS },
    json: { kind: 'string' }, dir: { kind: 'string' }, keep: { kind: 'bool' },
  }, USAGE);
  const small = flags.small === true;
  const nLayer = Number(flags.layers || (small ? '2' : '4'));
  const threads = Number(flags.threads);
  const backend = String(flags.backend);
  const runs = String(flags.runs).split(',');
  const jsonPath = String(flags.json || (small ? '' : path.join(here, '..', '..', 'bench', 'results', 'device-whole-model.json')));
  const dir = String(flags.dir) || benchTempDir('wq-whole-', flags.keep === true);
  fs.mkdirSync(dir, { recursive: true });
  const spec = specFor(small, nLayer);
  const input = path.join(dir, 'model-f16.gguf');
  const imatrix = path.join(dir, 'imatrix.gguf');
  let t0 = Date.now();
  await writeModel(spec, input);
  writeImatrix(spec, imatrix);
  const inputBytes = fs.statSync(input).size;
  console.log(`generated ${input}: ${(inputBytes / 1e9).toFixed(2)} GB F16, ${spec.nLayer} layers, n_embd ${spec.nEmbd}, n_ff ${spec.nFf}, vocab ${spec.nVocab}, + imatrix, in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (!small && inputBytes < 2e9) throw new Error(`the model is ${inputBytes} bytes, the benchmark needs >= 2 GB`);
  readOnce(input); // warm the page cache
  const floor = Math.min(readOnce(input), readOnce(input));
  console.log(`read floor (warm cache, 64 MiB reads): ${floor.toFixed(2)} s, ${(inputBytes / 1e9 / floor).toFixed(2)} GB/s; ${threads} cores`);
  const self = path.join(here, 'device-whole-model.js');
  const side = (kind: string, ftype: string, im: string, out: string): ChildResult => {
    t0 = Date.now();
    const r = spawnSync(process.execPath, [self, '--child', kind, input, out, ftype, im || '-', String(threads), backend], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`${kind} ${ftype} failed (status ${r.status}, signal ${r.signal})`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
  };
  const rows: WholeModelRow[] = [];
  const lines: string[] = [];
  const footer = () => `adapter: ${rows[0]?.adapter ?? backend}; llama.cpp threads: ${threads}; input ${inputBytes} bytes; read floor ${floor.toFixed(2)} s`;
  const save = () => {
    if (!jsonPath) return;
    fs.mkdirSync(path.dirname(jsonPath), { recursive: true });
    fs.writeFileSync(jsonPath, JSON.stringify(rows, null, 1) + '\n');
    fs.writeFileSync(jsonPath.replace(/\.json$/, '.txt'), [...lines, footer()].join('\n') + '\n');
  };
  const head = `${'ftype'.padEnd(12)} ${'ours s'.padStart(8)} ${'GB/s'.padStart(6)} ${'llama s'.padStart(8)} ${'GB/s'.padStart(6)} ${'llama/ours'.padStart(10)} ${'ours/floor'.padStart(10)} ${'RSS MiB'.padStart(8)} ${'llama RSS'.padStart(9)} ${'dev blocks'.padStart(11)} ${'fallback'.padStart(8)}  identical`;
  console.log(head);
  lines.push(head);
  for (const run of runs) {
    const [ftype, flag] = run.split('+');
    const im = flag === 'im' ? imatrix : '';
    const oursOut = path.join(dir, `ours-${run}.gguf`);
    const llamaOut = path.join(dir, `llama-${run}.gguf`);
    const ours = side('ours', ftype, im, oursOut);
    const llama = side('llama', ftype, im, llamaOut);
    const identical = sha256(oursOut) === sha256(llamaOut);
    for (const f of [oursOut, llamaOut]) fs.rmSync(f, { force: true });
    const row: WholeModelRow = {
      ftype, imatrix: !!im, ours_s: ours.s, llama_s: llama.s, llama_threads: threads, read_floor_s: floor, input_bytes: inputBytes,
      peak_rss_mib: Math.round(ours.peakRssMiB), llama_peak_rss_mib: Math.round(llama.peakRssMiB),
      device_blocks: ours.deviceBlocks ?? null, fallback_blocks: ours.fallbackBlocks ?? null, identical, adapter: ours.adapter ?? backend,
    };
    rows.push(row);
    const gbs = (s: number) => (inputBytes / 1e9 / s).toFixed(2);
    const line = `${run.padEnd(12)} ${ours.s.toFixed(2).padStart(8)} ${gbs(ours.s).padStart(6)} ${llama.s.toFixed(2).padStart(8)} ${gbs(llama.s).padStart(6)} ${(llama.s / ours.s).toFixed(2).padStart(10)} ${(ours.s / floor).toFixed(2).padStart(10)} ${String(row.peak_rss_mib).padStart(8)} ${String(row.llama_peak_rss_mib).padStart(9)} ${String(row.device_blocks ?? '-').padStart(11)} ${String(row.fallback_blocks ?? '-').padStart(8)}  ${identical ? 'yes' : 'NO'}`;
    console.log(line);
    lines.push(line);
    save(); // after every row: a run cut short by a time limit keeps the rows it finished
  }
  console.log(footer());
  if (jsonPath) console.log(`wrote ${jsonPath} and its .txt table`);
  if (rows.some((r) => !r.identical)) process.exitCode = 1;
}

await main();
