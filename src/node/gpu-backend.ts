/** Node entry of the GPU backend (src/node/index.ts imports it lazily): Dawn device or SwiftShader. */
import type { RunLog } from '../pipeline/quantize-model.js';
import { GpuBackend, type GpuBackendOptions } from '../gpu/backend.js';
import { createNodeGpuQuantizer, type NodeDeviceOptions } from './gpu-device.js';
import type { GpuQuantizerOptions } from '../gpu/quantize-gpu.js';

export async function createGpuBackend(log: RunLog, opts: GpuQuantizerOptions & NodeDeviceOptions & GpuBackendOptions = {}): Promise<GpuBackend> {
  const quantizer = await createNodeGpuQuantizer({ log: (line) => log.warn(line), ...opts });
  return new GpuBackend(quantizer, { log: (line) => log.warn(line), ...opts });
}
