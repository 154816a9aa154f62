/** Everything a quantization run can be asked to do: llama-quantize's options plus the backend choice. */
import type { GgmlType } from '../core/ggml-type.js';

export type KvOverride =
  | { key: string; kind: 'int'; value: number }
  | { key: string; kind: 'float'; value: number }
  | { key: string; kind: 'bool'; value: boolean }
  | { key: string; kind: 'str'; value: string };

export interface TensorTypeOverride {
  /** lower-cased, used as an ECMAScript regex searched anywhere in the tensor name */
  pattern: string;
  type: GgmlType;
}

export type BackendChoice = 'auto' | 'gpu' | 'cpu';

export interface QuantizeOptions {
  /** llama_ftype id (15 = Q4_K_M) */
  ftype: number;
  /** the name as llama-quantize prints it (`Q4_K_M`, `COPY`) */
  ftypeName: string;
  /** COPY: copy tensors, quantize nothing */
  onlyCopy: boolean;
  nthreads: number;
  allowRequantize: boolean;
  leaveOutputTensor: boolean;
  pure: boolean;
  keepSplit: boolean;
  dryRun: boolean;
  outputTensorType?: GgmlType;
  tokenEmbeddingType?: GgmlType;
  tensorTypes: TensorTypeOverride[];
  imatrixPath?: string;
  includeWeights: string[];
  excludeWeights: string[];
  overrideKv: KvOverride[];
  pruneLayers: number[];
  /** bytes of tensor rows held at once per slab */
  maxBufferSize: number;
  backend: BackendChoice;
}

/** Slab size: small enough to bound memory, large enough to keep every thread (or the GPU) busy. */
export const DEFAULT_MAX_BUFFER_SIZE = 64 * 1024 * 1024;

export function defaultOptions(): QuantizeOptions {
  return {
    ftype: 15, ftypeName: 'Q4_K_M', onlyCopy: false, nthreads: 0, allowRequantize: false,
    leaveOutputTensor: false, pure: false, keepSplit: false, dryRun: false, tensorTypes: [],
    includeWeights: [], excludeWeights: [], overrideKv: [], pruneLayers: [],
    maxBufferSize: DEFAULT_MAX_BUFFER_SIZE, backend: 'auto',
  };
}
