/**
 * WebGPU device acquisition that works in browsers and in Node (the Dawn specifics live in
 * src/node/gpu-device.ts so that a browser bundle never imports 'webgpu' or node:*).
 *
 * Why the host is shaped the way it is (measured with webgpu@0.6.2 / Dawn on SwiftShader, Linux x64):
 *
 * 1. The crash that looked like "one dispatch over 1M elements (64 MB) kills the process" (segfault,
 *    "The futex facility returned an unexpected error code", `std::system_error: Invalid argument`,
 *    `pthread_mutex_lock: Assertion mutex->__data.__owner == 0 failed`) is not about size. It is a
 *    use-after-free: the object returned by Dawn's `create()` owns the native instance, and code such as
 *    `await create([]).requestAdapter()` leaves it unreferenced. When V8 collects it, the instance is
 *    freed while the adapter and device still use it, and the next `ProcessEvents` (from the
 *    onSubmittedWorkDone/mapAsync polling) locks a freed mutex. Large buffers only made it likely because
 *    allocating them triggers GC. Proof: with `node --expose-gc`, calling `gc()` after requesting the
 *    device crashes a 1,024-element run 3 times out of 3; keeping the GPU object referenced, 4M elements
 *    (16 MB per buffer, one dispatch) ran cleanly, as did exiting with work still pending. gdb showed the
 *    main thread in `InstanceBase::ProcessEvents -> pthread_mutex_lock` on a mutex of garbage kind
 *    (PI lock path) while SwiftShader's worker threads were idle.
 *    => every acquired device keeps its GPU/adapter objects reachable (`GpuDeviceHandle.keepAlive`, and a
 *    module-level list in src/node/gpu-device.ts), for the lifetime of the process.
 * 2. Independently of that bug, the host bounds the work per submit: a tensor is cut into chunks of at
 *    most `maxChunkValues` values (4M by default, never above maxStorageBufferBindingSize/maxBufferSize),
 *    dispatches are folded below maxComputeWorkgroupsPerDimension, at most `inFlight` chunks (3) are
 *    submitted at once, each chunk's buffers are reused only after its readback has been mapped (so
 *    nothing in flight is destroyed or collected), and destroy() waits for onSubmittedWorkDone before
 *    destroying buffers and the device. Short submits also keep real GPUs clear of driver watchdogs.
 * 3. SwiftShader flushes subnormal floats to zero, and WGSL allows FMA contraction and approximate
 *    division anywhere; the kernels never depend on native float behaviour outside what WGSL guarantees
 *    (shaders/lib/exact-f32.wgsl) and flag the rare blocks outside it for the exact host path.
 * 4. SwiftShader compiles shaders slowly when they branch inside nested loops (it inlines every call and
 *    unrolls constant loops): a full soft-float fallback inlined at every operation took over 15 minutes
 *    for one pipeline; the branch-free library compiles each pipeline in well under a second.
 */
import { GpuError } from '../errors.js';

export interface GpuDeviceHandle {
  readonly device: GPUDevice;
  /** one line naming the adapter, e.g. "google swiftshader (SwiftShader driver 5.0.0)" */
  readonly adapterName: string;
  /** a software rasteriser (SwiftShader, llvmpipe, WARP, a fallback adapter) */
  readonly isSoftware: boolean;
  /** destroy the device with the quantizer (false when the caller passed its own device) */
  readonly owned: boolean;
  /** objects that must stay reachable while the device lives (see point 1 above) */
  readonly keepAlive: readonly unknown[];
}

type AdapterInfoLike = Partial<Pick<GPUAdapterInfo, 'vendor' | 'architecture' | 'device' | 'description'>> & { isFallbackAdapter?: boolean };

export function describeAdapter(info: AdapterInfoLike | undefined): string {
  if (!info) return 'unknown adapter';
  const head = [info.vendor, info.architecture].filter((s) => s).join(' ');
  const desc = info.description || info.device || '';
  if (head && desc) return `${head} (${desc})`;
  return head || desc || 'unknown adapter';
}

export function isSoftwareAdapter(info: AdapterInfoLike | undefined): boolean {
  if (!info) return false;
  if (info.isFallbackAdapter) return true;
  const s = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`.toLowerCase();
  return /swiftshader|llvmpipe|lavapipe|softpipe|basic render|\bwarp\b/.test(s);
}

export interface DeviceRequestOptions {
  /**
   * also request `timestamp-query` where the adapter has it (kernel profiling, src/gpu/kernel-profile.ts);
   * off by default: an unprofiled run asks for no optional feature
   */
  timestamps?: boolean;
}

/** Asks `gpu` (navigator.gpu or Dawn's `create()` result) for an adapter and a device; null without adapter. */
export async function requestGpuDevice(gpu: GPU, powerPreference: GPUPowerPreference = 'high-performance', opts: DeviceRequestOptions = {}): Promise<GpuDeviceHandle | null> {
  const adapter = await gpu.requestAdapter({ powerPreference });
  if (!adapter) return null;
  const info: AdapterInfoLike | undefined = (adapter as { info?: GPUAdapterInfo }).info;
  const l = adapter.limits;
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      label: 'webgpu-quantize',
      requiredFeatures: opts.timestamps && adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
      // the defaults (128 MiB bindings, 256 MiB buffers) are below what most adapters offer
      requiredLimits: { maxStorageBufferBindingSize: l.maxStorageBufferBindingSize, maxBufferSize: l.maxBufferSize },
    });
  } catch (e) {
    throw new GpuError('unavailable', `requestDevice failed on ${describeAdapter(info)}: ${(e as Error).message}`);
  }
  return {
    device,
    adapterName: describeAdapter(info),
    isSoftware: isSoftwareAdapter(info),
    owned: true,
    keepAlive: [gpu, adapter],
  };
}

/** The browser's navigator.gpu, when there is one. */
export function browserGpu(): GPU | undefined {
  return (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
}
