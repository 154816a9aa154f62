/**
 * The pipeline's QuantizeBackend on a GpuQuantizer (browser-safe). Types without a WGSL kernel yet run on
 * the in-thread CPU reference, so a GPU run never fails for want of a kernel; `description` says which.
 */
import { quantizeOnCpu, type QuantizeBackend, type QuantizeJob, type StoredQuantizeJob } from '../pipeline/backend.js';
import { storedToF32 } from '../pipeline/stored-rows.js';
import { stageClock } from '../pipeline/stage-clock.js';
import { typeLayout, type GgmlType } from '../core/ggml-type.js';
import { quantType } from '../quant/registry.js';
import type { GpuQuantizer } from './quantize-gpu.js';

export class GpuBackend implements QuantizeBackend {
  readonly kind = 'gpu' as const;
  readonly description: string;

  /** stored F32/F16/BF16 rows are widened and checked on the device (else on the host) */
  readonly widenOnDevice: boolean;

  constructor(readonly quantizer: GpuQuantizer, opts: { widenOnDevice?: boolean } = {}) {
    this.description = `gpu (${quantizer.adapterName}${quantizer.isSoftware ? ', software' : ''})`;
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.WEBGPU_QUANTIZE_WIDEN;
    this.widenOnDevice = opts.widenOnDevice ?? (env === 'device' ? true : env === 'host' ? false : !quantizer.isSoftware);
    // without it the pipeline widens on the host (and sizes its slabs for the f32 copy)
    if (this.widenOnDevice) this.quantizeStored = (job) => this.quantizeStoredOnDevice(job);
  }

  supports(type: GgmlType): boolean {
    return this.quantizer.supports(type) || quantType(type) !== undefined;
  }

  private cpuBlocks = 0;

  async quantize(job: QuantizeJob): Promise<Uint8Array> {
    if (!this.quantizer.supports(job.type)) {
      const out = quantizeOnCpu(job);
      this.cpuBlocks += (job.nrows * job.nPerRow) / typeLayout(job.type).blockSize;
      return out;
    }
    return this.quantizer.quantize(job.type, job.src, job.nrows, job.nPerRow, job.imatrix, job.label);
  }

  /**
   * Rows as stored: uploaded as they are, widened and checked on the device (the host widens them for
   * types without a kernel). Absent on a software adapter, where the "device" is this CPU and the host's
   * table-driven widening is the cheaper form of the same work (measured: SwiftShader's pass costs 3-4x
   * the host's); WEBGPU_QUANTIZE_WIDEN=device|host overrides (tests, benchmarks).
   */
  readonly quantizeStored?: (job: StoredQuantizeJob) => Promise<Uint8Array>;

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

  hostFallbackBlocks(): number {
    return this.cpuBlocks + this.quantizer.stats.fallbackBlocks;
  }

  close(): Promise<void> {
    return this.quantizer.destroy();
  }
}
