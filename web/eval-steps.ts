/**
 * The practice's other two steps in the worker, as the CLI's `--calibrate` and `kld` do them
 * (src/node/eval/quantize-steps.ts, kld-cli.ts): the importance matrix of the dropped model on a
 * calibration text (llama-imatrix's pass, src/eval/imatrix.ts), and the KL divergence of the quantized
 * bytes from the original on an evaluation text (llama-perplexity --kl-divergence, src/eval/kld.ts).
 * The forward passes run whole on WebGPU (src/model/gpu-forward.ts) or on the CPU, chosen as the
 * CLI's `--backend` chooses for these steps.
 *
 * Memory: a model's stored bytes stay in memory (LlamaModel.load); the CPU pass adds its weights as F32
 * (about 4 bytes per parameter, twice that for the check, which loads both models), the GPU pass keeps
 * them as F32 on the device instead (within its default 4 GiB budget, else streamed layer by layer).
 */
import { promptText } from '../src/eval/chunks.js';
import { computeImatrix, imatrixGguf } from '../src/eval/imatrix.js';
import { computeKld, type KldStats } from '../src/eval/kld.js';
import { GpuError } from '../src/errors.js';
import type { GgufModel } from '../src/formats/gguf-model.js';
import { browserGpu, requestGpuDevice } from '../src/gpu/device.js';
import { GpuForward } from '../src/model/gpu-forward.js';
import { CPU_MATMUL, LlamaModel, type MatmulBackend } from '../src/model/llama.js';
import { Tokenizer } from '../src/model/tokenizer.js';
import type { BackendChoice } from '../src/pipeline/options.js';
import type { RunLog } from '../src/pipeline/quantize-model.js';
import type { EvalText, WorkerMessage } from './protocol.js';

/** The file's text as the CLI reads `-f FILE` (Node's utf8 decoding keeps a BOM; one trailing newline dropped). */
export async function readEvalText(f: File): Promise<string> {
  return promptText(new TextDecoder('utf-8', { ignoreBOM: true }).decode(await f.arrayBuffer()));
}

interface Matmul {
  matmul: MatmulBackend;
  /** `gpu (SwiftShader …)` or `cpu` */
  description: string;
  close(): void;
}

/**
 * The forward pass's matmuls for `choice`, as the CLI's `--backend` for imatrix/kld/--calibrate:
 * cpu: the CPU; gpu: any WebGPU adapter (software included) or an error; auto: a hardware adapter, else
 * the CPU with a one-line notice.
 */
export async function createMatmul(choice: BackendChoice, step: string, log: (line: string) => void): Promise<Matmul> {
  const cpu: Matmul = { matmul: CPU_MATMUL, description: 'cpu', close: () => undefined };
  if (choice === 'cpu') return cpu;
  const gpu = browserGpu();
  let handle;
  try {
    if (!gpu) throw new GpuError('unavailable', 'WebGPU is not available in this browser');
    handle = await requestGpuDevice(gpu);
    if (!handle) throw new GpuError('unavailable', 'no WebGPU adapter found');
  } catch (e) {
    if (choice === 'gpu') throw e;
    log(`${step}: no hardware GPU adapter (${(e as Error).message}); running the forward pass on the CPU`);
    return cpu;
  }
  if (choice === 'auto' && handle.isSoftware) {
    log(`${step}: only a software adapter (${handle.adapterName}); running the forward pass on the CPU`);
    handle.device.destroy();
    return cpu;
  }
  const { device, adapterName } = handle;
  const m = new GpuForward(device, adapterName, { software: handle.isSoftware });
  return {
    matmul: m,
    description: `gpu (${adapterName})`,
    close: () => {
      m.destroy();
      device.destroy();
    },
  };
}

/** `model-Q4_K_M.gguf` -> `model-Q4_K_M.imatrix.gguf`, the name the CLI's --calibrate writes beside its output */
export const imatrixNameFor = (outputName: string) => `${outputName.replace(/\.gguf$/, '')}.imatrix.gguf`;

export interface Calibrated {
  bytes: Uint8Array;
  name: string;
}

/**
 * llama-imatrix's pass over the calibration text on `model`; posts each chunk's running perplexity and
 * the finished imatrix file (its datasets entry is the text's file name, as the CLI stores the name typed).
 */
export async function calibrate(model: GgufModel, calib: EvalText, outputName: string, choice: BackendChoice,
  log: RunLog, post: (m: WorkerMessage) => void): Promise<Calibrated> {
  const t0 = Date.now();
  const text = await readEvalText(calib.text);
  const tokenizer = Tokenizer.fromKvs(model.kvs, model.name);
  const tokens = tokenizer.tokenize(text, true, false);
  const llama = await LlamaModel.load(model);
  const mm = await createMatmul(choice, 'calibrate', (l) => log.warn(l));
  log.info(`calibrate: ${calib.text.name}: ${tokens.length} tokens, context ${calib.ctx}, forward pass on ${mm.description}`);
  try {
    let line = '';
    const r = await computeImatrix(llama, tokens, {
      nCtx: calib.ctx, chunks: calib.chunks, matmul: mm.matmul, bos: tokenizer.addBos ? tokenizer.bos : null, what: calib.text.name,
      onChunk: (done, total, ppl) => {
        post({ type: 'chunk', step: 'imatrix', done, total, value: ppl });
        line += `[${done}]${ppl.toFixed(4)},`;
        if (done % 16 === 0 || done === total) {
          log.info(line);
          line = '';
        }
      },
    });
    const name = imatrixNameFor(outputName);
    const bytes = imatrixGguf(r, [calib.text.name]);
    log.info(`Final estimate: PPL = ${r.ppl[0].toFixed(4)} +/- ${r.ppl[1].toFixed(5)}`);
    log.info(`webgpu-quantize: calibrated on ${calib.text.name}: imatrix of ${r.entries.size} matrices over ${r.chunkCount} chunks of ${r.chunkSize} tokens ` +
      `(PPL ${r.ppl[0].toFixed(4)}, ${((Date.now() - t0) / 1000).toFixed(1)} s, ${mm.description}) made as ${name}; quantizing with it`);
    post({
      type: 'imatrix', blob: new Blob([bytes as BlobPart], { type: 'application/octet-stream' }), name, dataset: calib.text.name,
      chunks: r.chunkCount, chunkSize: r.chunkSize, entries: r.entries.size, ppl: r.ppl, matmul: mm.description,
    });
    return { bytes, name };
  } finally {
    mm.close();
  }
}

/** KLD statistics of `quant` against `base` on the evaluation text; posts each chunk's running mean KLD. */
export async function checkQuality(base: GgufModel, quant: GgufModel, ev: EvalText, choice: BackendChoice,
  log: RunLog, post: (m: WorkerMessage) => void): Promise<{ stats: KldStats; matmul: string }> {
  const text = await readEvalText(ev.text);
  const tokenizer = Tokenizer.fromKvs(base.kvs, base.name);
  const tokens = tokenizer.tokenize(text, true, false);
  const a = await LlamaModel.load(base);
  const b = await LlamaModel.load(quant);
  const mm = await createMatmul(choice, 'kld', (l) => log.warn(l));
  log.info(`kld: ${quant.name} vs ${base.name} on ${ev.text.name}: ${tokens.length} tokens, context ${ev.ctx}, forward passes on ${mm.description}`);
  try {
    const stats = await computeKld(a, b, tokens, {
      nCtx: ev.ctx, chunks: ev.chunks, matmul: mm.matmul, bos: tokenizer.addBos ? tokenizer.bos : null, what: ev.text.name,
      onChunk: (done, total, kld) => post({ type: 'chunk', step: 'check', done, total, value: kld }),
    });
    const pm = (v: [number, number], d: number) => `${v[0].toFixed(d)} ± ${v[1].toFixed(d)}`;
    log.info(`webgpu-quantize: quality of ${quant.name} vs ${base.name} on ${ev.text.name} (${stats.chunks} chunks of ${ev.ctx}): ` +
      `PPL(Q) ${pm(stats.ppl_q, 4)}, PPL(base) ${pm(stats.ppl_base, 4)}, mean KLD ${pm(stats.mean_kld, 6)}, ` +
      `RMS Δp ${pm(stats.rms_dp_pct, 3)} %, same top p ${pm(stats.same_top_p_pct, 3)} %`);
    return { stats, matmul: mm.description };
  } finally {
    mm.close();
  }
}
