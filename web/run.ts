/**
 * One quantization run inside the worker: the same read -> plan -> quantize -> write pipeline as the CLI
 * (src/pipeline/quantize-model.ts), reading the dropped Files through BlobSource and writing either to a
 * user-picked file (streamed, any size) or to memory. Nothing leaves the machine.
 */
import { OutputError, QuantizeError, UsageError } from '../src/errors.js';
import { BlobSource, StreamSink, type ByteSink } from '../src/formats/byte-source.js';
import { openGgufModel, parseShardName, type GgufModel } from '../src/formats/gguf-model.js';
import { loadImatrix, type Imatrix } from '../src/formats/imatrix.js';
import { GpuBackend } from '../src/gpu/backend.js';
import { GpuQuantizer } from '../src/gpu/quantize-gpu.js';
import { InlineCpuBackend, type QuantizeBackend } from '../src/pipeline/backend.js';
import { chooseBackend } from '../src/pipeline/choose-backend.js';
import { defaultOptions, type BackendChoice, type QuantizeOptions } from '../src/pipeline/options.js';
import { quantizeModel, type RunLog } from '../src/pipeline/quantize-model.js';
import { timeLines } from '../src/pipeline/report.js';
import { parseFtype } from '../src/policy/ftype.js';
import { typeByName } from '../src/core/ggml-type.js';
import { BlobSink } from './blob-sink.js';
import { calibrate, checkQuality } from './eval-steps.js';
import type { CheckMessage, PageOptions, RunMessage, WorkerMessage } from './protocol.js';

/**
 * The file to open the model from: the only one, or the first shard (`-00001-of-N.gguf`) when several
 * were dropped; openGgufModel then asks for the other shards by name.
 */
export function pickFirstFile(files: readonly File[]): File {
  if (files.length === 0) throw new UsageError('no model file given');
  if (files.length === 1) return files[0];
  const firsts = files.filter((f) => parseShardName(f.name)?.index === 0);
  if (firsts.length === 1) return firsts[0];
  const names = files.map((f) => f.name).join(', ');
  if (firsts.length === 0) throw new UsageError(`${files.length} files given (${names}) but none is the first shard of a split model (a name ending in -00001-of-0000N.gguf); give one model at a time`);
  throw new UsageError(`several first shards given (${firsts.map((f) => f.name).join(', ')}); give one model at a time`);
}

async function openModel(files: readonly File[], log: RunLog): Promise<GgufModel> {
  const first = pickFirstFile(files);
  const byName = new Map(files.map((f) => [f.name, f]));
  const model = await openGgufModel(new BlobSource(first, first.name), async (name) => {
    const f = byName.get(name);
    if (!f) throw new UsageError(`${first.name} is a split model and shard '${name}' was not given: select or drop all its shards together`);
    return new BlobSource(f, f.name);
  });
  const used = new Set(model.files.map((f) => f.name));
  const unused = files.filter((f) => !used.has(f.name)).map((f) => f.name);
  if (unused.length) log.warn(`webgpu-quantize: ignoring ${unused.join(', ')} (not part of ${first.name})`);
  return model;
}

function typeOption(name: string | undefined, what: string) {
  if (!name) return undefined;
  const t = typeByName(name);
  if (!t) throw new UsageError(`${what}: invalid ggml_type '${name}'`);
  return t.type;
}

export function runOptions(o: PageOptions, imatrixName: string | undefined): QuantizeOptions {
  const f = parseFtype(o.ftype);
  if (!f) throw new UsageError(`invalid ftype '${o.ftype}'`);
  return {
    ...defaultOptions(),
    ftype: f.id, ftypeName: f.name, onlyCopy: f.name === 'COPY',
    pure: o.pure, leaveOutputTensor: o.leaveOutputTensor,
    outputTensorType: typeOption(o.outputTensorType, '--output-tensor-type'),
    tokenEmbeddingType: typeOption(o.tokenEmbeddingType, '--token-embedding-type'),
    // llama-quantize stores the path as typed; a page only knows the file's name
    imatrixPath: imatrixName,
    nthreads: 1, backend: o.backend,
  };
}

/** The compute backend for `choice`, decided by chooseBackend (src/pipeline/choose-backend.ts), as in the CLI. */
export function createBackend(choice: BackendChoice, log: RunLog): Promise<QuantizeBackend> {
  return chooseBackend(choice, {
    async gpu(req) {
      // the browser offers whatever adapter it has; chooseBackend turns a software one down for `auto`
      const quantizer = await GpuQuantizer.create({ log: (line) => log.warn(line) });
      return new GpuBackend(quantizer, { cpuForMissingKernels: req.cpuForMissingKernels, log: (line) => log.warn(line) });
    },
    cpu: () => new InlineCpuBackend(),
    forceGpu: 'choosing GPU',
  }, log);
}

/** StreamSink whose failures (quota, disk full, file removed) become one-line OutputErrors. */
class FileStreamSink implements ByteSink {
  private constructor(private readonly inner: StreamSink, readonly name: string) {}
  static async open(handle: FileSystemFileHandle): Promise<FileStreamSink> {
    try {
      return new FileStreamSink(new StreamSink(await handle.createWritable(), handle.name), handle.name);
    } catch (e) {
      throw new OutputError(handle.name, `cannot open for writing: ${(e as Error).message}`);
    }
  }
  get bytesWritten(): number {
    return this.inner.bytesWritten;
  }
  async write(chunk: Uint8Array): Promise<void> {
    try {
      await this.inner.write(chunk);
    } catch (e) {
      throw new OutputError(this.name, `write failed after ${this.inner.bytesWritten} bytes: ${(e as Error).message}`, this.inner.bytesWritten);
    }
  }
  async close(): Promise<void> {
    try {
      await this.inner.close();
    } catch (e) {
      throw new OutputError(this.name, `could not finish the file after ${this.inner.bytesWritten} bytes: ${(e as Error).message}`, this.inner.bytesWritten);
    }
  }
  abort(): Promise<void> {
    // a FileSystemWritableFileStream discards everything written: the file keeps its previous contents
    return this.inner.abort();
  }
}

function postError(post: (m: WorkerMessage) => void, e: unknown): void {
  const err = e as Error | undefined;
  post({
    type: 'error',
    name: err?.name ?? 'Error',
    message: String(err?.message ?? e).replace(/[\r\n]+/g, ' '),
    quantizeError: e instanceof QuantizeError,
  });
}

export async function runJob(job: RunMessage, post: (m: WorkerMessage) => void): Promise<void> {
  const t0 = Date.now();
  const log: RunLog = {
    info: (line) => post({ type: 'log', level: 'info', line }),
    warn: (line) => post({ type: 'log', level: 'warn', line }),
    progress: (done, total) => post({ type: 'progress', done, total }),
    tensor: (result) => post({ type: 'tensor', result }),
  };
  let model: GgufModel | null = null;
  let backend: QuantizeBackend | null = null;
  try {
    const options = runOptions(job.options, job.imatrix?.name);
    let imatrix: Imatrix | null = null;
    if (job.imatrix && !job.calibration) {
      imatrix = loadImatrix(new Uint8Array(await job.imatrix.arrayBuffer()), job.imatrix.name, options.includeWeights, options.excludeWeights);
    }
    model = await openModel(job.model, log);
    if (job.calibration) {
      // as the CLI's --calibrate: the imatrix is made first, then used under the name it is offered as
      if (job.imatrix) log.warn(`webgpu-quantize: ${job.imatrix.name} is not used: the imatrix is made from ${job.calibration.text.name}`);
      const made = await calibrate(model, job.calibration, job.outputName, options.backend, log, post);
      options.imatrixPath = made.name;
      imatrix = loadImatrix(made.bytes, made.name, options.includeWeights, options.excludeWeights);
    }
    log.info(`llama_quantize: quantizing '${model.name}' to '${job.outputName}' as ${options.ftypeName} using 1 threads`);
    backend = await createBackend(options.backend, log);
    log.info(`webgpu-quantize: backend: ${backend.description}`);
    let sink: ByteSink | null = null;
    const result = await quantizeModel({
      model, options, imatrix, backend, outputPath: job.outputName, log,
      openOutput: async (name) => {
        sink = job.output.kind === 'file' ? await FileStreamSink.open(job.output.handle) : new BlobSink(name);
        return sink;
      },
    });
    log.info('');
    for (const line of timeLines(result.quantizeMs, Date.now() - t0)) log.info(line);
    log.info(`webgpu-quantize: wrote ${job.outputName}`);
    const out = sink as ByteSink | null;
    const blob = out instanceof BlobSink ? out.toBlob() : null;
    post({ type: 'done', backend: backend.description, blob, bytesWritten: out?.bytesWritten ?? 0, sizeIn: result.sizeIn, sizeOut: result.sizeOut, ms: Date.now() - t0 });
  } catch (e) {
    postError(post, e);
  } finally {
    await backend?.close().catch(() => undefined);
    await model?.close().catch(() => undefined);
  }
}

/** "Check quality": the original model and the bytes the run wrote, compared on the evaluation text. */
export async function checkJob(job: CheckMessage, post: (m: WorkerMessage) => void): Promise<void> {
  const t0 = Date.now();
  const log: RunLog = {
    info: (line) => post({ type: 'log', level: 'info', line }),
    warn: (line) => post({ type: 'log', level: 'warn', line }),
  };
  let base: GgufModel | null = null;
  let quant: GgufModel | null = null;
  try {
    base = await openModel(job.model, log);
    quant = await openGgufModel(new BlobSource(job.quantized, job.quantizedName), async (name) => {
      throw new UsageError(`${job.quantizedName} names a shard '${name}': the check reads one output file`);
    });
    const r = await checkQuality(base, quant, job.eval, job.backend, log, post);
    post({ type: 'checked', stats: r.stats, matmul: r.matmul, ms: Date.now() - t0 });
  } catch (e) {
    postError(post, e);
  } finally {
    await base?.close().catch(() => undefined);
    await quant?.close().catch(() => undefined);
  }
}
