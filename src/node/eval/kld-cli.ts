/**
 * `webgpu-quantize kld base.gguf quantized.gguf -f eval.txt [-c 512] [--chunks N] [--json]
 * [--backend cpu]`: llama-perplexity --kl-divergence's statistics for the two models over the same text
 * (see eval/kld.ts), as its summary prints them, or one JSON object.
 */
import type { RunLog } from '../../pipeline/quantize-model.js';
import { UsageError } from '../../errors.js';
import { intFlag, matmulBackend, loadModel, parseFlags, readPromptFile, requireFlag } from './cli-common.js';
import { computeKld, type KldStats } from '../../eval/kld.js';

const CMD = 'kld';

export async function runKld(argv: string[], log: RunLog): Promise<number> {
  const flags = parseFlags(argv, {
    values: { file: ['-f', '--file'], ctx: ['-c', '--ctx-size'], chunks: ['--chunks'], backend: ['--backend'], gpuBudget: ['--gpu-budget'] },
    bools: { json: ['--json'] },
  }, CMD);
  if (flags.positional.length !== 2) throw new UsageError(`${CMD}: expected base.gguf quantized.gguf, got ${flags.positional.length} file(s)`);
  const textFile = requireFlag(flags, 'file', CMD);
  const nCtx = intFlag(flags, 'ctx', 512, CMD);
  const chunks = intFlag(flags, 'chunks', -1, CMD);
  const text = readPromptFile(textFile);
  const base = await loadModel(flags.positional[0]);
  const quant = await loadModel(flags.positional[1]);
  const tokens = base.tokenizer.tokenize(text, true, false);
  const backend = await matmulBackend(flags, CMD, (l) => log.warn(l));
  const t0 = Date.now();
  const s = await computeKld(base.model, quant.model, tokens, {
    nCtx, chunks, matmul: backend, bos: base.tokenizer.addBos ? base.tokenizer.bos : null, what: textFile,
    onChunk: (i, n, kld) => {
      if (i % 16 === 0 || i === n) log.warn(`kld: ${i}/${n} chunks, mean KLD so far ${kld.toFixed(6)}`);
    },
  });
  const seconds = (Date.now() - t0) / 1000;
  if (flags.bools.has('json')) log.info(JSON.stringify({ ...s, seconds, tokens_per_second: (2 * s.chunks * nCtx) / seconds, backend: backend.name }));
  else for (const line of summary(s)) log.info(line);
  return 0;
}

const pm = (v: [number, number], d: number) => `${v[0].toFixed(d).padStart(10)} ± ${v[1].toFixed(d).padStart(10)}`;

function summary(s: KldStats): string[] {
  return [
    '====== Perplexity statistics ======',
    `Mean PPL(Q)                   : ${pm(s.ppl_q, 6)}`,
    `Mean PPL(base)                : ${pm(s.ppl_base, 6)}`,
    `Mean ln(PPL(Q)/PPL(base))     : ${pm(s.ln_ppl_ratio, 6)}`,
    `PPL(base) without clipping    : ${pm(s.ppl_base_full, 6)}`,
    '',
    '====== KL divergence statistics ======',
    `Mean    KLD: ${pm(s.mean_kld, 6)}`,
    `Maximum KLD: ${s.max_kld.toFixed(6).padStart(10)}`,
    ...Object.entries(s.kld_percentiles).slice(0, 4).map(([k, v]) => `${k.padEnd(8)}KLD: ${v.toFixed(6).padStart(10)}`),
    `Median  KLD: ${s.median_kld.toFixed(6).padStart(10)}`,
    '',
    '====== Token probability statistics ======',
    `Mean    Δp: ${s.mean_dp_pct[0].toFixed(3).padStart(6)} ± ${s.mean_dp_pct[1].toFixed(3)} %`,
    `Maximum Δp: ${s.max_dp_pct.toFixed(3).padStart(6)}%`,
    `RMS Δp    : ${s.rms_dp_pct[0].toFixed(3).padStart(6)} ± ${s.rms_dp_pct[1].toFixed(3)} %`,
    `Same top p: ${s.same_top_p_pct[0].toFixed(3).padStart(6)} ± ${s.same_top_p_pct[1].toFixed(3)} %`,
  ];
}
