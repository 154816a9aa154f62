/**
 * The WebGPU quantization path (browser-safe). In Node, create the quantizer with
 * createNodeGpuQuantizer() from src/node/gpu-device.ts, which finds Dawn's adapter or SwiftShader.
 */
export { GpuQuantizer } from './quantize-gpu.js';
export type { GpuQuantizerOptions, GpuQuantizeRequest, ChunkSink, StoredRows } from './quantize-gpu.js';
export { gpuKernel, gpuKernelTypes } from './kernels.js';
export type { GpuKernel } from './kernels.js';
export { requestGpuDevice, describeAdapter, isSoftwareAdapter } from './device.js';
export type { GpuDeviceHandle } from './device.js';
