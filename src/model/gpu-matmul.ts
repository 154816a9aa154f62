/**
 * The forward pass's matmuls on WebGPU (shaders/model/matmul.wgsl): each weight is uploaded once, as the
 * F32 values the CPU path multiplies with (dequantized on load), and every call writes the (already
 * rounded) activations, dispatches 16x16 tiles and reads the product back. Browser-safe: the device comes
 * from the caller (Dawn in Node, navigator.gpu in a page).
 */
import matmulWgsl from '../../shaders/model/matmul.wgsl';
import fusedWgsl from '../../shaders/lib/fused-f32.wgsl';
import { GpuError } from '../errors.js';
import { tinyBlasApplies, type MatmulBackend } from './llama.js';
import type { ActRound } from './act-round.js';

const STORAGE = 0x80;
const COPY_SRC = 0x04;
const COPY_DST = 0x08;
const MAP_READ = 0x01;
const UNIFORM = 0x40;
const MAP_MODE_READ = 0x01;
const TILE = 16;

/**
 * matmul.wgsl / matmul-rows.wgsl's `mode` for a matmul of T rows, n columns and m weight rows whose weight
 * has dot-product type `dot` (the activations' rounding), as the CPU path sums it: where ggml hands it to
 * tinyBLAS, its 16 lanes (1: F32 activations, fused multiply-adds; 2: F16; 3: BF16 pairs); other F32/F16/BF16
 * matmuls 4: the products summed in float-float (the CPU's double sum, rounded once); quantized types, or no
 * `dot` given, 0: a plain F32 sum.
 */
export function matmulMode(dot: ActRound | undefined, T: number, n: number, m: number): number {
  if (dot !== 'f32' && dot !== 'f16' && dot !== 'bf16') return 0;
  if (!tinyBlasApplies(dot, T, n, m)) return 4;
  return { f32: 1, f16: 2, bf16: 3 }[dot];
}

export class GpuMatmul implements MatmulBackend {
  readonly name = 'gpu';
  private readonly pipeline: GPUComputePipeline;
  private readonly weights = new Map<Float32Array, GPUBuffer>();

  constructor(private readonly device: GPUDevice, readonly adapterName: string) {
    this.pipeline = device.createComputePipeline({
      layout: 'auto',
      compute: { module: device.createShaderModule({ code: [fusedWgsl, matmulWgsl].join('\n') }), entryPoint: 'main' },
    });
  }

  private buffer(bytes: number, usage: number): GPUBuffer {
    const limit = this.device.limits.maxStorageBufferBindingSize;
    if (bytes > limit) throw new GpuError('unavailable', `a matmul operand of ${bytes} bytes exceeds this adapter's storage binding limit of ${limit} bytes`);
    return this.device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 4) * 4), usage });
  }

  private weight(w: Float32Array): GPUBuffer {
    let b = this.weights.get(w);
    if (!b) {
      b = this.buffer(w.byteLength, STORAGE | COPY_DST);
      this.device.queue.writeBuffer(b, 0, w.buffer, w.byteOffset, w.byteLength);
      this.weights.set(w, b);
    }
    return b;
  }

  /** `dot`: the weight's dot-product type; F32/F16/BF16 sum in tinyBLAS's order where the CPU path does (matmul.wgsl's modes) */
  async matmul(x: Float32Array, w: Float32Array, T: number, n: number, m: number, out: Float32Array, dot?: ActRound): Promise<void> {
    const d = this.device;
    const wb = this.weight(w);
    const xb = this.buffer(T * n * 4, STORAGE | COPY_DST);
    d.queue.writeBuffer(xb, 0, x.buffer, x.byteOffset, T * n * 4);
    const ob = this.buffer(T * m * 4, STORAGE | COPY_SRC);
    const rb = d.createBuffer({ size: ob.size, usage: MAP_READ | COPY_DST });
    const ub = d.createBuffer({ size: 32, usage: UNIFORM | COPY_DST });
    // the whole weight: m rows into output columns 0.. of rows m wide
    d.queue.writeBuffer(ub, 0, Uint32Array.of(T, n, m, 0, m, 0, matmulMode(dot, T, n, m), 0));
    const bind = d.createBindGroup({
      layout: this.pipeline.getBindGroupLayout(0),
      entries: [xb, wb, ob, ub].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const enc = d.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(Math.ceil(m / TILE), Math.ceil(T / TILE));
    pass.end();
    enc.copyBufferToBuffer(ob, 0, rb, 0, ob.size);
    d.queue.submit([enc.finish()]);
    await rb.mapAsync(MAP_MODE_READ);
    out.set(new Float32Array(rb.getMappedRange(), 0, T * m));
    rb.unmap();
    for (const b of [xb, ob, rb, ub]) b.destroy();
  }

  destroy(): void {
    for (const b of this.weights.values()) b.destroy();
    this.weights.clear();
  }
}
