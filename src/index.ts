/**
 * Browser-safe public API (no node:* imports, no 'webgpu' import): GGUF reading and writing over
 * Blob/memory sources, the type registry and CPU reference quantizers, the llama-quantize policy, and the
 * quantization pipeline that any backend plugs into.
 */
export * from './errors.js';
export { GgmlType, QK_K, TYPE_LAYOUTS, typeLayout, typeByName, rowSize } from './core/ggml-type.js';
export {
  quantType, implementedTypes, quantizeChunk, dequantizeRows, type QuantTraits, type ImatrixUse, type WgslLib,
} from './quant/registry.js';
export { fp32ToFp16, fp16ToFp32, fp32ToBf16, bf16ToFp32 } from './core/half.js';
export { MemorySource, BlobSource, MemorySink, type ByteSource, type ByteSink } from './formats/byte-source.js';
export { readGgufHeader, type GgufFile, type GgufTensorInfo } from './formats/gguf-reader.js';
export { openGgufModel, readTensorRows, toFloat32, type GgufModel } from './formats/gguf-model.js';
export { planOutput } from './formats/gguf-writer.js';
export { loadImatrix, parseImatrix, filterImatrix, type Imatrix } from './formats/imatrix.js';
export { FTYPES, parseFtype, ftypeName } from './policy/ftype.js';
export { planTensorTypes, type TypePlan, type PlanEntry } from './policy/tensor-type.js';
export { InlineCpuBackend, type QuantizeBackend, type QuantizeJob } from './pipeline/backend.js';
export { defaultOptions, type QuantizeOptions } from './pipeline/options.js';
export { quantizeModel, planRun, type RunLog, type RunRequest, type RunResult, type TensorResult } from './pipeline/quantize-model.js';
export { compareBackends, compareBlocks, type Comparison, type TensorComparison } from './pipeline/compare.js';
export { syntheticModel, DEMO_SPEC, type SyntheticSpec } from './synthetic-model.js';
export { Tokenizer } from './model/tokenizer.js';
export { LlamaModel, CPU_MATMUL, type MatmulBackend, type ForwardOptions, type LlamaHParams } from './model/llama.js';
export { GpuMatmul } from './model/gpu-matmul.js';
export { GpuForward, type GpuForwardOptions } from './model/gpu-forward.js';
export { computeImatrix, imatrixGguf, type ImatrixResult, type ImatrixOptions } from './eval/imatrix.js';
export { computeKld, type KldStats, type KldOptions } from './eval/kld.js';
