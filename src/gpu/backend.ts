/**
 * The pipeline's QuantizeBackend on a GpuQuantizer (browser-safe). A type without a WGSL kernel is
 * refused (`--backend gpu`), unless `cpuForMissingKernels` is set (`--backend auto`): then its tensors run
 * on the in-thread CPU reference and one line per type says so. `blockCounts` reports where every block was
 * computed. On a hardware adapter, F32/F16/BF16 rows reach the device as the file stores them
 * (`quantizeStored`): widened and checked for Inf/NaN there (shaders/lib/convert.wgsl).
 */
import { UnsupportedTypeError, quoteName } from '../errors.js';
import { quantizeOnCpu, type BlockCounts, type QuantizeBackend, type QuantizeJob, type StoredQuantizeJob } from '../pipeline/backend.js';
import { storedToF32 } from '../pipeline/stored-rows.js';
import { stageClock } from '../pipeline/stage-clock.js';
import { typeLayout, type GgmlType } from '../core/ggml-type.js';
import { quantType } from '../quant/registry.js';
import type { GpuQuantizer } from './quantize-gpu.js';
import type { KernelProfile } from './kernel-profile.js';

export interface GpuBackendOptions {
  /** run types without a kernel on the CPU reference (saying so once per type) instead of refusing them */
  cpuForMissingKernels?: boolean;
  log?: (line: string) => void;
  /**
   * widen and check stored F32/F16/BF16 rows on the device (default: on a hardware adapter; the
   * environment's WEBGPU_QUANTIZE_WIDEN=device|host overrides, for tests and benchmarks)
   */
  widenOnDevice?: boolean;
}

export class GpuBackend implements QuantizeBackend {
  readonly kind = 'gpu' as const;
  readonly description: string;
  private readonly cpuForMissingKernels: boolean;
  private readonly log: (line: string) => void;
  private readonly announced = new Set<GgmlType>();
  private noKernelBlocks = 0;
  /** stored F32/F16/BF16 rows are widened and checked on the device (else on the host) */
  readonly widenOnDevice: boolean;
  /**
   * Rows as stored: uploaded as they are, widened and checked on the device (the host widens them for
   * types without a kernel). Absent on a software adapter, where the "device" is this CPU and the host's
   * table-driven widening is the cheaper form of the same work (measured: SwiftShader's pass costs 3-4x
   * the host's); the pipeline then widens on the host and sizes its slabs for the f32 copy.
   */
  readonly quantizeStored?: (job: StoredQuantizeJob) => Promise<Uint8Array>;

  constructor(readonly quantizer: GpuQuantizer, opts: GpuBackendOptions = {}) {
    this.description = `gpu (${quantizer.adapterName}${quantizer.isSoftware ? ', software' : ''})`;
    this.cpuForMissingKernels = opts.cpuForMissingKernels ?? false;
    this.log = opts.log ?? (() => {});
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.WEBGPU_QUANTIZE_WIDEN;
    this.widenOnDevice = opts.widenOnDevice ?? (env === 'device' ? true : env === 'host' ? false : !quantizer.isSoftware);
    if (this.widenOnDevice) this.quantizeStored = (job) => this.quantizeStoredOnDevice(job);
  }

  supports(type: GgmlType): boolean {
    return this.quantizer.supports(type) || (this.cpuForMissingKernels && quantType(type) !== undefined);
  }

  async quantize(job: QuantizeJob): Promise<Uint8Array> {
    if (!this.quantizer.supports(job.type)) {
      const name = typeLayout(job.type).name;
      if (!this.cpuForMissingKernels) throw new UnsupportedTypeError(`tensor ${quoteName(job.label)} needs type ${name}, which has no GPU kernel yet (the gpu backend runs GPU kernels only)`, name);
      if (!this.announced.has(job.type)) {
        this.announced.add(job.type);
        this.log(`webgpu-quantize: no GPU kernel for ${name} yet: its tensors run on the CPU path`);
      }
      const out = quantizeOnCpu(job);
      this.noKernelBlocks += (job.nrows * job.nPerRow) / typeLayout(job.type).blockSize;
      return out;
    }
    return this.quantizer.quantize(job.type, job.src, job.nrows, job.nPerRow, job.imatrix, job.label);
  }

  private async quantizeStoredOnDevice(job: StoredQuantizeJob): Promise<Uint8Array> {
    if (!this.quantizer.supports(job.type)) {
      const end = stageClock.start('host-convert');
      let src: Float32Array;
      try {
        src = storedToF32(job.label, job.src, job.nPerRow);
      } finally {
        end();
      }
      return this.quantize({ ...job, src });
    }
    return this.quantizer.quantize(job.type, job.src, job.nrows, job.nPerRow, job.imatrix, job.label);
  }

  blockCounts(): BlockCounts {
    const s = this.quantizer.stats;
    return { device: s.blocks - s.fallbackBlocks, fallback: s.fallbackBlocks, ordinaryFallback: s.ordinaryFallbackBlocks, noKernel: this.noKernelBlocks };
  }

  kernelProfile(): KernelProfile | null {
    return this.quantizer.kernelProfile;
  }

  close(): Promise<void> {
    return this.quantizer.destroy();
  }
}
