/**
 * Tokens per second of the imatrix pass (forward pass + collection), CPU, WebGPU and llama.cpp side by side
 * in one run, on a GGUF model and text (default: stories260K and the golden calib.txt beside the repository).
 *
 *   node dist/bench/imatrix-throughput.js [-m model.gguf] [-f calib.txt] [-c 128] [--chunks 16] [--no-gpu]
 *     [--modes cpu,gpu-matmul,gpu,llama] [--gpu-budget MIB] [--threads N] [--synth8b LAYERS [--small]]
 *
 * The GPU figures use whatever adapter Dawn finds (SwiftShader without a GPU) and include every upload and
 * readback: `gpu` runs the whole forward pass there (GpuForward: activations and Σx² stay on the device,
 * one readback per chunk), `gpu-matmul` only the matmuls (GpuMatmul; the rest on the CPU, each matmul's
 * input and output crossing the bus), as --backend gpu did before the whole pass moved.
 *
 * `llama` is llama.cpp v0.5.0's own pass through the oracle library (test/oracle/llama-decode.ts, koffi):
 * llama_decode on --threads threads (default: all cores) of each chunk, with an eval callback that applies
 * llama-imatrix's collection rule in JavaScript (its cost is included, and printed on its own line: llama-imatrix
 * runs the same rule in C++; the graph is computed in pieces up to each collected matmul in both), the
 * logits read back and the perplexity summed in JavaScript as in the other modes.
 *
 * --synth8b N: instead of -m/-f, a generated model with Llama-3-8B's shapes (n_embd 4096, n_ff 14336, 32/8
 * heads, vocab 128256, F16 random weights, N layers; about 2.1 GB + 0.44 GB per layer) written to the temp
 * directory and deleted after, fed seeded random token ids (its vocabulary is generated, so there is no text
 * to tokenize). --small: the same tensor set 256 wide (vocab 2048), to rehearse the mode on SwiftShader.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CPU_MATMUL, type MatmulBackend } from '../src/model/llama.js';
import { computeImatrix } from '../src/eval/imatrix.js';
import { chunkTokens, planChunks, PplAccumulator, tokenNll } from '../src/eval/chunks.js';
import { mulberry32 } from '../src/synthetic-model.js';
import { loadModel, readPromptFile } from '../src/node/eval/cli-common.js';
import { benchTempDir, parseBenchFlags } from './lib/bench-cli.js';
import { specFor, writeModel } from './lib/synth-llama3.js';

// ../shared beside the repository (this file runs as dist/bench/imatrix-throughput.js)
const shared = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared');
const USAGE = `usage: node dist/bench/imatrix-throughput.js [-m model.gguf] [-f calib.txt] [-c 128] [--chunks 16] [--no-gpu]
         [--modes cpu,gpu-matmul,gpu,llama] [--gpu-budget MIB] [--threads N] [--synth8b LAYERS [--small]]

  Tokens per second of the imatrix pass (forward pass + collection), CPU, WebGPU and llama.cpp side by side,
  on a GGUF model and a text (default: stories260K and the golden calib.txt in ${shared}). Writes no file.
  -m, --model   -f, --file   -c, --ctx (context per chunk)   --chunks   --no-gpu (CPU only)
  --modes       which of cpu (TypeScript, 1 thread), gpu-matmul (only the matmuls on the device),
                gpu (the whole forward pass on the device), llama (llama.cpp's llama_decode on --threads
                threads + llama-imatrix's collection rule in a koffi eval callback) to run, in order
                (default: cpu,gpu-matmul,gpu)
  --gpu-budget  MiB of device memory for resident weights in mode gpu (default 4096; smaller streams layers)
  --threads     llama.cpp's n_threads in mode llama (default: all cores, ${os.availableParallelism()} here)
  --synth8b N   a generated Llama-3-8B-shaped F16 model with N layers (random weights, in the temp directory,
                deleted after) fed seeded random token ids, instead of -m and -f; --small: 256 wide`;

const f = parseBenchFlags(process.argv.slice(2), {
  model: { kind: 'string', default: path.join(shared, 'models/stories260K-gguf/stories260K.gguf'), aliases: ['-m'] },
  file: { kind: 'string', default: path.join(shared, 'golden/llama-tools-v050/calib.txt'), aliases: ['-f'] },
  ctx: { kind: 'int', default: '128', aliases: ['-c'] },
  chunks: { kind: 'int', default: '16' },
  'no-gpu': { kind: 'bool' },
  modes: { kind: 'string', default: 'cpu,gpu-matmul,gpu' },
  'gpu-budget': { kind: 'int', default: '4096' },
  threads: { kind: 'int', default: String(os.availableParallelism()) },
  synth8b: { kind: 'int' },
  small: { kind: 'bool' },
}, USAGE);
const MODES = ['cpu', 'gpu-matmul', 'gpu', 'llama'];
const modes = String(f.modes).split(',').filter((m) => !f['no-gpu'] || m === 'cpu' || m === 'llama');
for (const m of modes) {
  if (!MODES.includes(m)) {
    process.stderr.write(`error: --modes: '${m}' is not one of ${MODES.join(', ')} (see --help)\n`);
    process.exit(2);
  }
}
const nCtx = Number(f.ctx);
const chunks = Number(f.chunks);
const threads = Number(f.threads);
const synthLayers = f.synth8b === undefined || f.synth8b === '' ? 0 : Number(f.synth8b);
if (f.small && !synthLayers) {
  process.stderr.write('error: --small goes with --synth8b (see --help)\n');
  process.exit(2);
}

let modelPath = String(f.model);
let tokens: ArrayLike<number>;
let bos: number | null;
let synthDir = '';
let what: string;
if (synthLayers) {
  const spec = specFor(f.small === true, synthLayers);
  synthDir = benchTempDir('wq-imatrix-synth-');
  modelPath = path.join(synthDir, `${spec.name}.gguf`);
  const t0 = performance.now();
  await writeModel(spec, modelPath);
  // the generated vocabulary ('tok<i>', BOS 1) has nothing to tokenize a text with: seeded random ids past the specials
  const rand = mulberry32(7);
  tokens = Int32Array.from({ length: Math.max(chunks, 2) * nCtx }, () => 3 + Math.floor(rand() * (spec.nVocab - 3)));
  bos = 1;
  what = `${spec.name}, ${(fs.statSync(modelPath).size / 1e9).toFixed(2)} GB F16 random weights generated in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` +
    `tokens: seeded random ids in [3, ${spec.nVocab}) with BOS (1) at each chunk's start`;
}
const { model, tokenizer } = await loadModel(modelPath);
if (!synthLayers) {
  tokens = tokenizer.tokenize(readPromptFile(String(f.file)), true, false);
  bos = tokenizer.bos;
  what = `text ${path.basename(String(f.file))} tokenized by the GGUF's tokenizer`;
}
const hp = model.hp;
console.log(`imatrix pass: ${path.basename(modelPath)} (n_embd ${hp.nEmbd}, n_ff ${hp.nFf}, ${hp.nLayer} layers, vocab ${hp.nVocab}), ${chunks} chunks of ${nCtx}`);
console.log(`  ${what!}`);

/** times `pass` over every chunk after a one-chunk warm-up (shader compile, JIT, first-touch), and prints the row */
async function timed(name: string, pass: (chunks: number) => Promise<{ tokens: number; ppl: [number, number] }>) {
  await pass(1);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = await pass(chunks);
  const s = (performance.now() - t0) / 1000;
  // CPU time of this process (SwiftShader's and llama.cpp's threads included): the figure a loaded shared machine does not distort
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  console.log(`${name.padEnd(44)} ${(r.tokens / s).toFixed(0).padStart(8)} tokens/s  (${s.toFixed(2)} s; ${cpu.toFixed(2)} CPU-s, ` +
    `${(r.tokens / cpu).toFixed(0)} tokens per CPU-s; PPL ${r.ppl[0].toFixed(4)})`);
  return { s, tokens: r.tokens };
}

function run(name: string, matmul: MatmulBackend) {
  return timed(name, (n) => computeImatrix(model, tokens, { nCtx, chunks: n, bos, matmul }));
}

/** llama.cpp's pass: llama_decode per chunk with llama-imatrix's collection in the oracle's eval callback */
async function runLlama() {
  const { openDecodeOracle } = await import('../test/oracle/llama-decode.js');
  const o = openDecodeOracle(modelPath, nCtx, { imatrix: {}, threads, quiet: true });
  if (!o) {
    const { oracleUnavailable } = await import('../test/oracle/llama-cpp.js');
    console.log(`llama: ${oracleUnavailable || 'llama.cpp oracle unavailable'}`);
    process.exitCode = 1;
    return;
  }
  const plan = planChunks(tokens.length, nCtx, chunks, 'imatrix');
  let cb0 = 0;
  const r = await timed(`llama (llama_decode, ${threads} threads, + callback)`.slice(0, 44), async (n) => {
    cb0 = o.callbackSeconds;
    const ppl = new PplAccumulator();
    const nChunk = Math.min(n, plan.nChunk);
    for (let c = 0; c < nChunk; c++) {
      const logits = o.decode(chunkTokens(tokens, plan, c, bos), nCtx);
      for (let i = plan.first; i < plan.nCtx - 1; i++) ppl.add(tokenNll(logits, i * o.nVocab, o.nVocab, tokens[c * plan.nCtx + i + 1]));
    }
    return { tokens: nChunk * nCtx, ppl: ppl.final() };
  });
  const cb = o.callbackSeconds - cb0;
  console.log(`  llama: llama.cpp v0.5.0's llama_decode (CPU backend, n_threads ${threads}) through koffi, with llama-imatrix's ` +
    `collection rule (Σx² per column of each blk.* MUL_MAT input) run in JavaScript in the eval callback (asked for every graph node): ${cb.toFixed(2)} of ${r.s.toFixed(2)} s in the callback ` +
    `(included above; without it ${(r.tokens / Math.max(r.s - cb, 1e-9)).toFixed(0)} tokens/s); logits read back and PPL summed in JavaScript as in the other modes`);
  o.free();
}

let device: Awaited<ReturnType<typeof import('../src/node/gpu-device.js').nodeGpuDevice>> | undefined;
async function runMode(mode: string) {
  if (mode === 'cpu') {
    await run('cpu (1 thread, TypeScript)', CPU_MATMUL);
    return;
  }
  if (mode === 'llama') {
    await runLlama();
    return;
  }
  if (!device) {
    const { nodeGpuDevice } = await import('../src/node/gpu-device.js');
    device = await nodeGpuDevice({ log: () => {} });
  }
  const h = device;
  if (mode === 'gpu-matmul') {
    const { GpuMatmul } = await import('../src/model/gpu-matmul.js');
    const g = new GpuMatmul(h.device, h.adapterName);
    try {
      await run(`gpu-matmul (${h.adapterName})`.slice(0, 44), g);
    } finally {
      g.destroy();
    }
  } else {
    const { GpuForward } = await import('../src/model/gpu-forward.js');
    const g = new GpuForward(h.device, h.adapterName, { budgetBytes: Number(f['gpu-budget']) * 2 ** 20, software: h.isSoftware });
    try {
      await run(`gpu (${h.adapterName})`.slice(0, 44), g);
      console.log(`  gpu: weights ${g.isResident(model) ? 'resident' : 'streamed layer by layer'}`);
    } finally {
      g.destroy();
    }
  }
}

// a mode that fails prints one line and the others still run (the exit status says one failed)
for (const mode of modes) {
  try {
    await runMode(mode);
  } catch (e) {
    console.log(`${mode}: failed: ${(e as Error).message.split('\n')[0]}`);
    process.exitCode = 1;
  }
}
device?.device.destroy();
if (synthDir) fs.rmSync(synthDir, { recursive: true, force: true });
