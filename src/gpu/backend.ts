/**
 * The pipeline's QuantizeBackend on a GpuQuantizer (browser-safe). A type without a WGSL kernel is refused
 * (supports() is false, so the run stops before writing with "not implemented yet on gpu ..."): a GPU run
 * never silently quantizes a whole tensor on the CPU. Only the rare blocks a kernel flags (subnormal or
 * overflowing values) take the host path inside GpuQuantizer; `hostFallbackBlocks` counts them.
 */
import { notImplemented, type QuantizeBackend, type QuantizeJob } from '../pipeline/backend.js';
import type { GgmlType } from '../core/ggml-type.js';
import type { GpuQuantizer } from './quantize-gpu.js';

export class GpuBackend implements QuantizeBackend {
  readonly kind = 'gpu' as const;
  readonly description: string;

  constructor(readonly quantizer: GpuQuantizer) {
    this.description = `gpu (${quantizer.adapterName}${quantizer.isSoftware ? ', software' : ''})`;
  }

  supports(type: GgmlType): boolean {
    return this.quantizer.supports(type);
  }

  async quantize(job: QuantizeJob): Promise<Uint8Array> {
    if (!this.quantizer.supports(job.type)) throw notImplemented(job.type, 'gpu');
    return this.quantizer.quantize(job.type, job.src, job.nrows, job.nPerRow, job.imatrix, job.label);
  }

  hostFallbackBlocks(): number {
    return this.quantizer.stats.fallbackBlocks;
  }

  close(): Promise<void> {
    return this.quantizer.destroy();
  }
}
