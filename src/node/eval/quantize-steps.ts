/**
 * The practice in one command: `webgpu-quantize --calibrate calib.txt model.gguf [out.gguf] [type]` makes
 * the importance matrix of `model.gguf` on calib.txt first (llama-imatrix's computation, written beside
 * the output as `<out>.imatrix.gguf`) and quantizes with it; `--kld eval.txt` then measures the written
 * file against the input (llama-perplexity --kl-divergence's statistics). `--eval-ctx N` sets the context
 * of both (default 512, as llama-imatrix and llama-perplexity use).
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../../errors.js';
import type { RunLog } from '../../pipeline/quantize-model.js';
import { loadModel, matmulBackend, readPromptFile, writeFileWhole, type Flags } from './cli-common.js';
import { computeImatrix, imatrixGguf } from '../../eval/imatrix.js';
import { computeKld } from '../../eval/kld.js';

export interface EvalSteps {
  calibrate?: string;
  kld?: string;
  ctx: number;
  backend: string;
}

/** Take --calibrate F, --kld F and --eval-ctx N out of a quantize command line. */
export function extractEvalSteps(argv: string[]): { argv: string[]; steps: EvalSteps } {
  const rest: string[] = [];
  const steps: EvalSteps = { ctx: 512, backend: 'auto' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--calibrate' || a === '--kld' || a === '--eval-ctx') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      if (a === '--calibrate') steps.calibrate = v;
      else if (a === '--kld') steps.kld = v;
      else if (!/^\d+$/.test(v)) throw new UsageError(`--eval-ctx must be a positive integer, got '${v}'`);
      else steps.ctx = Number(v);
      continue;
    }
    if (a === '--backend' && argv[i + 1] !== undefined) steps.backend = argv[i + 1];
    rest.push(a);
  }
  return { argv: rest, steps };
}

const flagsFor = (s: EvalSteps): Flags => ({ values: new Map([['backend', s.backend]]), bools: new Set(), positional: [] });

/** The imatrix of `input` on the calibration text, written beside the output; returns its path. */
export async function calibrate(input: string, output: string | undefined, s: EvalSteps, log: RunLog): Promise<string> {
  const base = output ?? path.join(path.dirname(input), 'ggml-model');
  const out = `${base.replace(/\.gguf$/, '')}.imatrix.gguf`;
  const { model, tokenizer } = await loadModel(input);
  const text = readPromptFile(s.calibrate!);
  const matmul = await matmulBackend(flagsFor(s), 'calibrate', (l) => log.warn(l));
  const t0 = Date.now();
  const r = await computeImatrix(model, tokenizer.tokenize(text, true, false), {
    nCtx: s.ctx, matmul, bos: tokenizer.addBos ? tokenizer.bos : null, what: s.calibrate,
    onChunk: (i, n, ppl) => {
      if (log.progress) log.progress(i, n);
      else if (i === n || i % 16 === 0) log.warn(`calibrate: ${i}/${n} chunks, PPL ${ppl.toFixed(4)}`);
    },
  });
  writeFileWhole(out, imatrixGguf(r, [s.calibrate!]));
  log.info(`webgpu-quantize: calibrated on ${s.calibrate}: imatrix of ${r.entries.size} matrices over ${r.chunkCount} chunks of ${r.chunkSize} tokens ` +
    `(PPL ${r.ppl[0].toFixed(4)}, ${((Date.now() - t0) / 1000).toFixed(1)} s, ${matmul.name}) written to ${out}; quantizing with it`);
  return out;
}

/** KLD of the written file against its input on the evaluation text, printed as one summary block. */
export async function measureKld(input: string, output: string, s: EvalSteps, log: RunLog): Promise<void> {
  if (!fs.existsSync(output)) throw new UsageError(`--kld: ${output} was not written`);
  const base = await loadModel(input);
  const quant = await loadModel(output);
  const matmul = await matmulBackend(flagsFor(s), 'kld', (l) => log.warn(l));
  const k = await computeKld(base.model, quant.model, base.tokenizer.tokenize(readPromptFile(s.kld!), true, false), {
    nCtx: s.ctx, matmul, bos: base.tokenizer.addBos ? base.tokenizer.bos : null, what: s.kld,
  });
  const pm = (v: [number, number], d: number) => `${v[0].toFixed(d)} ± ${v[1].toFixed(d)}`;
  log.info(`webgpu-quantize: quality of ${output} vs ${input} on ${s.kld} (${k.chunks} chunks of ${s.ctx}): ` +
    `PPL(Q) ${pm(k.ppl_q, 4)}, PPL(base) ${pm(k.ppl_base, 4)}, mean KLD ${pm(k.mean_kld, 6)}, ` +
    `RMS Δp ${pm(k.rms_dp_pct, 3)} %, same top p ${pm(k.same_top_p_pct, 3)} %`);
}
