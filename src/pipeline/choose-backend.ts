/**
 * The one decision between a hardware GPU, a software GPU (SwiftShader) and the CPU path, for the Node
 * CLI/API (src/node/index.ts) and the page (web/run.ts); each host only says how it makes a GPU or CPU
 * backend. Browser-safe.
 *   cpu:  the CPU path.
 *   gpu:  any adapter, software included, or an error; types without a GPU kernel are refused.
 *   auto: a hardware adapter, else the CPU path with a one-line notice (a software rasterizer is slower
 *         than the CPU path); types without a GPU kernel run on the CPU path, and a line says so.
 */
import type { GpuBackend } from '../gpu/backend.js';
import type { QuantizeBackend } from './backend.js';
import type { BackendChoice } from './options.js';
import type { RunLog } from './quantize-model.js';

export interface GpuRequest {
  /** whether a software adapter may be searched for (SwiftShader in Node); `auto` never wants one */
  allowSoftware: boolean;
  /** run types without a kernel on the CPU reference instead of refusing them (GpuBackendOptions) */
  cpuForMissingKernels: boolean;
}

export interface BackendMakers {
  gpu(req: GpuRequest): Promise<GpuBackend>;
  cpu(): QuantizeBackend;
  /** how a user forces the GPU here, for the notices: `--backend gpu`, `choose GPU` */
  forceGpu: string;
}

export async function chooseBackend(choice: BackendChoice, make: BackendMakers, log: RunLog): Promise<QuantizeBackend> {
  if (choice !== 'cpu') {
    try {
      const gpu = await make.gpu({ allowSoftware: choice === 'gpu', cpuForMissingKernels: choice === 'auto' });
      if (choice === 'gpu' || !gpu.quantizer.isSoftware) return gpu;
      await gpu.close();
      log.warn(`webgpu-quantize: only a software GPU adapter (${gpu.quantizer.adapterName}); using the CPU path (${make.forceGpu} forces it)`);
    } catch (e) {
      if (choice === 'gpu') throw e;
      log.warn(`webgpu-quantize: no usable GPU adapter (${(e as Error).message}); using the CPU path (${make.forceGpu} also tries a software adapter)`);
    }
  }
  return make.cpu();
}
