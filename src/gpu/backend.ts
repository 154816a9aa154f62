/**
 * The pipeline's QuantizeBackend on a GpuQuantizer (browser-safe). A type without a WGSL kernel is
 * refused (`--backend gpu`), unless `cpuForMissingKernels` is set (`--backend auto`): then its tensors run
 * on the in-thread CPU reference and one line per type says so. `blockCounts` reports where every block was
 * computed.
 */
import { UnsupportedTypeError, quoteName } from '../errors.js';
import { quantizeOnCpu, type BlockCounts, type QuantizeBackend, type QuantizeJob } from '../pipeline/backend.js';
import { typeLayout, type GgmlType } from '../core/ggml-type.js';
import { quantType } from '../quant/registry.js';
import type { GpuQuantizer } from './quantize-gpu.js';

export interface GpuBackendOptions {
  /** run types without a kernel on the CPU reference (saying so once per type) instead of refusing them */
  cpuForMissingKernels?: boolean;
  log?: (line: string) => void;
}

export class GpuBackend implements QuantizeBackend {
  readonly kind = 'gpu' as const;
  readonly description: string;
  private readonly cpuForMissingKernels: boolean;
  private readonly log: (line: string) => void;
  private readonly announced = new Set<GgmlType>();
  private noKernelBlocks = 0;

  constructor(readonly quantizer: GpuQuantizer, opts: GpuBackendOptions = {}) {
    this.description = `gpu (${quantizer.adapterName}${quantizer.isSoftware ? ', software' : ''})`;
    this.cpuForMissingKernels = opts.cpuForMissingKernels ?? false;
    this.log = opts.log ?? (() => {});
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

  blockCounts(): BlockCounts {
    const s = this.quantizer.stats;
    return { device: s.blocks - s.fallbackBlocks, fallback: s.fallbackBlocks, ordinaryFallback: s.ordinaryFallbackBlocks, noKernel: this.noKernelBlocks };
  }

  close(): Promise<void> {
    return this.quantizer.destroy();
  }
}
