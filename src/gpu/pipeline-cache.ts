/**
 * Compute pipelines, created once per (type, variant) and labelled with both so that validation messages
 * and GPU captures name them. All pipelines share one explicit bind group layout: the ABI of
 * shaders/lib/abi.wgsl (an 'auto' layout would drop bindings a variant does not use).
 */
import { GpuError } from '../errors.js';
import type { GpuKernel } from './kernels.js';
import { BUFFER_COPY_DST, BUFFER_STORAGE, SHADER_STAGE_COMPUTE } from './webgpu-consts.js';

export type PipelineVariant =
  /** quantize_main, reference path */
  | 'ref'
  /** quantize_main with USE_IMATRIX = true */
  | 'imatrix'
  /** row_sigma2_main, the per-row statistic pass */
  | 'row-sigma2';

const ENTRY: Record<PipelineVariant, string> = { ref: 'quantize_main', imatrix: 'quantize_main', 'row-sigma2': 'row_sigma2_main' };

/** The ABI's bind group layout; `withTables` adds binding 6, the read-only type tables of kernels that declare them. */
export function createAbiLayout(device: GPUDevice, withTables = false): GPUBindGroupLayout {
  const storage = (type: GPUBufferBindingType): GPUBindGroupLayoutEntry['buffer'] => ({ type });
  return device.createBindGroupLayout({
    label: withTables ? 'webgpu-quantize ABI + type tables' : 'webgpu-quantize ABI',
    entries: [
      ...(withTables ? [{ binding: 6, visibility: SHADER_STAGE_COMPUTE, buffer: storage('read-only-storage') }] : []),
      { binding: 0, visibility: SHADER_STAGE_COMPUTE, buffer: storage('uniform') },
      { binding: 1, visibility: SHADER_STAGE_COMPUTE, buffer: storage('read-only-storage') },
      { binding: 2, visibility: SHADER_STAGE_COMPUTE, buffer: storage('read-only-storage') },
      { binding: 3, visibility: SHADER_STAGE_COMPUTE, buffer: storage('storage') },
      { binding: 4, visibility: SHADER_STAGE_COMPUTE, buffer: storage('storage') },
      { binding: 5, visibility: SHADER_STAGE_COMPUTE, buffer: storage('storage') },
    ],
  });
}

export class PipelineCache {
  private readonly modules = new Map<number, GPUShaderModule>();
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  private readonly layout: GPUPipelineLayout;
  private tablesLayouts: { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout } | null = null;
  /** each kernel's type tables (binding 6), uploaded once per device */
  private readonly tables = new Map<number, GPUBuffer>();

  constructor(private readonly device: GPUDevice, readonly bindGroupLayout: GPUBindGroupLayout) {
    this.layout = device.createPipelineLayout({ label: 'webgpu-quantize ABI', bindGroupLayouts: [bindGroupLayout] });
  }

  private withTables(): { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout } {
    if (!this.tablesLayouts) {
      const group = createAbiLayout(this.device, true);
      this.tablesLayouts = { group, pipeline: this.device.createPipelineLayout({ label: 'webgpu-quantize ABI + type tables', bindGroupLayouts: [group] }) };
    }
    return this.tablesLayouts;
  }

  /** The bind group layout of `kernel`'s pipelines (binding 6 only when it declares type tables). */
  groupLayout(kernel: GpuKernel): GPUBindGroupLayout {
    return kernel.tables ? this.withTables().group : this.bindGroupLayout;
  }

  /** The bind group entries beyond the ABI's six: `kernel`'s type tables, built and uploaded on first use. */
  extraEntries(kernel: GpuKernel): GPUBindGroupEntry[] {
    if (!kernel.tables) return [];
    let buf = this.tables.get(kernel.type);
    if (!buf) {
      const data = kernel.tables();
      buf = this.device.createBuffer({ label: `webgpu-quantize ${kernel.name} type tables`, size: Math.max(16, data.byteLength), usage: BUFFER_STORAGE | BUFFER_COPY_DST });
      this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
      this.tables.set(kernel.type, buf);
    }
    return [{ binding: 6, resource: { buffer: buf } }];
  }

  /** Frees the type-table buffers. */
  destroy(): void {
    for (const b of this.tables.values()) b.destroy();
    this.tables.clear();
  }

  get(kernel: GpuKernel, variant: PipelineVariant): Promise<GPUComputePipeline> {
    const key = `${kernel.name}:${variant}`;
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.create(kernel, variant, key);
      // a failed compile is reported to every waiter, then forgotten so that a later call retries
      p.catch(() => this.pipelines.delete(key));
      this.pipelines.set(key, p);
    }
    return p;
  }

  private module(kernel: GpuKernel): GPUShaderModule {
    let m = this.modules.get(kernel.type);
    if (!m) {
      m = this.device.createShaderModule({ label: `webgpu-quantize ${kernel.name}.wgsl`, code: kernel.code });
      this.modules.set(kernel.type, m);
    }
    return m;
  }

  private async create(kernel: GpuKernel, variant: PipelineVariant, key: string): Promise<GPUComputePipeline> {
    const module = this.module(kernel);
    try {
      return await this.device.createComputePipelineAsync({
        label: `webgpu-quantize ${key}`,
        layout: kernel.tables ? this.withTables().pipeline : this.layout,
        compute: { module, entryPoint: ENTRY[variant], constants: variant === 'imatrix' ? { USE_IMATRIX: 1 } : {} },
      });
    } catch (e) {
      let detail = (e as Error).message;
      try {
        const info = await module.getCompilationInfo();
        const errs = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
        if (errs.length) detail = `${errs.join('; ')} (${detail})`;
      } catch { /* no compilation info */ }
      throw new GpuError('validation', `pipeline ${key}: ${detail}`);
    }
  }
}
