/**
 * What the pipeline needs from a compute backend: quantize a group of rows of one tensor (never crossing
 * an expert boundary) with ggml_quantize_chunk semantics. The CPU worker pool, the in-thread CPU path
 * and the GPU path all implement this, so the read -> plan -> quantize -> write pipeline is one.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { quantType, quantizeChunk } from '../quant/registry.js';
import { UnsupportedTypeError } from '../errors.js';
import type { StoredRows } from './stored-rows.js';
import type { KernelProfile } from '../gpu/kernel-profile.js';

export interface QuantizeJob {
  type: GgmlType;
  src: Float32Array;
  nrows: number;
  nPerRow: number;
  imatrix: Float32Array | null;
  /** tensor name, for error messages and GPU labels */
  label: string;
}

/** A job whose rows are as the file stores them (F32/F16/BF16): the backend widens and checks them. */
export interface StoredQuantizeJob extends Omit<QuantizeJob, 'src'> {
  src: StoredRows;
}

export interface QuantizeBackend {
  /** one line for the log: which device or how many threads */
  readonly description: string;
  readonly kind: 'cpu' | 'gpu';
  supports(type: GgmlType): boolean;
  quantize(job: QuantizeJob): Promise<Uint8Array>;
  /**
   * Present on backends that take rows as stored (the GPU: the upload is the stored bytes, widened and
   * checked for Inf/NaN on the device, failing with the same InvalidWeightsError as the host check).
   */
  quantizeStored?(job: StoredQuantizeJob): Promise<Uint8Array>;
  close(): Promise<void>;
  /** Running totals of where a GPU backend's blocks were computed. Undefined for CPU backends. */
  blockCounts?(): BlockCounts;
  /** The GPU's device time per kernel when kernels are profiled (WEBGPU_QUANTIZE_PROFILE=1), else null. */
  kernelProfile?(): KernelProfile | null;
}

/**
 * Where a GPU backend's blocks were computed. The rule (src/gpu/fallback.ts): only blocks whose inputs
 * reach the edges of the binary32 range (mayNeedHostPath) may go to the host fallback, so `ordinaryFallback`
 * must stay 0; `noKernel` counts the blocks of types without a GPU kernel, which only `--backend auto`
 * runs on the CPU reference.
 */
export interface BlockCounts {
  /** blocks the kernels computed on the device */
  device: number;
  /** blocks a kernel flagged and the host re-quantized exactly */
  fallback: number;
  /** of `fallback`, blocks the host rule finds ordinary: a kernel that leaves its own work to the host */
  ordinaryFallback: number;
  /** blocks of types without a GPU kernel, computed by the CPU reference */
  noKernel: number;
}

export function blockCountsSince(now: BlockCounts, before: BlockCounts): BlockCounts {
  return {
    device: now.device - before.device, fallback: now.fallback - before.fallback,
    ordinaryFallback: now.ordinaryFallback - before.ordinaryFallback, noKernel: now.noKernel - before.noKernel,
  };
}

/** The one summary line of a GPU run (quantize and compare print it). */
export function blockCountsLine(c: BlockCounts): string {
  return `webgpu-quantize: blocks computed on the device ${c.device}, via the host fallback ${c.fallback} (flagged subnormal/overflow; ordinary among them ${c.ordinaryFallback})` +
    (c.noKernel ? `, on the CPU path for want of a GPU kernel ${c.noKernel}` : '');
}

export function notImplemented(type: GgmlType, backend: string): UnsupportedTypeError {
  return new UnsupportedTypeError(`type ${typeLayout(type).name} is not implemented yet on the ${backend} backend`);
}

/** Runs the CPU reference in the calling thread (browsers, tests, and nthreads = 1). */
export class InlineCpuBackend implements QuantizeBackend {
  readonly kind = 'cpu' as const;
  readonly description = 'cpu (1 thread)';
  supports(type: GgmlType): boolean {
    return quantType(type) !== undefined;
  }
  async quantize(job: QuantizeJob): Promise<Uint8Array> {
    return quantizeOnCpu(job);
  }
  async close(): Promise<void> {}
}

export function quantizeOnCpu(job: QuantizeJob): Uint8Array {
  const q = quantType(job.type);
  if (!q) throw notImplemented(job.type, 'cpu');
  const dst = new Uint8Array((job.nPerRow / q.layout.blockSize) * q.layout.typeSize * job.nrows);
  quantizeChunk(q, job.src, dst, job.nrows, job.nPerRow, job.imatrix);
  return dst;
}
