/**
 * The one host path: read -> plan -> quantize -> write, exactly as llama-quantize does it (spec §4, §5),
 * for any backend (CPU workers, in-thread CPU, GPU) and any I/O (Node files, browser Blobs).
 *
 * One pipeline for the whole file: every tensor is cut into slabs of rows (--max-buffer-size), and up to
 * SLABS_IN_FLIGHT slabs, across tensor boundaries, are between "read started" and "written" at once, so
 * reading the next slab, quantizing the current ones and writing the previous one overlap. Output is
 * written strictly in order; the slab count bounds the bytes in flight (the GPU quantizer bounds its own
 * staging with its chunk slots). A backend that takes stored rows (the GPU) gets the file's F32/F16/BF16
 * bytes as they are and widens and checks them itself; the CPU backends get f32 widened here.
 */
import { InternalError, InvalidWeightsError, QuantizeError, RequantizeError, UnsupportedTypeError, UsageError, imatrixRequiredMessage, printable, quoteName } from '../errors.js';
import type { ByteSink } from '../formats/byte-source.js';
import type { GgufKv } from '../formats/gguf-kv.js';
import { readTensorRows, toFloat32, type GgufModel } from '../formats/gguf-model.js';
import type { GgufTensorInfo } from '../formats/gguf-reader.js';
import { keepSplitOutputPrefix, planKeepSplit, planOutput, paddingAfter, ZERO_PAD, type OutputPlan } from '../formats/gguf-writer.js';
import { imatrixFor, type Imatrix } from '../formats/imatrix.js';
import { GgmlType, rowSize, typeLayout } from '../core/ggml-type.js';
import { dequantizeRows, quantType } from '../quant/registry.js';
import { firstInvalidBlock } from '../quant/validate.js';
import { modelFactsFromKv } from '../policy/model-facts.js';
import { planTensorTypes, PolicyError, type PlanEntry, type TypePlan } from '../policy/tensor-type.js';
import { entryBytes, fallbackReason, lowBitWarning, missingTypesMessage } from '../type-catalog.js';
import { blockCountsLine, blockCountsSince, type BlockCounts, type QuantizeBackend } from './backend.js';
import type { QuantizeOptions } from './options.js';
import { loaderFtype, loaderKvs, outputKvs } from './output-kvs.js';
import * as report from './report.js';
import { isStoredFloat, storedToF32, type StoredFloatType } from './stored-rows.js';
import { stageClock } from './stage-clock.js';

export interface RunLog {
  info(line: string): void;
  warn(line: string): void;
  /** bytes of input processed so far, of the total to process */
  progress?(done: number, total: number): void;
  /** the plan, once it is known to be runnable (before a backend starts or an output is opened) */
  plan?(plan: TypePlan): void;
  /** one tensor written (or, in a dry run, sized) */
  tensor?(result: TensorResult): void;
}

/** One tensor's outcome, for tables and JSON (the log lines carry the same in llama-quantize's format). */
export interface TensorResult {
  /** 1-based position in write order, of `total` */
  index: number;
  total: number;
  name: string;
  ne: number[];
  sourceType: string;
  /** the output type (equal to sourceType when copied) */
  type: string;
  quantized: boolean;
  bytesIn: number;
  bytesOut: number;
  ms: number;
  /** why the mix's type was replaced, when it was: `172 columns not a multiple of 256 (q4_K) → q5_0` */
  fallback?: string;
}

export interface RunRequest {
  model: GgufModel;
  options: QuantizeOptions;
  /** loaded and filtered (--include/--exclude-weights); null without --imatrix */
  imatrix: Imatrix | null;
  /**
   * The compute backend, or a factory for it: a factory is called only once the plan is known to be
   * runnable (bad input fails before any device is started), and its backend is closed at the end.
   */
  backend: QuantizeBackend | (() => Promise<QuantizeBackend>);
  /** the output path as given (a prefix with --keep-split); unused for dry runs */
  outputPath: string;
  openOutput(path: string): Promise<ByteSink>;
  log: RunLog;
}

export interface RunResult {
  plan: TypePlan;
  outputs: string[];
  sizeIn: number;
  sizeOut: number;
  nElements: number;
  quantizeMs: number;
  /** where a GPU backend computed this run's blocks (also printed as one line); undefined on the CPU */
  blockCounts?: BlockCounts;
}

/** stored types that widen to f32 exactly (everything else that is not quantized cannot be quantized) */
const FLOAT_TYPES: ReadonlySet<GgmlType> = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16]);

/** llama-quantize's refusal messages arrive as PolicyError; give them the project's typed errors. */
function typedPolicyError(e: PolicyError): QuantizeError {
  if (e.code === 'requantize-disabled') return new RequantizeError(e.tensor ?? '?', e.message);
  if (e.code === 'no-fallback') return new UnsupportedTypeError(e.message);
  return new UsageError(e.message);
}

export function planRun(model: GgufModel, options: QuantizeOptions, imatrix: Imatrix | null): TypePlan {
  const kv = loaderKvs(model.kvs, options.overrideKv);
  const facts = modelFactsFromKv(kv, model.tensors.map((t) => ({ name: t.name, ne: [...t.ne], type: t.type })));
  const byName = new Map(model.tensors.map((t) => [t.name, t]));
  try {
    return planTensorTypes(facts, {
      ftype: options.ftype,
      hasImatrix: !!imatrix && imatrix.entries.size > 0,
      imatrixNames: imatrix ? new Set(imatrix.entries.keys()) : undefined,
      pure: options.pure,
      leaveOutputTensor: options.leaveOutputTensor,
      outputTensorType: options.outputTensorType,
      tokenEmbeddingType: options.tokenEmbeddingType,
      tensorTypes: options.tensorTypes,
      allowRequantize: options.allowRequantize,
      onlyCopy: options.onlyCopy,
      pruneLayers: options.pruneLayers,
      dryRun: options.dryRun,
      keepSplit: options.keepSplit,
      tensorShard: (name: string) => byName.get(name)!,
    });
  } catch (e) {
    throw e instanceof PolicyError ? typedPolicyError(e) : e;
  }
}

interface OutputFile {
  path: string;
  kvs: GgufKv[];
  entries: PlanEntry[];
  layout: OutputPlan;
}

function planFiles(req: RunRequest, plan: TypePlan): OutputFile[] {
  const { model, options } = req;
  const kv = loaderKvs(model.kvs, options.overrideKv);
  const arch = String(kv.get('general.architecture') ?? '');
  const fileType = options.onlyCopy ? loaderFtype(kv, model.tensors) : options.ftype;
  const kvs = outputKvs({
    input: model.kvs, fileType, overrides: options.overrideKv, imatrix: req.imatrix,
    imatrixPath: options.imatrixPath, arch, blockCount: plan.blockCount,
  });
  const outTensors = (entries: PlanEntry[]) => entries.map((e) => ({ name: e.name, ne: e.ne, type: e.targetType }));
  if (!options.keepSplit) {
    return [{ path: req.outputPath, kvs, entries: plan.entries, layout: planOutput({ kvs, tensors: outTensors(plan.entries) }) }];
  }
  const byName = new Map(plan.entries.map((e) => [e.name, e]));
  const info = new Map(model.tensors.map((t) => [t.name, t]));
  const refs = plan.entries.map((e) => ({ name: e.name, shard: info.get(e.sourceName)!.shard, dataOffset: info.get(e.sourceName)!.dataOffset }));
  return planKeepSplit(keepSplitOutputPrefix(req.outputPath), kvs, refs).map((s) => {
    const entries = s.tensors.map((n) => byName.get(n)!);
    return { path: s.path, kvs: s.kvs, entries, layout: planOutput({ kvs: s.kvs, tensors: outTensors(entries) }) };
  });
}

export async function quantizeModel(request: RunRequest): Promise<RunResult> {
  const { model, options, log } = request;
  const plan = planRun(model, options, request.imatrix);
  const missing = missingTypesMessage(plan, options.ftypeName);
  if (missing && !options.dryRun) throw new UnsupportedTypeError(missing.message, missing.types[0]);
  for (const e of plan.entries) {
    // llama.cpp throws "cannot dequantize/convert tensor type" for these once part of the file is written
    const src = typeLayout(e.sourceType);
    if (e.quantize && !options.dryRun && !src.isQuantized && !FLOAT_TYPES.has(e.sourceType)) {
      throw new UnsupportedTypeError(`tensor ${quoteName(e.name)} is stored as ${src.name}, which is neither a float nor a quantized type: it cannot be converted to ${typeLayout(e.targetType).name} (only F32, F16, BF16 and quantized tensors can)`, src.name);
    }
    // --token-embedding-type / --output-tensor-type skip the shape fallback; llama.cpp then aborts
    // (GGML_ASSERT in gguf_set_tensor_type) after writing part of the file: refuse before writing anything
    const lay = typeLayout(e.targetType);
    if (e.quantize && !options.dryRun && e.ne[0] % lay.blockSize !== 0) {
      throw new UnsupportedTypeError(`tensor ${quoteName(e.name)}: ${e.ne[0]} values per row is not a multiple of the ${lay.name} block size ${lay.blockSize}; choose another type for it`, lay.name);
    }
  }
  const lowBit = lowBitWarning(plan, options.ftypeName, !!request.imatrix);
  if (lowBit) log.warn(lowBit);
  log.plan?.(plan);
  if (options.dryRun || typeof request.backend !== 'function') return runPlan({ ...request, backend: request.backend as QuantizeBackend }, plan);
  const backend = await request.backend();
  log.info(`webgpu-quantize: backend: ${backend.description}`);
  try {
    return await runPlan({ ...request, backend }, plan);
  } finally {
    await backend.close();
  }
}

async function runPlan(req: RunRequest & { backend: QuantizeBackend }, plan: TypePlan): Promise<RunResult> {
  const { model, options, log } = req;
  const unsupported = plan.entries.filter((e) => e.quantize && !options.dryRun && !req.backend.supports(e.targetType));
  if (unsupported.length) {
    const names = [...new Set(unsupported.map((e) => typeLayout(e.targetType).name))];
    if (req.backend.kind === 'gpu') {
      const e = unsupported[0];
      throw new UnsupportedTypeError(`tensor ${quoteName(e.name)} needs type ${names[0]}, which has no GPU kernel yet: the gpu backend runs GPU kernels only (the auto or cpu backend runs ${names[0]} on the CPU path)`, names[0]);
    }
    throw new UnsupportedTypeError(`${options.ftypeName} needs ${names.join(' and ')} (${unsupported.length} tensors), not implemented yet on ${req.backend.description}`, names[0]);
  }
  const counts0 = options.dryRun ? undefined : req.backend.blockCounts?.();
  const files = options.dryRun ? [] : planFiles(req, plan);
  const info = new Map(model.tensors.map((t) => [t.name, t]));
  const nElements = model.tensors.reduce((n, t) => n + t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3], 0);
  const total = plan.entries.length;
  const workBytes = plan.entries.reduce((n, e) => n + info.get(e.sourceName)!.nbytes, 0);
  let done = 0;
  let sizeIn = 0;
  let sizeOut = 0;
  const t0 = Date.now();
  stageClock.reset();
  // the GPU's device time per kernel (timestamp queries), reported with the host stages
  const kernels = stageClock.on ? req.backend.kernelProfile?.() ?? null : null;
  kernels?.reset();
  let index = 0;

  if (options.dryRun) {
    for (const e of plan.entries) {
      const t = info.get(e.sourceName)!;
      const after = entryBytes(e).after;
      log.info(report.tensorLinePrefix(++index, total, e.name, e.ne, e.sourceType) +
        (e.quantize ? report.dryRunSuffix(e.targetType, t.nbytes, after) : report.copiedSuffix(t.nbytes)));
      log.tensor?.(tensorResult(e, index, total, t.nbytes, after, 0));
      sizeIn += t.nbytes;
      sizeOut += after;
    }
  }

  for (const file of files) {
    const sink = await req.openOutput(file.path);
    const window = new SlabWindow(sink, SLABS_IN_FLIGHT);
    try {
      await sink.write(file.layout.meta);
      for (const [k, e] of file.entries.entries()) {
        const t = info.get(e.sourceName)!;
        const prefix = report.tensorLinePrefix(++index, total, e.name, e.ne, e.sourceType);
        const tTensor = Date.now();
        const at = index;
        const outs: Promise<Uint8Array[]>[] = [];
        for (const slab of e.quantize ? quantizeSlabs(req, t, e) : copySlabs(req, t)) outs.push((await window.push(slab)).out);
        let written = 0;
        await window.push(async () => {
          for (const out of await Promise.all(outs)) for (const o of out) written += o.length;
          if (written !== file.layout.nbytes[k]) {
            throw new InternalError(`tensor ${quoteName(e.name)} produced ${written} bytes, layout expects ${file.layout.nbytes[k]}`);
          }
          return [ZERO_PAD.subarray(0, paddingAfter(written))];
        }, () => {
          log.info(prefix + (e.quantize ? report.convertedSuffix(e.targetType, t.nbytes, written) : report.copiedSuffix(written)));
          log.tensor?.(tensorResult(e, at, total, t.nbytes, written, Date.now() - tTensor));
          sizeIn += t.nbytes;
          sizeOut += written;
          done += t.nbytes;
          log.progress?.(done, workBytes);
        });
      }
      await window.drain();
      await sink.close();
    } catch (e) {
      // a slab pushed earlier may have failed too: its error comes first, as in a serial run
      const earlier = await window.settle();
      await sink.abort();
      throw earlier ?? e;
    }
  }
  const quantizeMs = Date.now() - t0;
  if (stageClock.on) {
    const wall = stageClock.wallMs();
    for (const line of [...stageClock.report(), ...(kernels?.lines(wall) ?? [])]) log.info(line);
  }
  for (const line of report.totalsLines(sizeIn, sizeOut, nElements)) log.info(line);
  if (options.dryRun && plan.willRequireImatrix && !req.imatrix) {
    log.warn('llama_model_quantize_impl: WARNING: dry run completed successfully, but actually completing this quantization will require an imatrix!');
  }
  if (plan.nFallback > 0) {
    log.warn(`llama_model_quantize_impl: WARNING: ${plan.nFallback} of ${total} tensor(s) required fallback quantization:`);
    for (const e of plan.entries) if (e.fallback !== undefined) log.warn(`  ${printable(e.name)}: ${fallbackReason(e)}`);
  }
  if (options.dryRun) {
    // what a real run would refuse: a type without a CPU reference, or (--backend gpu) without a GPU kernel
    const missing = missingTypesMessage(plan, options.ftypeName);
    const noKernel = !missing && options.backend === 'gpu' ? missingTypesMessage(plan, options.ftypeName, 'gpu') : null;
    if (missing) log.warn(`webgpu-quantize: note: ${missing.message}: a real run would stop before writing anything`);
    if (noKernel) log.warn(`webgpu-quantize: note: ${noKernel.message}: a real run with --backend gpu would stop before writing anything (auto or cpu runs them on the CPU path)`);
  }
  const blockCounts = counts0 && blockCountsSince(req.backend.blockCounts!(), counts0);
  if (blockCounts) log.info(blockCountsLine(blockCounts));
  return { plan, outputs: files.map((f) => f.path), sizeIn, sizeOut, nElements, quantizeMs, blockCounts };
}

/** Slabs between "read started" and "written" at once, across tensors (bytes in flight <= this x --max-buffer-size). */
export const SLABS_IN_FLIGHT = 3;

/** A slab's work: read, convert, quantize; resolves to its output bytes, in order. */
type Slab = () => Promise<Uint8Array[]>;

/**
 * The ordered window of slabs in flight: push() starts a slab once fewer than `depth` are pending,
 * writing the oldest first when the window is full; outputs reach the sink in push order, and each
 * slab's `after` runs once its bytes are written. The first failure in push order is the one reported.
 */
class SlabWindow {
  private readonly pending: { out: Promise<Uint8Array[]>; after: () => void }[] = [];

  constructor(private readonly sink: ByteSink, private readonly depth: number) {}

  /** Starts `slab` (after writing the oldest while the window is full); gives back its output promise. */
  async push(slab: Slab, after: () => void = () => {}): Promise<{ out: Promise<Uint8Array[]> }> {
    while (this.pending.length >= this.depth) await this.writeOldest();
    let out: Promise<Uint8Array[]>;
    try {
      out = slab();
    } catch (e) {
      out = Promise.reject(e);
    }
    out.catch(() => {}); // observed in order by writeOldest
    this.pending.push({ out, after });
    return { out };
  }

  async drain(): Promise<void> {
    while (this.pending.length > 0) await this.writeOldest();
  }

  /**
   * After a failure: waits for the slabs still running, so that nothing touches the sink or the backend
   * later, and returns the first of their errors in push order (undefined if none failed).
   */
  async settle(): Promise<unknown> {
    const results = await Promise.allSettled(this.pending.map((p) => p.out));
    this.pending.length = 0;
    const failed = results.find((r) => r.status === 'rejected');
    return failed ? (failed as PromiseRejectedResult).reason : undefined;
  }

  private async writeOldest(): Promise<void> {
    const p = this.pending[0];
    const out = await stageClock.time('quantize-wait', p.out);
    this.pending.shift();
    const end = stageClock.start('write');
    try {
      for (const o of out) await this.sink.write(o);
    } finally {
      end();
    }
    p.after();
  }
}

function tensorResult(e: PlanEntry, index: number, total: number, bytesIn: number, bytesOut: number, ms: number): TensorResult {
  const reason = fallbackReason(e);
  return {
    index, total, name: e.name, ne: e.ne, sourceType: typeLayout(e.sourceType).name, type: typeLayout(e.targetType).name,
    quantized: e.quantize, bytesIn, bytesOut, ms, ...(reason ? { fallback: reason } : {}),
  };
}

/** rows per slab: llama.cpp's bound on source + destination + f32 bytes per row (no f32 copy on the host when the backend widens) */
function slabRows(t: GgufTensorInfo, target: GgmlType, maxBytes: number, hostF32: boolean): number {
  const n = t.ne[0];
  const perRow = rowSize(t.type, n) + rowSize(target, n) + (t.type === GgmlType.F32 || !hostF32 ? 0 : 4 * n);
  const rows = t.ne[1] * t.ne[2] * t.ne[3];
  return Math.max(1, Math.min(rows, Math.floor(maxBytes / perRow)));
}

function* copySlabs(req: RunRequest, t: GgufTensorInfo): Generator<Slab> {
  const rows = t.ne[1] * t.ne[2] * t.ne[3];
  const rowBytes = rowSize(t.type, t.ne[0]);
  const step = Math.max(1, Math.floor(req.options.maxBufferSize / rowBytes));
  const source = req.model.sources[t.shard];
  for (let r = 0; r < rows; r += step) {
    const n = Math.min(step, rows - r);
    yield async () => {
      const bytes = await stageClock.time('read', readTensorRows(source, t, r, n));
      checkStored(t, bytes, r, req.model.files[t.shard].name);
      return [bytes];
    };
  }
}

/** ggml_validate_row_data on stored data (check_tensors): values of F32/F16/BF16, fp16 scales of blocks. */
function checkStored(t: GgufTensorInfo, bytes: Uint8Array, firstRow: number, file: string): void {
  const layout = typeLayout(t.type);
  if (!layout.isQuantized && t.type !== GgmlType.F32 && t.type !== GgmlType.F16 && t.type !== GgmlType.BF16) return;
  const bad = firstInvalidBlock(t.type, bytes);
  if (bad < 0) return;
  const perRow = t.ne[0] / layout.blockSize;
  const site = { file, tensor: t.name, row: firstRow + Math.floor(bad / perRow), column: (bad % perRow) * layout.blockSize };
  const value = layout.isQuantized ? NaN : toFloat32(t.type, bytes.subarray(bad * layout.typeSize, (bad + 1) * layout.typeSize))[0];
  throw new InvalidWeightsError({ ...site, value, what: layout.isQuantized ? `the fp16 scale of a ${layout.name} block` : 'input data' });
}

/** The source rows as f32: exact widening for F32/F16/BF16, dequantization (--allow-requantize) otherwise. */
function toF32(t: GgufTensorInfo, bytes: Uint8Array, firstRow: number, file: string): Float32Array {
  const layout = typeLayout(t.type);
  if (isStoredFloat(t.type)) return storedToF32(t.name, { type: t.type, bytes, firstRow, file }, t.ne[0]);
  checkStored(t, bytes, firstRow, file);
  const q = quantType(t.type);
  if (!q) throw new RequantizeError(t.name, `cannot requantize from ${layout.name}: no dequantizer for it yet`);
  const out = new Float32Array((bytes.length / layout.typeSize) * layout.blockSize);
  dequantizeRows(q, bytes, out, out.length);
  return out;
}

function* quantizeSlabs(req: RunRequest & { backend: QuantizeBackend }, t: GgufTensorInfo, e: PlanEntry): Generator<Slab> {
  const n = t.ne[0];
  const rowsPerExpert = t.ne[1];
  const rows = t.ne[1] * t.ne[2] * t.ne[3];
  const imatrix = req.imatrix ? imatrixFor(req.imatrix, e.sourceName, n, t.ne[2], e.name) : null;
  if (!imatrix && e.requiresImatrix) {
    throw new UsageError(imatrixRequiredMessage(`tensor ${quoteName(e.name)} (${typeLayout(e.targetType).name}, a very low-bit type)`));
  }
  // types ggml_quantize_chunk cannot run without one (ggml_quantize_requires_imatrix), also for the tensors the
  // policy exempts (token_embd/output, e.g. with --pure): llama.cpp aborts there (GGML_ASSERT), we refuse
  if (!imatrix && quantType(e.targetType)?.imatrix === 'required') {
    const why = req.imatrix ? ', and the imatrix has no entry for it' : '';
    throw new UsageError(imatrixRequiredMessage(`tensor ${quoteName(e.name)} (${typeLayout(e.targetType).name}${why})`));
  }
  const backend = req.backend;
  // the GPU takes the stored bytes and widens and checks them on the device
  const stored = isStoredFloat(t.type) && backend.quantizeStored !== undefined;
  const step = slabRows(t, e.targetType, req.options.maxBufferSize, !stored);
  const source = req.model.sources[t.shard];
  const lay = typeLayout(e.targetType);
  for (let r = 0; r < rows; r += step) {
    yield async () => {
      const bytes = await stageClock.time('read', readTensorRows(source, t, r, Math.min(step, rows - r)));
      let f32: Float32Array | null = null;
      if (!stored) {
        const end = stageClock.start('host-convert');
        try {
          f32 = toF32(t, bytes, r, req.model.files[t.shard].name);
        } finally {
          end();
        }
      }
      const nrows = bytes.length / rowSize(t.type, n);
      const w = bytes.length / (nrows * n);
      // one job per expert segment: a call never crosses an expert boundary (its imatrix slice differs)
      const jobs: Promise<Uint8Array>[] = [];
      const jobRows: number[] = [];
      for (let k = 0; k < nrows;) {
        const row = r + k;
        const m = Math.min(nrows - k, rowsPerExpert - (row % rowsPerExpert));
        const expert = Math.floor(row / rowsPerExpert);
        const job = { type: e.targetType, nrows: m, nPerRow: n, imatrix: imatrix ? imatrix.subarray(expert * n, (expert + 1) * n) : null, label: e.name };
        const p = f32
          ? backend.quantize({ ...job, src: f32.subarray(k * n, (k + m) * n) })
          : backend.quantizeStored!({ ...job, src: { type: t.type as StoredFloatType, bytes: bytes.subarray(k * n * w, (k + m) * n * w), firstRow: row, file: req.model.files[t.shard].name } });
        p.catch(() => {}); // awaited in order below
        jobs.push(p);
        jobRows.push(row);
        k += m;
      }
      const outs: Uint8Array[] = [];
      // in order: the first failing segment is the one reported
      for (const [j, p] of jobs.entries()) {
        const out = await p;
        const bad = firstInvalidBlock(e.targetType, out);
        if (bad >= 0) {
          const perRow = n / lay.blockSize;
          throw new InvalidWeightsError({
            file: req.model.files[t.shard].name, tensor: e.name, row: jobRows[j] + Math.floor(bad / perRow), column: (bad % perRow) * lay.blockSize,
            value: Infinity, what: `quantized ${lay.name} data (a block scale overflows fp16)`,
          });
        }
        outs.push(out);
      }
      return outs;
    };
  }
}
