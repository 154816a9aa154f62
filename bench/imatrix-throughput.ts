/**
 * Tokens per second of the imatrix pass (forward pass + collection), CPU and WebGPU side by side in one
 * run, on a GGUF model and text (default: stories260K and the golden calib.txt beside the repository).
 *
 *   node dist/imatrix-throughput.js [-m model.gguf] [-f calib.txt] [-c 128] [--chunks 16] [--no-gpu]
 *
 * The GPU figure uses whatever adapter Dawn finds (SwiftShader without a GPU) and includes every upload
 * and readback; the matmuls run there, the rest of the forward pass on the CPU.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CPU_MATMUL, type MatmulBackend } from '../src/model/llama.js';
import { computeImatrix } from '../src/eval/imatrix.js';
import { loadModel, readPromptFile } from '../src/node/eval/cli-common.js';

const argv = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};
const shared = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared');
const modelPath = arg('-m', path.join(shared, 'models/stories260K-gguf/stories260K.gguf'));
const textPath = arg('-f', path.join(shared, 'golden/llama-tools-v050/calib.txt'));
const nCtx = Number(arg('-c', '128'));
const chunks = Number(arg('--chunks', '16'));

const { model, tokenizer } = await loadModel(modelPath);
const tokens = tokenizer.tokenize(readPromptFile(textPath), true, false);
const hp = model.hp;
console.log(`imatrix pass: ${path.basename(modelPath)} (n_embd ${hp.nEmbd}, n_ff ${hp.nFf}, ${hp.nLayer} layers, vocab ${hp.nVocab}), ${chunks} chunks of ${nCtx}`);

async function run(name: string, matmul: MatmulBackend) {
  // warm-up chunk (shader compile, JIT), not timed
  await computeImatrix(model, tokens, { nCtx, chunks: 1, bos: tokenizer.bos, matmul });
  const t0 = performance.now();
  const r = await computeImatrix(model, tokens, { nCtx, chunks, bos: tokenizer.bos, matmul });
  const s = (performance.now() - t0) / 1000;
  console.log(`${name.padEnd(44)} ${(r.tokens / s).toFixed(0).padStart(8)} tokens/s  (${s.toFixed(2)} s, PPL ${r.ppl[0].toFixed(4)})`);
}

await run('cpu (1 thread, TypeScript)', CPU_MATMUL);
if (!argv.includes('--no-gpu')) {
  const { nodeGpuDevice } = await import('../src/node/gpu-device.js');
  const { GpuMatmul } = await import('../src/model/gpu-matmul.js');
  const h = await nodeGpuDevice({ log: () => {} });
  await run(`gpu (${h.adapterName})`.slice(0, 44), new GpuMatmul(h.device, h.adapterName));
  h.device.destroy();
}
