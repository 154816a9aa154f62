/**
 * GpuQuantizer: ggml_quantize_chunk on WebGPU, byte-identical to the CPU reference (src/quant) and so to
 * llama.cpp. One host path for every type: a slab of rows is cut into chunks (chunk-plan.ts), each chunk
 * is uploaded as the file stores it (F32, F16 or BF16: convert.ts widens and checks it on the device),
 * quantized by the type's WGSL kernel (kernels.ts, shaders/) and read back, with up to `inFlight` chunks
 * in flight so upload, compute and readback overlap. The caller bounds memory by the size of the slabs it
 * passes (the pipeline's --max-buffer-size); there is no other streaming mechanism.
 * Browser-safe: in Node, get the device from src/node/gpu-device.ts (createNodeGpuQuantizer).
 */
import { GpuError, QuantizeError, UnsupportedTypeError, imatrixRequiredMessage } from '../errors.js';
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { PARAMS_BYTES, SlotPool, type Slot } from './buffers.js';
import { chunkLayout, foldDispatch, planChunks, roundUp4, type Chunk } from './chunk-plan.js';
import { browserGpu, requestGpuDevice, type GpuDeviceHandle } from './device.js';
import { gpuKernel, INVOCATION_WORKGROUP_SIZE as WORKGROUP_SIZE, type GpuKernel } from './kernels.js';
import { createAbiLayout, PipelineCache } from './pipeline-cache.js';
import { patchFlaggedBlocks } from './fallback.js';
import { ConvertPipelines, convertInvocations, CONVERT_WORKGROUP } from './convert.js';
import { toFloat32 } from '../formats/gguf-model.js';
import { nonFiniteError, storedValueBytes, type StoredRows } from '../pipeline/stored-rows.js';
import { rowSigma2 } from './row-stats.js';
import { stageClock } from '../pipeline/stage-clock.js';
import { KernelProfile, PassTimer } from './kernel-profile.js';
import { BUFFER_COPY_DST, BUFFER_STORAGE, MAP_MODE_READ } from './webgpu-consts.js';

const DEFAULT_CHUNK_VALUES = 4 << 20;
const DEFAULT_IN_FLIGHT = 3;

export interface GpuQuantizerOptions {
  /** navigator.gpu or Dawn's create() result; default: the browser's navigator.gpu */
  gpu?: GPU;
  /** use this device; the caller keeps ownership (destroy() leaves it alive) */
  device?: GPUDevice;
  /** name to report for a caller-provided device */
  adapterName?: string;
  /** an already acquired device (src/node/gpu-device.ts) */
  handle?: GpuDeviceHandle;
  log?: (line: string) => void;
  /** values per chunk (default 4M, never above the adapter's binding and buffer limits) */
  maxChunkValues?: number;
  /** chunks in flight (default 3) */
  inFlight?: number;
  /** lower the per-dimension workgroup limit (tests of the folded dispatch) */
  maxWorkgroupsPerDimension?: number;
  /**
   * time each compute pass with timestamp queries where the device has them (`kernelProfile`; see
   * kernel-profile.ts); default: when WEBGPU_QUANTIZE_PROFILE=1
   */
  profileKernels?: boolean;
}

export type { StoredRows } from '../pipeline/stored-rows.js';
/**
 * Receives consecutive byte ranges of the quantized tensor, in order. `bytes` is a view of mapped GPU
 * memory, valid until the returned promise settles: copy what must outlive it.
 */
export type ChunkSink = (byteOffset: number, bytes: Uint8Array) => void | Promise<void>;

export interface GpuQuantizeRequest {
  type: GgmlType;
  nrows: number;
  nPerRow: number;
  /** nPerRow weights applied to every row (ggml_quantize_chunk semantics), or null */
  imatrix: Float32Array | null;
  /** tensor name, for errors and GPU labels */
  label: string;
  /**
   * all nrows * nPerRow values: f32 values (quantized as given, ggml_quantize_chunk semantics), or rows as
   * the file stores them, widened on the device and checked there: the first Inf/NaN fails the request
   * with the CPU path's InvalidWeightsError
   */
  rows: Float32Array | StoredRows;
  sink: ChunkSink;
}

/** An error thrown by the caller's row source or sink: rethrown as is. */
class CallerError {
  constructor(readonly error: unknown) {}
}

interface JobContext {
  req: GpuQuantizeRequest;
  kernel: GpuKernel;
  main: GPUComputePipeline;
  rowPass: GPUComputePipeline | null;
  convertPass: GPUComputePipeline | null;
  /** the passes' names in the kernel profile */
  names: { main: string; rowPass: string; convert: string };
  rows: RequestRows;
  imatrixBuffer: GPUBuffer;
}

interface ChunkInput {
  /** the chunk's values as uploaded: f32, or as stored */
  bytes: Uint8Array;
  /** the row statistic computed on the host (a chunk inside one row of a legacy imatrix path) */
  sigma2: number | null;
}

/** A request's values, as f32 on the host only where needed (fallback rows, split-row statistics). */
class RequestRows {
  private readonly stored: StoredRows | null;
  private readonly f32: Float32Array | null;
  readonly valueBytes: number;
  private cachedRow = -1;
  private cached: Float32Array | null = null;

  constructor(rows: Float32Array | StoredRows, private readonly nPerRow: number) {
    this.f32 = rows instanceof Float32Array ? rows : null;
    this.stored = rows instanceof Float32Array ? null : rows;
    this.valueBytes = this.stored ? storedValueBytes(this.stored.type) : 4;
  }

  /** the type the convert pass reads, or null when the values were given as f32 (no pass) */
  get storedType(): StoredRows['type'] | null {
    return this.stored?.type ?? null;
  }

  get nValues(): number {
    return this.f32 ? this.f32.length : this.stored!.bytes.length / this.valueBytes;
  }

  chunkBytes(c: Chunk, blockValues: number): Uint8Array {
    const first = c.srcValueOffset * this.valueBytes;
    const n = c.nBlocks * blockValues * this.valueBytes;
    const all = this.f32 ? new Uint8Array(this.f32.buffer, this.f32.byteOffset, this.f32.byteLength) : this.stored!.bytes;
    const bytes = all.subarray(first, first + n);
    if (n % 4 === 0) return bytes;
    const padded = new Uint8Array(roundUp4(n)); // writeBuffer moves whole words (an odd count of F16/BF16 values)
    padded.set(bytes);
    return padded;
  }

  /** One row as f32 (the stored rows are widened on the host, for this row only). */
  row(r: number): Float32Array {
    const n = this.nPerRow;
    if (this.f32) return this.f32.subarray(r * n, (r + 1) * n);
    if (this.cachedRow !== r) {
      const w = this.valueBytes;
      this.cached = toFloat32(this.stored!.type, this.stored!.bytes.subarray(r * n * w, (r + 1) * n * w));
      this.cachedRow = r;
    }
    return this.cached!;
  }

  nonFinite(label: string, index: number): Error {
    return nonFiniteError(label, this.stored!, this.nPerRow, index);
  }
}

export interface GpuQuantizerStats {
  chunks: number;
  blocks: number;
  /** blocks a kernel flagged and the host re-quantized exactly (see fallback.ts) */
  fallbackBlocks: number;
  fallbackRows: number;
  /** bytes written to the device for the values (as stored, or f32) */
  uploadedBytes: number;
  /** of fallbackBlocks, those the host rule (fallback.ts mayNeedHostPath) finds ordinary: a kernel bug */
  ordinaryFallbackBlocks: number;
}

export class GpuQuantizer {
  readonly device: GPUDevice;
  readonly adapterName: string;
  readonly isSoftware: boolean;
  readonly maxChunkValues: number;
  private readonly owned: boolean;
  private readonly keepAlive: readonly unknown[];
  private readonly pool: SlotPool;
  private readonly pipelines: PipelineCache;
  private readonly convert: ConvertPipelines;
  private readonly bindGroupLayout: GPUBindGroupLayout;
  private readonly dummy: GPUBuffer;
  private readonly maxPerDim: number;
  private readonly active = new Set<Promise<unknown>>();
  private lostMessage: string | null = null;
  private nextOrder = 0;
  /** device time per kernel, when profiling (null otherwise: then no pass is timed) */
  readonly kernelProfile: KernelProfile | null;
  /** running totals, for logs and tests */
  readonly stats: GpuQuantizerStats = { chunks: 0, blocks: 0, fallbackBlocks: 0, fallbackRows: 0, ordinaryFallbackBlocks: 0, uploadedBytes: 0 };
  private destroyed = false;

  static async create(opts: GpuQuantizerOptions = {}): Promise<GpuQuantizer> {
    let handle = opts.handle;
    if (!handle && opts.device) {
      handle = { device: opts.device, adapterName: opts.adapterName ?? 'caller-provided device', isSoftware: false, owned: false, keepAlive: [] };
    }
    if (!handle) {
      const gpu = opts.gpu ?? browserGpu();
      if (!gpu) throw new GpuError('unavailable', 'WebGPU is not available here (no navigator.gpu); in Node use createNodeGpuQuantizer() from src/node/gpu-device.ts');
      const h = await requestGpuDevice(gpu, 'high-performance', { timestamps: opts.profileKernels ?? stageClock.on });
      if (!h) throw new GpuError('unavailable', 'no WebGPU adapter found');
      handle = h;
    }
    return new GpuQuantizer(handle, opts);
  }

  private constructor(h: GpuDeviceHandle, opts: GpuQuantizerOptions) {
    this.device = h.device;
    this.adapterName = h.adapterName;
    this.isSoftware = h.isSoftware;
    this.owned = h.owned;
    this.keepAlive = h.keepAlive;
    const lim = this.device.limits;
    const limitValues = Math.floor(Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize) / 4);
    this.maxChunkValues = Math.max(1, Math.min(opts.maxChunkValues ?? DEFAULT_CHUNK_VALUES, limitValues));
    this.maxPerDim = Math.min(opts.maxWorkgroupsPerDimension ?? Infinity, lim.maxComputeWorkgroupsPerDimension);
    this.pool = new SlotPool(this.device, Math.max(1, opts.inFlight ?? DEFAULT_IN_FLIGHT));
    this.bindGroupLayout = createAbiLayout(this.device);
    this.pipelines = new PipelineCache(this.device, this.bindGroupLayout);
    this.convert = new ConvertPipelines(this.device);
    this.dummy = this.device.createBuffer({ label: 'webgpu-quantize unused binding', size: 16, usage: BUFFER_STORAGE });
    this.kernelProfile = opts.profileKernels ?? stageClock.on ? new KernelProfile(this.device.features.has('timestamp-query'), this.adapterName) : null;
    const log = opts.log ?? ((line: string) => console.error(line));
    this.device.lost.then((info) => {
      if (this.destroyed) return;
      this.lostMessage = `${info.reason ?? 'unknown'}: ${info.message}`;
      log(`webgpu-quantize: GPU device lost (${this.lostMessage})`);
    });
    this.device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => log(`webgpu-quantize: uncaptured GPU error: ${ev.error.message}`);
  }

  supports(type: GgmlType): boolean {
    return gpuKernel(type) !== undefined;
  }

  /** ggml_quantize_chunk(type, src, dst, 0, nrows, nPerRow, imatrix) on the GPU. */
  async quantize(type: GgmlType, src: Float32Array | StoredRows, nrows: number, nPerRow: number, imatrix: Float32Array | null, label: string): Promise<Uint8Array> {
    const kernel = this.kernelFor(type, label);
    const out = new Uint8Array((nPerRow / kernel.blockValues) * kernel.blockBytes * nrows);
    await this.run({ type, nrows, nPerRow, imatrix, label, rows: src, sink: (off, bytes) => out.set(bytes, off) });
    return out;
  }

  /** Quantized bytes go to `req.sink` in order, chunk by chunk. */
  run(req: GpuQuantizeRequest): Promise<void> {
    const p = this.runJob(req);
    this.active.add(p);
    const forget = () => this.active.delete(p);
    p.then(forget, forget);
    return p;
  }

  /** Waits for the work in flight, then frees every buffer and (when it owns it) the device. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await Promise.allSettled([...this.active]);
    this.destroyed = true;
    if (this.lostMessage === null) await this.device.queue.onSubmittedWorkDone().catch(() => {});
    this.pool.destroyAll();
    this.dummy.destroy();
    this.pipelines.destroy();
    if (this.owned) this.device.destroy();
  }

  /** Blocks per chunk: the value budget, and what one (folded) dispatch can cover. */
  private maxChunkBlocks(kernel: GpuKernel): number {
    const byValues = Math.floor(this.maxChunkValues / kernel.blockValues);
    const byDispatch = this.maxPerDim * this.maxPerDim * kernel.blocksPerWorkgroup;
    return Math.max(1, Math.min(byValues, byDispatch));
  }

  private kernelFor(type: GgmlType, label: string): GpuKernel {
    const kernel = gpuKernel(type);
    if (!kernel) throw new UnsupportedTypeError(`no WebGPU kernel for ${typeLayout(type).name} (tensor '${label}')`, typeLayout(type).name);
    return kernel;
  }

  private checkUsable(label: string): void {
    if (this.destroyed) throw new GpuError('internal', 'the GPU quantizer was destroyed', label);
    if (this.lostMessage !== null) throw new GpuError('device-lost', this.lostMessage, label);
  }

  private checkRequest(req: GpuQuantizeRequest, kernel: GpuKernel): void {
    const where = `tensor '${req.label}'`;
    if (!Number.isInteger(req.nrows) || req.nrows < 0) throw new RangeError(`${where}: ${req.nrows} rows`);
    if (!Number.isInteger(req.nPerRow) || req.nPerRow <= 0 || req.nPerRow % kernel.blockValues !== 0) {
      throw new RangeError(`${where}: row of ${req.nPerRow} values is not a multiple of the ${kernel.name} block (${kernel.blockValues})`);
    }
    const given = req.rows instanceof Float32Array ? req.rows.length : req.rows.bytes.length / storedValueBytes(req.rows.type);
    if (given !== req.nrows * req.nPerRow) {
      throw new RangeError(`${where}: ${given} values given for ${req.nrows} x ${req.nPerRow}`);
    }
    if (req.imatrix && req.imatrix.length !== req.nPerRow) {
      throw new RangeError(`${where}: imatrix has ${req.imatrix.length} values, rows have ${req.nPerRow}`);
    }
    if (!req.imatrix && kernel.imatrix === 'required') {
      throw new QuantizeError(imatrixRequiredMessage(`${where}: ${kernel.name}`));
    }
  }

  private async runJob(req: GpuQuantizeRequest): Promise<void> {
    this.checkUsable(req.label);
    const kernel = this.kernelFor(req.type, req.label);
    this.checkRequest(req, kernel);
    if (req.nrows === 0) return;
    const useImatrix = req.imatrix !== null && kernel.imatrix !== 'ignored';
    const needSigma2 = useImatrix && kernel.rowSigma2;
    const rows = new RequestRows(req.rows, req.nPerRow);
    const order = this.nextOrder++; // older requests get freed slots first (SlotPool)
    const storedType = rows.storedType;
    const [main, rowPass, convertPass] = await Promise.all([
      this.pipelines.get(kernel, useImatrix ? 'imatrix' : 'ref'),
      needSigma2 ? this.pipelines.get(kernel, 'row-sigma2') : Promise.resolve(null),
      storedType !== null ? this.convert.get(storedType) : Promise.resolve(null),
    ]);
    const imatrixBuffer = useImatrix ? this.uploadImatrix(req.imatrix!, req.label) : this.dummy;
    const names = {
      main: `${kernel.name} quantize${useImatrix ? ' +imatrix' : ''}`,
      rowPass: `${kernel.name} row-sigma2`,
      convert: `${kernel.name} convert ${storedType !== null ? typeLayout(storedType).name : ''}`,
    };
    const job: JobContext = { req, kernel, main, rowPass, convertPass, names, rows, imatrixBuffer };
    const chunks = planChunks({
      nrows: req.nrows, nPerRow: req.nPerRow, blockValues: kernel.blockValues, blockBytes: kernel.blockBytes,
      maxChunkBlocks: this.maxChunkBlocks(kernel),
    });
    let failure: unknown = null;
    let chain: Promise<void> = Promise.resolve();
    try {
      for (const c of chunks) {
        if (failure !== null) break;
        // a chunk inside one row: the host computes that row's statistic
        const input: ChunkInput = {
          bytes: rows.chunkBytes(c, kernel.blockValues),
          sigma2: needSigma2 && !c.wholeRows ? rowSigma2(rows.row(c.row0)) : null,
        };
        const slot = await stageClock.time('gpu-slot-wait', this.pool.acquire(order));
        if (failure !== null || this.lostMessage !== null) {
          this.pool.release(slot);
          break;
        }
        let mapped: Promise<void>;
        const endSubmit = stageClock.start('gpu-submit');
        try {
          mapped = this.submitChunk(slot, job, c, input);
          endSubmit();
        } catch (e) {
          endSubmit();
          slot.broken = true;
          this.pool.release(slot);
          failure = e;
          break;
        }
        const prev = chain;
        chain = (async () => {
          try {
            await stageClock.time('gpu-device', mapped);
            await prev;
            if (failure !== null) return;
            await stageClock.time('gpu-deliver', () => this.deliver(slot, job, c, input));
          } catch (e) {
            slot.broken = !(e instanceof CallerError);
            failure ??= e;
          } finally {
            if (slot.read.mapState === 'mapped') slot.read.unmap();
            this.pool.release(slot);
          }
        })();
      }
    } finally {
      await chain;
      if (imatrixBuffer !== this.dummy) imatrixBuffer.destroy(); // every chunk that used it has been read back
    }
    if (failure !== null) throw this.asError(failure, req.label);
    if (this.lostMessage !== null) throw new GpuError('device-lost', this.lostMessage, req.label);
  }

  /** Patches the blocks the kernel flagged, then hands the chunk's bytes to the sink. */
  private async deliver(slot: Slot, job: JobContext, c: Chunk, input: ChunkInput): Promise<void> {
    const { kernel, req } = job;
    const lay = chunkLayout(c, this.device.limits.minStorageBufferOffsetAlignment);
    const mapped = slot.read.getMappedRange(0, lay.total);
    const view = new Uint8Array(mapped, 0, c.dstBytes);
    const firstBad = new Uint32Array(mapped, lay.statusOffset, 1)[0];
    if (firstBad !== 0) {
      // the device stored nValues - index of the chunk's first Inf/NaN
      throw new CallerError(job.rows.nonFinite(req.label, c.srcValueOffset + c.nBlocks * kernel.blockValues - firstBad));
    }
    const mask = new Uint32Array(mapped, lay.maskOffset, lay.maskBytes / 4);
    if (mask.some((w) => w !== 0)) {
      const r = patchFlaggedBlocks(mask, view, {
        kernel, chunk: c, nPerRow: req.nPerRow, imatrix: req.imatrix, label: req.label,
        row: (row) => job.rows.row(row),
      });
      this.stats.fallbackBlocks += r.blocks;
      this.stats.fallbackRows += r.rows;
      this.stats.ordinaryFallbackBlocks += r.ordinary;
    }
    this.stats.chunks++;
    this.stats.blocks += c.nBlocks;
    try {
      await req.sink(c.dstByteOffset, view);
    } catch (e) {
      throw new CallerError(e);
    }
  }

  private uploadImatrix(imatrix: Float32Array, label: string): GPUBuffer {
    const buf = this.device.createBuffer({ label: `webgpu-quantize imatrix of ${label}`, size: roundUp4(imatrix.byteLength), usage: BUFFER_STORAGE | BUFFER_COPY_DST });
    this.device.queue.writeBuffer(buf, 0, imatrix.buffer, imatrix.byteOffset, imatrix.byteLength);
    return buf;
  }

  /** Encodes and submits one chunk; the promise resolves once its output is mapped in slot.read. */
  private submitChunk(slot: Slot, job: JobContext, c: Chunk, input: ChunkInput): Promise<void> {
    const { kernel, req } = job;
    const d = this.device;
    const q = d.queue;
    const data = input.bytes;
    const nValues = c.nBlocks * kernel.blockValues;
    const widen = job.convertPass !== null && job.rows.storedType !== GgmlType.F32;
    const lay = chunkLayout(c, d.limits.minStorageBufferOffsetAlignment);
    const rowStatsBytes = job.rowPass ? c.nRows * 4 : 4;
    const rowGroups = foldDispatch(c.nRows, WORKGROUP_SIZE, this.maxPerDim);
    const blockGroups = foldDispatch(c.nBlocks, kernel.blocksPerWorkgroup, this.maxPerDim);
    // profiling: each pass writes its begin/end timestamps into the slot's query set
    const timer = this.kernelProfile?.timestamps ? (slot.timer ??= new PassTimer(d, String(slot.index))) : null;
    timer?.begin();
    // no await between push and pop: the scopes catch exactly this chunk's calls, and are popped even
    // when encoding throws, so that they stay balanced for the next chunk
    d.pushErrorScope('out-of-memory');
    d.pushErrorScope('validation');
    let validation: Promise<GPUError | null>;
    let oom: Promise<GPUError | null>;
    try {
      slot.ensure(nValues * 4, widen ? data.byteLength : 0, lay.total, rowStatsBytes);
      const upload = widen ? slot.stored : slot.src;
      q.writeBuffer(upload, 0, data.buffer, data.byteOffset, data.byteLength);
      this.stats.uploadedBytes += data.byteLength;
      // Params of shaders/lib/abi.wgsl; `zero` (index 5) must stay 0
      const params = new Uint32Array(PARAMS_BYTES / 4);
      params.set([c.nBlocks, req.nPerRow / kernel.blockValues, req.nPerRow, c.colBlock0, c.nRows, 0]);
      q.writeBuffer(slot.uniform, 0, params);
      if (input.sigma2 !== null) q.writeBuffer(slot.rowStats, 0, new Float32Array([input.sigma2]));
      const bindGroup = d.createBindGroup({
        label: `webgpu-quantize ${req.label}`,
        layout: this.pipelines.groupLayout(kernel),
        entries: [
          ...this.pipelines.extraEntries(kernel),
          { binding: 0, resource: { buffer: slot.uniform } },
          { binding: 1, resource: { buffer: slot.src, size: nValues * 4 } },
          { binding: 2, resource: { buffer: job.imatrixBuffer } },
          { binding: 3, resource: { buffer: slot.rowStats, size: rowStatsBytes } },
          { binding: 4, resource: { buffer: slot.dst, offset: 0, size: lay.outBytes } },
          { binding: 5, resource: { buffer: slot.dst, offset: lay.maskOffset, size: lay.maskBytes } },
        ],
      });
      const enc = d.createCommandEncoder({ label: `webgpu-quantize ${kernel.name} ${req.label}` });
      enc.clearBuffer(slot.dst, lay.maskOffset, lay.total - lay.maskOffset);
      if (job.convertPass) {
        // the stored values: widened into src (F16/BF16) and checked for Inf/NaN (all stored types)
        q.writeBuffer(slot.convertUniform, 0, new Uint32Array([nValues, 0, 0, 0]));
        const cpass = enc.beginComputePass({
          label: `webgpu-quantize convert ${req.label} rows ${c.row0}+${c.nRows}`,
          ...(timer && { timestampWrites: timer.pass(job.names.convert) }),
        });
        cpass.setPipeline(job.convertPass);
        cpass.setBindGroup(0, d.createBindGroup({
          label: `webgpu-quantize convert ${req.label}`,
          layout: this.convert.layout,
          entries: [
            { binding: 0, resource: { buffer: slot.convertUniform } },
            { binding: 1, resource: { buffer: upload, size: data.byteLength } },
            { binding: 2, resource: widen ? { buffer: slot.src, size: nValues * 4 } : { buffer: this.dummy } },
            { binding: 3, resource: { buffer: slot.dst, offset: lay.statusOffset, size: 4 } },
          ],
        }));
        cpass.dispatchWorkgroups(...foldDispatch(convertInvocations(nValues, job.rows.valueBytes), CONVERT_WORKGROUP, this.maxPerDim));
        cpass.end();
      }
      const passLabel = `webgpu-quantize ${kernel.name} ${req.label} rows ${c.row0}+${c.nRows}`;
      const rowFirst = job.rowPass !== null && input.sigma2 === null;
      // profiling: the row statistic gets a pass of its own, so that each kernel's time is its own
      const rowApart = rowFirst && timer !== null;
      if (rowApart) {
        const rpass = enc.beginComputePass({ label: `${passLabel} row-sigma2`, timestampWrites: timer.pass(job.names.rowPass) });
        rpass.setBindGroup(0, bindGroup);
        rpass.setPipeline(job.rowPass!);
        rpass.dispatchWorkgroups(...rowGroups);
        rpass.end();
      }
      const pass = enc.beginComputePass({ label: passLabel, ...(timer && { timestampWrites: timer.pass(job.names.main) }) });
      pass.setBindGroup(0, bindGroup);
      if (rowFirst && !rowApart) {
        pass.setPipeline(job.rowPass!);
        pass.dispatchWorkgroups(...rowGroups);
      }
      pass.setPipeline(job.main);
      pass.dispatchWorkgroups(...blockGroups);
      pass.end();
      enc.copyBufferToBuffer(slot.dst, 0, slot.read, 0, lay.total);
      timer?.resolve(enc);
      q.submit([enc.finish()]);
    } finally {
      validation = d.popErrorScope();
      oom = d.popErrorScope();
    }
    const map = slot.read.mapAsync(MAP_MODE_READ, 0, lay.total);
    map.catch(() => {}); // observed below, or superseded by a scope error
    // profiling: the pass times are mapped alongside the output (not after it)
    const times = timer?.collect(this.kernelProfile!, c.nBlocks);
    times?.catch(() => {});
    return (async () => {
      const [v, o] = await Promise.all([validation, oom]);
      const where = `${c.nBlocks} ${kernel.name} blocks from row ${c.row0}`;
      if (o) throw new GpuError('out-of-memory', `${o.message} (${where}, ${data.byteLength} bytes in)`, req.label);
      if (v) throw new GpuError('validation', `${v.message} (${where})`, req.label);
      await map;
      await times;
    })();
  }

  private asError(e: unknown, label: string): unknown {
    if (e instanceof CallerError) return e.error;
    if (this.lostMessage !== null) return new GpuError('device-lost', this.lostMessage, label);
    if (e instanceof GpuError) return e;
    return new GpuError('internal', (e as Error)?.message ?? String(e), label);
  }
}
