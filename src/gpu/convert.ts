/**
 * The stored-values pass (shaders/lib/convert.wgsl): the GPU receives a chunk's values as the file stores
 * them (F32, F16 or BF16), widens F16/BF16 to the f32 bits the kernels read (exact), and finds the first
 * Inf/NaN. One pipeline per stored type, its own bind group layout: the kernels' ABI is untouched.
 */
import { GpuError } from '../errors.js';
import { GgmlType } from '../core/ggml-type.js';
import type { StoredFloatType } from '../pipeline/stored-rows.js';
import halfWgsl from '../../shaders/lib/half.wgsl';
import convertWgsl from '../../shaders/lib/convert.wgsl';
import { SHADER_STAGE_COMPUTE } from './webgpu-consts.js';

export const CONVERT_WORKGROUP = 64; // shaders/lib/convert.wgsl
const CONVERT_WORDS_PER_INVOCATION = 16; // likewise

/** Invocations of the convert pass for `nValues` values stored as `valueBytes`-byte values. */
export function convertInvocations(nValues: number, valueBytes: number): number {
  const words = Math.ceil((nValues * valueBytes) / 4);
  return Math.ceil(words / CONVERT_WORDS_PER_INVOCATION);
}
export const CONVERT_PARAMS_BYTES = 16;
export const CONVERT_CODE = [halfWgsl, convertWgsl].join('\n');

const STORED_TYPE_CODE: Record<StoredFloatType, number> = { [GgmlType.F32]: 0, [GgmlType.F16]: 1, [GgmlType.BF16]: 2 };

export class ConvertPipelines {
  readonly layout: GPUBindGroupLayout;
  private readonly pipelineLayout: GPUPipelineLayout;
  private module: GPUShaderModule | null = null;
  private readonly pipelines = new Map<StoredFloatType, Promise<GPUComputePipeline>>();

  constructor(private readonly device: GPUDevice) {
    const buf = (type: GPUBufferBindingType): GPUBindGroupLayoutEntry['buffer'] => ({ type });
    this.layout = device.createBindGroupLayout({
      label: 'webgpu-quantize convert',
      entries: [
        { binding: 0, visibility: SHADER_STAGE_COMPUTE, buffer: buf('uniform') },
        { binding: 1, visibility: SHADER_STAGE_COMPUTE, buffer: buf('read-only-storage') },
        { binding: 2, visibility: SHADER_STAGE_COMPUTE, buffer: buf('storage') },
        { binding: 3, visibility: SHADER_STAGE_COMPUTE, buffer: buf('storage') },
      ],
    });
    this.pipelineLayout = device.createPipelineLayout({ label: 'webgpu-quantize convert', bindGroupLayouts: [this.layout] });
  }

  get(type: StoredFloatType): Promise<GPUComputePipeline> {
    let p = this.pipelines.get(type);
    if (!p) {
      this.module ??= this.device.createShaderModule({ label: 'webgpu-quantize convert.wgsl', code: CONVERT_CODE });
      const module = this.module;
      p = this.device.createComputePipelineAsync({
        label: `webgpu-quantize convert ${STORED_TYPE_CODE[type]}`,
        layout: this.pipelineLayout,
        compute: { module, entryPoint: 'convert_main', constants: { STORED_TYPE: STORED_TYPE_CODE[type] } },
      }).catch((e: unknown) => {
        this.pipelines.delete(type);
        throw new GpuError('validation', `convert pipeline: ${(e as Error).message}`);
      });
      this.pipelines.set(type, p);
    }
    return p;
  }
}
