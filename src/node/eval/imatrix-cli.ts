/**
 * `webgpu-quantize imatrix -m model.gguf -f calib.txt [-o imatrix.gguf] [-c 512] [--chunks N]
 * [--process-output] [--json] [--backend cpu]`: llama-imatrix's computation and GGUF output (see
 * eval/imatrix.ts), its running perplexity as `[i]ppl,` and its final estimate.
 */
import type { RunLog } from '../../pipeline/quantize-model.js';
import { intFlag, matmulBackend, loadModel, parseFlags, readPromptFile, requireFlag, writeFileWhole } from './cli-common.js';
import { computeImatrix, imatrixGguf } from '../../eval/imatrix.js';

const CMD = 'imatrix';

export async function runImatrix(argv: string[], log: RunLog): Promise<number> {
  const flags = parseFlags(argv, {
    values: { model: ['-m', '--model'], file: ['-f', '--file'], out: ['-o', '--output', '--output-file'], ctx: ['-c', '--ctx-size'], chunks: ['--chunks'], backend: ['--backend'], gpuBudget: ['--gpu-budget'] },
    bools: { processOutput: ['--process-output'], json: ['--json'] },
  }, CMD);
  const modelPath = requireFlag(flags, 'model', CMD);
  const textFile = requireFlag(flags, 'file', CMD);
  const out = flags.values.get('out') ?? 'imatrix.gguf';
  const nCtx = intFlag(flags, 'ctx', 512, CMD);
  const chunks = intFlag(flags, 'chunks', -1, CMD);
  const text = readPromptFile(textFile);
  const { model, tokenizer } = await loadModel(modelPath);
  const tokens = tokenizer.tokenize(text, true, false);
  const backend = await matmulBackend(flags, CMD, (l) => log.warn(l));
  const t0 = Date.now();
  let line = '';
  const r = await computeImatrix(model, tokens, {
    nCtx, chunks, matmul: backend, processOutput: flags.bools.has('processOutput'), bos: tokenizer.addBos ? tokenizer.bos : null, what: textFile,
    onChunk: (i, n, ppl) => {
      line += `[${i}]${ppl.toFixed(4)},`;
      if (i % 16 === 0 || i === n) {
        log.warn(line);
        line = '';
      }
    },
  });
  const seconds = (Date.now() - t0) / 1000;
  writeFileWhole(out, imatrixGguf(r, [textFile]));
  const [ppl, unc] = r.ppl;
  if (flags.bools.has('json')) {
    log.info(JSON.stringify({ ppl: [ppl, unc], chunks: r.chunkCount, chunk_size: r.chunkSize, entries: r.entries.size, tokens: r.tokens, seconds, tokens_per_second: r.tokens / seconds, backend: backend.name, output: out }));
  } else {
    log.info(`Final estimate: PPL = ${ppl.toFixed(4)} +/- ${unc.toFixed(5)}`);
    log.info(`imatrix: ${r.entries.size} entries over ${r.chunkCount} chunks of ${r.chunkSize} tokens (${(r.tokens / seconds).toFixed(0)} tokens/s, ${backend.name}) written to ${out}`);
  }
  return 0;
}
