/** Node entry of the GPU backend (src/node.ts imports it lazily): Dawn device or SwiftShader. */
import type { RunLog } from '../pipeline/quantize-model.js';
import { GpuBackend } from './backend.js';
import { createNodeGpuQuantizer, type NodeDeviceOptions } from './node-device.js';
import type { GpuQuantizerOptions } from './quantize-gpu.js';

export async function createGpuBackend(log: RunLog, opts: GpuQuantizerOptions & NodeDeviceOptions = {}): Promise<GpuBackend> {
  const quantizer = await createNodeGpuQuantizer({ log: (line) => log.warn(line), ...opts });
  return new GpuBackend(quantizer);
}
