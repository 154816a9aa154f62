/**
 * Node entry: quantize GGUF files on disk with the CPU worker pool or the GPU (Dawn through the `webgpu`
 * package). Everything format- and policy-related is in the browser-safe core; this file only adds files,
 * threads and device choice.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ImatrixError, UsageError } from '../errors.js';
import { checkImatrixFinite, loadImatrix, type Imatrix } from '../formats/imatrix.js';
import { FileSink, openGgufModelFile, readRegularFileSync } from './file-io.js';
import { InlineCpuBackend, type QuantizeBackend } from '../pipeline/backend.js';
import { CpuWorkerBackend } from './cpu-workers.js';
import { chooseBackend } from '../pipeline/choose-backend.js';
import { defaultOptions, type BackendChoice, type QuantizeOptions } from '../pipeline/options.js';
import { quantizeModel, type RunLog, type RunResult } from '../pipeline/quantize-model.js';

export * from '../index.js';
export { FileSink, FileSource, openGgufModelFile } from './file-io.js';
export { CpuWorkerBackend } from './cpu-workers.js';

/**
 * The number of CPU threads: 0 means every core (llama.cpp's rule); more threads than cores cannot run
 * any faster and each one costs a worker, so a larger count is capped at the core count, with a notice
 * through `log`. Negative or fractional counts are refused.
 */
export function resolveThreads(n: number, log?: RunLog): number {
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`invalid thread count ${n}: a whole number, 0 for all cores`);
  const cores = os.availableParallelism();
  if (n === 0) return cores;
  if (n > cores) {
    log?.warn(`webgpu-quantize: ${n} threads asked for, but this machine has ${cores} cores: using ${cores}`);
    return cores;
  }
  return n;
}

/** The compute backend for `choice`, decided by chooseBackend (src/pipeline/choose-backend.ts). */
export function createBackend(choice: BackendChoice, nthreads: number, log: RunLog): Promise<QuantizeBackend> {
  return chooseBackend(choice, {
    async gpu(req) {
      const { createGpuBackend } = await import('./gpu-backend.js');
      return createGpuBackend(log, { software: req.allowSoftware ? 'auto' : 'never', cpuForMissingKernels: req.cpuForMissingKernels });
    },
    cpu() {
      const n = resolveThreads(nthreads);
      return n > 1 ? new CpuWorkerBackend(n) : new InlineCpuBackend();
    },
    forceGpu: '--backend gpu',
  }, log);
}

export function readImatrixFile(file: string, include: string[] = [], exclude: string[] = []): Imatrix {
  const bytes = readRegularFileSync(file, (detail) => new ImatrixError(file, detail));
  const im = loadImatrix(bytes, file, include, exclude);
  checkImatrixFinite(im);
  return im;
}

function sameFile(a: string, b: string): boolean {
  if (path.resolve(a) === path.resolve(b)) return true;
  try {
    const sa = fs.statSync(a);
    const sb = fs.statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

export interface QuantizeFileRequest {
  input: string;
  /** output path (a prefix with keepSplit); may be omitted for dry runs */
  output?: string;
  options?: Partial<QuantizeOptions>;
  log?: RunLog;
  /** reuse a backend across runs (tests, benchmarks); otherwise one is created once the plan is valid, and closed */
  backend?: QuantizeBackend;
}

const silent: RunLog = { info() {}, warn() {} };

/** Quantize one model file (or split set) to another, as `llama-quantize` would. */
export async function quantizeFile(req: QuantizeFileRequest): Promise<RunResult & { backend: string }> {
  const options = { ...defaultOptions(), ...req.options };
  const log = req.log ?? silent;
  options.nthreads = resolveThreads(options.nthreads, log);
  if (!options.dryRun) {
    if (!req.output) throw new UsageError('no output path given');
    if (sameFile(req.input, req.output)) throw new UsageError(`input and output files are the same: '${req.input}'`);
  }
  const imatrix = options.imatrixPath ? readImatrixFile(options.imatrixPath, options.includeWeights, options.excludeWeights) : null;
  const model = await openGgufModelFile(req.input);
  let description = req.backend?.description ?? 'none (dry run)';
  const factory = async () => {
    const b = await createBackend(options.backend, options.nthreads, log);
    description = b.description;
    return b;
  };
  try {
    const result = await quantizeModel({
      model, options, imatrix, backend: req.backend ?? (options.dryRun ? new InlineCpuBackend() : factory),
      outputPath: req.output ?? '', log, openOutput: (p) => FileSink.create(p),
    });
    return { ...result, backend: description };
  } finally {
    await model.close();
  }
}
