/**
 * The pipeline's QuantizeBackend on a GpuQuantizer (browser-safe). Types without a WGSL kernel yet run on
 * the in-thread CPU reference, so a GPU run never fails for want of a kernel; `description` says which.
 */
import { quantizeOnCpu, type QuantizeBackend, type QuantizeJob } from '../pipeline/backend.js';
import { typeLayout, type GgmlType } from '../core/ggml-type.js';
import { quantType } from '../quant/registry.js';
import type { GpuQuantizer } from './quantize-gpu.js';

export class GpuBackend implements QuantizeBackend {
  readonly kind = 'gpu' as const;
  readonly description: string;

  constructor(readonly quantizer: GpuQuantizer) {
    this.description = `gpu (${quantizer.adapterName}${quantizer.isSoftware ? ', software' : ''})`;
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

  hostFallbackBlocks(): number {
    return this.cpuBlocks + this.quantizer.stats.fallbackBlocks;
  }

  close(): Promise<void> {
    return this.quantizer.destroy();
  }
}
