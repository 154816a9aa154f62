/**
 * Weights for the forward pass on WebGPU: a tensor's stored bytes uploaded as they are and dequantized on
 * the device into an F32 buffer, by the WGSL dequantizer its descriptor declares (`QuantTraits.gpuDequant`,
 * shaders/dequant/<type>.wgsl, assembled here with shaders/lib/dequant-abi.wgsl). Every implemented type has
 * one; F32 tensors are uploaded as they are; any other stored type (NVFP4, Q8_K, ...) is refused, as
 * LlamaModel.load refuses it before. A type whose quantize kernel declares type tables (`gpu.tables`: the
 * i-quant grids) gets shaders/lib/dequant-iq.wgsl and those same tables at binding 3, uploaded once per
 * device. Nothing here lists types: the table derives from the descriptors in the registry.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { GpuError } from '../errors.js';
import { implementedTypes, quantType, type QuantTraits } from '../quant/registry.js';
import { BASE_LIBS, wgslU32Const } from './kernels.js';
import dequantAbiWgsl from '../../shaders/lib/dequant-abi.wgsl';
import dequantIqWgsl from '../../shaders/lib/dequant-iq.wgsl';
import { BUFFER_COPY_DST, BUFFER_COPY_SRC, BUFFER_STORAGE, BUFFER_UNIFORM } from './webgpu-consts.js';

/** Where a tensor's values were made: uploaded as F32, or dequantized by a WGSL kernel. */
export type DequantPath = 'f32' | 'gpu';

/** The WGSL module of a type's dequantizer, its constants checked against ggml's layout. */
export function dequantModule(t: QuantTraits): string {
  const src = t.gpuDequant;
  const values = wgslU32Const(src, 'BLOCK_VALUES');
  const bytes = wgslU32Const(src, 'BLOCK_BYTES');
  if (values !== t.layout.blockSize || bytes !== t.layout.typeSize) {
    throw new Error(`dequant/${t.layout.name.toLowerCase()}.wgsl declares ${values} values/${bytes} bytes per block, ggml has ${t.layout.blockSize}/${t.layout.typeSize}`);
  }
  return [dequantAbiWgsl, ...(t.gpu?.tables ? [dequantIqWgsl] : []), BASE_LIBS.exactF32, BASE_LIBS.half, src].join('\n');
}

const DEQUANT_TYPES = new Set(implementedTypes().map((t) => t.layout.type));

/** The types whose values the device makes from their stored bytes (F32 needs no dequantizer). */
export function gpuDequantTypes(): GgmlType[] {
  return [...DEQUANT_TYPES];
}

/** Where the forward pass makes the values of a tensor of `type` (`what`, for the error: a type it cannot dequantize). */
export function dequantPath(type: GgmlType, what: string): DequantPath {
  if (type === GgmlType.F32) return 'f32';
  if (!DEQUANT_TYPES.has(type)) throw new GpuError('unavailable', `${what}: type ${typeLayout(type).name} cannot be dequantized by this tool`);
  return 'gpu';
}

const WORKGROUP = 64;

export class GpuDequantizer {
  private readonly pipelines = new Map<GgmlType, GPUComputePipeline>();
  /** the grid tables (binding 3) by the array `gpu.tables()` returns (IQ1_S and IQ1_M share one) */
  private readonly tables = new Map<Uint32Array, GPUBuffer>();

  constructor(private readonly device: GPUDevice) {}

  private pipeline(type: GgmlType): GPUComputePipeline {
    let p = this.pipelines.get(type);
    if (!p) {
      const code = dequantModule(quantType(type)!);
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module: this.device.createShaderModule({ code }), entryPoint: 'dequant_main' } });
      this.pipelines.set(type, p);
    }
    return p;
  }

  /** binding 3 of a type whose descriptor declares type tables, uploaded on first use */
  private tablesOf(t: QuantTraits): GPUBuffer[] {
    const make = t.gpu?.tables;
    if (!make) return [];
    const data = make();
    let b = this.tables.get(data);
    if (!b) {
      b = this.device.createBuffer({ size: Math.max(16, data.byteLength), usage: BUFFER_STORAGE | BUFFER_COPY_DST });
      this.device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
      this.tables.set(data, b);
    }
    return [b];
  }

  /** Frees the grid tables (the pipelines need nothing). */
  destroy(): void {
    for (const b of this.tables.values()) b.destroy();
    this.tables.clear();
  }

  private checkSize(bytes: number, what: string): void {
    const limit = Math.min(this.device.limits.maxStorageBufferBindingSize, this.device.limits.maxBufferSize);
    if (bytes > limit) throw new GpuError('unavailable', `${what}: ${bytes} bytes exceed this adapter's storage binding limit of ${limit} bytes`);
  }

  /**
   * An F32 storage buffer (COPY_SRC too) with the `n` values of `stored` (a tensor of `type`). Work for the
   * device is encoded into `pass` (a dispatch) and the buffers it needs only until then go to `temps`, for
   * the caller to destroy once the pass is submitted.
   */
  values(type: GgmlType, stored: Uint8Array, n: number, pass: GPUComputePassEncoder, temps: GPUBuffer[], what: string): { buffer: GPUBuffer; path: DequantPath } {
    const d = this.device;
    const path = dequantPath(type, what);
    this.checkSize(n * 4, what);
    const out = d.createBuffer({ size: Math.max(16, Math.ceil(n / 4) * 16), usage: BUFFER_STORAGE | BUFFER_COPY_SRC | BUFFER_COPY_DST });
    if (path === 'f32') {
      const b = stored.byteOffset % 4 ? stored.slice() : stored;
      d.queue.writeBuffer(out, 0, b.buffer, b.byteOffset, n * 4);
      return { buffer: out, path };
    }
    this.checkSize(stored.byteLength, what);
    const layout = typeLayout(type);
    const nBlocks = n / layout.blockSize;
    const words = Math.ceil(stored.byteLength / 4);
    const inBuf = d.createBuffer({ size: Math.max(16, words * 4), usage: BUFFER_STORAGE | BUFFER_COPY_DST });
    if (stored.byteLength % 4 === 0 && stored.byteOffset % 4 === 0) d.queue.writeBuffer(inBuf, 0, stored.buffer, stored.byteOffset, stored.byteLength);
    else {
      const padded = new Uint8Array(words * 4);
      padded.set(stored);
      d.queue.writeBuffer(inBuf, 0, padded);
    }
    const params = d.createBuffer({ size: 16, usage: BUFFER_UNIFORM | BUFFER_COPY_DST });
    d.queue.writeBuffer(params, 0, Uint32Array.of(nBlocks, 0, 0, 0));
    const pipeline = this.pipeline(type);
    const bind = d.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [params, inBuf, out, ...this.tablesOf(quantType(type)!)].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const groups = Math.ceil(nBlocks / WORKGROUP);
    const maxX = d.limits.maxComputeWorkgroupsPerDimension;
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(Math.min(groups, maxX), Math.ceil(groups / maxX));
    temps.push(inBuf, params);
    return { buffer: out, path };
  }
}
