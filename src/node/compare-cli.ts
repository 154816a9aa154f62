/** `webgpu-quantize compare model.gguf [type] [--imatrix F] [--backend gpu|cpu]`: GPU path vs CPU reference. */
import { UsageError } from '../errors.js';
import { optionsFirst, parseArgs } from '../cli-args.js';
import { createBackend, readImatrixFile, resolveThreads } from './index.js';
import { openGgufModelFile, readTextFileSync } from './file-io.js';
import { blockCountsLine, InlineCpuBackend } from '../pipeline/backend.js';
import { CpuWorkerBackend } from './cpu-workers.js';
import { compareBackends, type TensorComparison } from '../pipeline/compare.js';
import type { RunLog } from '../pipeline/quantize-model.js';
import { typeLayout } from '../core/ggml-type.js';

const pct = (a: number, b: number) => (b ? (100 * a) / b : 100).toFixed(4);

function line(c: TensorComparison): string {
  return `${c.tensor.padEnd(36)} ${typeLayout(c.type).name.padStart(7)}  identical ${String(c.identicalBlocks).padStart(8)}/${String(c.blocks).padEnd(8)} (${pct(c.identicalBlocks, c.blocks).padStart(8)}%)` +
    `  max|diff| ${c.maxAbsDiff.toExponential(3)}  gpu ${c.msA.toFixed(1).padStart(8)} ms  cpu ${c.msB.toFixed(1).padStart(8)} ms` +
    (c.countsA ? `  device ${c.countsA.device}, host fallback ${c.countsA.fallback}${c.countsA.ordinaryFallback ? ` (${c.countsA.ordinaryFallback} ORDINARY)` : ''}` : '') +
    (c.firstDiffBlock >= 0 ? `  first differing block ${c.firstDiffBlock}` : '');
}

export async function runCompare(argv: string[], log: RunLog): Promise<number> {
  // the quantizing grammar without an output path: `compare model.gguf [type]` (--dry-run: no default output name)
  const args = parseArgs(['--dry-run', ...optionsFirst(argv)], readTextFileSync);
  if (!args.input) throw new UsageError('compare: no model given (webgpu-quantize compare model.gguf [type])');
  if (args.output !== undefined) throw new UsageError(`compare: unexpected argument '${args.output}' (expected a type name)`);
  const o = args.options;
  const imatrix = o.imatrixPath ? readImatrixFile(o.imatrixPath, o.includeWeights, o.excludeWeights) : null;
  const gpu = await createBackend(o.backend === 'auto' ? 'gpu' : o.backend, 1, log);
  const cpu = o.nthreads === 1 ? new InlineCpuBackend() : new CpuWorkerBackend(resolveThreads(o.nthreads, log));
  const model = await openGgufModelFile(args.input);
  try {
    log.info(`compare: ${args.input} as ${o.ftypeName}; A = ${gpu.description}, B = ${cpu.description}`);
    const r = await compareBackends({ model, options: o, imatrix, a: gpu, b: cpu, onTensor: (c) => log.info(line(c)) });
    log.info(`total: identical blocks ${r.identicalBlocks}/${r.blocks} (${pct(r.identicalBlocks, r.blocks)}%)  max|diff| ${r.maxAbsDiff.toExponential(3)}  gpu ${r.msA.toFixed(1)} ms  cpu ${r.msB.toFixed(1)} ms`);
    if (r.countsA) log.info(blockCountsLine(r.countsA));
    for (const p of r.problems) log.warn(`compare: FAILED: ${p}`);
    return r.problems.length === 0 ? 0 : 1;
  } finally {
    await model.close();
    await gpu.close();
    await cpu.close();
  }
}
