/**
 * Tokens per second of the imatrix pass (forward pass + collection), CPU and WebGPU side by side in one
 * run, on a GGUF model and text (default: stories260K and the golden calib.txt beside the repository).
 *
 *   node dist/bench/imatrix-throughput.js [-m model.gguf] [-f calib.txt] [-c 128] [--chunks 16] [--no-gpu]
 *     [--modes cpu,gpu-matmul,gpu] [--gpu-budget MIB]
 *
 * The GPU figures use whatever adapter Dawn finds (SwiftShader without a GPU) and include every upload and
 * readback: `gpu` runs the whole forward pass there (GpuForward: activations and Σx² stay on the device,
 * one readback per chunk), `gpu-matmul` only the matmuls (GpuMatmul; the rest on the CPU, each matmul's
 * input and output crossing the bus), as --backend gpu did before the whole pass moved.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CPU_MATMUL, type MatmulBackend } from '../src/model/llama.js';
import { computeImatrix } from '../src/eval/imatrix.js';
import { loadModel, readPromptFile } from '../src/node/eval/cli-common.js';
import { parseBenchFlags } from './lib/bench-cli.js';

// ../shared beside the repository (this file runs as dist/bench/imatrix-throughput.js)
const shared = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared');
const USAGE = `usage: node dist/bench/imatrix-throughput.js [-m model.gguf] [-f calib.txt] [-c 128] [--chunks 16] [--no-gpu]
         [--modes cpu,gpu-matmul,gpu] [--gpu-budget MIB]

  Tokens per second of the imatrix pass (forward pass + collection), CPU and WebGPU side by side, on a
  GGUF model and a text (default: stories260K and the golden calib.txt in ${shared}). Writes no file.
  -m, --model   -f, --file   -c, --ctx (context per chunk)   --chunks   --no-gpu (CPU only)
  --modes       which of cpu (TypeScript, 1 thread), gpu-matmul (only the matmuls on the device),
                gpu (the whole forward pass on the device) to run, in order (default: all three)
  --gpu-budget  MiB of device memory for resident weights in mode gpu (default 4096; smaller streams layers)`;

const f = parseBenchFlags(process.argv.slice(2), {
  model: { kind: 'string', default: path.join(shared, 'models/stories260K-gguf/stories260K.gguf'), aliases: ['-m'] },
  file: { kind: 'string', default: path.join(shared, 'golden/llama-tools-v050/calib.txt'), aliases: ['-f'] },
  ctx: { kind: 'int', default: '128', aliases: ['-c'] },
  chunks: { kind: 'int', default: '16' },
  'no-gpu': { kind: 'bool' },
  modes: { kind: 'string', default: 'cpu,gpu-matmul,gpu' },
  'gpu-budget': { kind: 'int', default: '4096' },
}, USAGE);
const MODES = ['cpu', 'gpu-matmul', 'gpu'];
const modes = String(f.modes).split(',').filter((m) => !f['no-gpu'] || m === 'cpu');
for (const m of modes) {
  if (!MODES.includes(m)) {
    process.stderr.write(`error: --modes: '${m}' is not one of ${MODES.join(', ')} (see --help)\n`);
    process.exit(2);
  }
}
const modelPath = String(f.model);
const textPath = String(f.file);
const nCtx = Number(f.ctx);
const chunks = Number(f.chunks);

const { model, tokenizer } = await loadModel(modelPath);
const tokens = tokenizer.tokenize(readPromptFile(textPath), true, false);
const hp = model.hp;
console.log(`imatrix pass: ${path.basename(modelPath)} (n_embd ${hp.nEmbd}, n_ff ${hp.nFf}, ${hp.nLayer} layers, vocab ${hp.nVocab}), ${chunks} chunks of ${nCtx}`);

async function run(name: string, matmul: MatmulBackend) {
  // warm-up chunk (shader compile, JIT), not timed
  await computeImatrix(model, tokens, { nCtx, chunks: 1, bos: tokenizer.bos, matmul });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = await computeImatrix(model, tokens, { nCtx, chunks, bos: tokenizer.bos, matmul });
  const s = (performance.now() - t0) / 1000;
  // CPU time of this process (SwiftShader's threads included): the figure a loaded shared machine does not distort
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  console.log(`${name.padEnd(44)} ${(r.tokens / s).toFixed(0).padStart(8)} tokens/s  (${s.toFixed(2)} s; ${cpu.toFixed(2)} CPU-s, ` +
    `${(r.tokens / cpu).toFixed(0)} tokens per CPU-s; PPL ${r.ppl[0].toFixed(4)})`);
}

let device: Awaited<ReturnType<typeof import('../src/node/gpu-device.js').nodeGpuDevice>> | undefined;
for (const mode of modes) {
  if (mode === 'cpu') {
    await run('cpu (1 thread, TypeScript)', CPU_MATMUL);
    continue;
  }
  if (!device) {
    const { nodeGpuDevice } = await import('../src/node/gpu-device.js');
    device = await nodeGpuDevice({ log: () => {} });
  }
  const h = device;
  if (mode === 'gpu-matmul') {
    const { GpuMatmul } = await import('../src/model/gpu-matmul.js');
    const g = new GpuMatmul(h.device, h.adapterName);
    await run(`gpu-matmul (${h.adapterName})`.slice(0, 44), g);
    g.destroy();
  } else {
    const { GpuForward } = await import('../src/model/gpu-forward.js');
    const g = new GpuForward(h.device, h.adapterName, { budgetBytes: Number(f['gpu-budget']) * 2 ** 20, software: h.isSoftware });
    await run(`gpu (${h.adapterName})`.slice(0, 44), g);
    console.log(`  gpu: weights ${g.isResident(model) ? 'resident' : 'streamed layer by layer'}`);
    g.destroy();
  }
}
device?.device.destroy();
