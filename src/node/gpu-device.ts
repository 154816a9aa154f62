/**
 * Node-only WebGPU through Dawn (npm `webgpu`), with a software fallback: when no GPU adapter is found on
 * Linux, the SwiftShader Vulkan driver that ships with Chromium/Chrome is used (correct, slow) and ONE
 * line says so. Browser bundles must not import this file.
 *
 * How SwiftShader is reached without restarting the process: the Vulkan loader reads VK_ICD_FILENAMES
 * (VK_DRIVER_FILES in newer loaders) each time an instance is created, so setting process.env before a
 * fresh `create()` is enough. Dawn opens `libvulkan.so.1` by name; when the system has no Vulkan loader,
 * the one next to Chromium's ICD is loaded first with RTLD_NODELETE | RTLD_GLOBAL through
 * process.dlopen (which then throws "did not self-register", as it is not an addon, but the library
 * stays loaded under its soname, so Dawn's dlopen finds it). Set WEBGPU_QUANTIZE_SWIFTSHADER_ICD to point
 * at another vk_swiftshader_icd.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { create } from 'webgpu';
import { GpuError } from '../errors.js';
import { requestGpuDevice, type GpuDeviceHandle } from '../gpu/device.js';
import { GpuQuantizer, type GpuQuantizerOptions } from '../gpu/quantize-gpu.js';
import { stageClock } from '../pipeline/stage-clock.js';

/** Dawn frees its native instance when the create() object is collected: keep every one, forever. */
const KEEP_ALIVE: unknown[] = [];

const RTLD_LAZY = 0x1;
const RTLD_GLOBAL = 0x100;
const RTLD_NODELETE = 0x1000;

export type SoftwareFallback = 'auto' | 'never' | 'force';

export interface NodeDeviceOptions {
  /** 'auto' (default): SwiftShader only when no adapter is found; 'force': SwiftShader even with a GPU */
  software?: SoftwareFallback;
  log?: (line: string) => void;
  /**
   * request `timestamp-query` where the adapter has it, with Dawn's timestamp quantization off (kernel
   * profiling: src/gpu/kernel-profile.ts); default: when WEBGPU_QUANTIZE_PROFILE=1
   */
  timestamps?: boolean;
}

/**
 * Dawn rounds timestamps unless its `timestamp_quantization` toggle is off (measured on SwiftShader: every
 * value a multiple of 65,536 ns, some of 2^20): too coarse for one chunk's pass on a real GPU. Only a
 * profiled run turns it off (a `create()` toggle, which Dawn applies to the devices it creates).
 */
const PROFILE_TOGGLES = ['disable-dawn-features=timestamp_quantization'];

function swiftShaderIcdCandidates(): string[] {
  const list: string[] = [];
  const env = process.env.WEBGPU_QUANTIZE_SWIFTSHADER_ICD;
  if (env) list.push(env);
  list.push(
    '/usr/lib/chromium/vk_swiftshader_icd.json',
    '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
    '/usr/lib64/chromium-browser/vk_swiftshader_icd.json',
    '/opt/google/chrome/vk_swiftshader_icd.json',
    '/snap/chromium/current/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  );
  // Playwright's Chromium builds carry SwiftShader too
  const pw = process.env.PLAYWRIGHT_BROWSERS_PATH || path.join(os.homedir(), '.cache', 'ms-playwright');
  try {
    for (const d of fs.readdirSync(pw)) if (d.startsWith('chromium')) list.push(path.join(pw, d, 'chrome-linux', 'vk_swiftshader_icd.json'));
  } catch { /* no playwright cache */ }
  return list;
}

export function findSwiftShaderIcd(): string | null {
  for (const p of swiftShaderIcdCandidates()) if (fs.existsSync(p)) return p;
  return null;
}

/** dlopen with RTLD_NODELETE: true when the library is (now) loaded. */
function preload(lib: string): boolean {
  try {
    process.dlopen({ exports: {} } as NodeJS.Module, lib, RTLD_LAZY | RTLD_GLOBAL | RTLD_NODELETE);
    return true;
  } catch (e) {
    return /did not self-register/.test((e as Error).message);
  }
}

async function tryDawn(timestamps: boolean): Promise<GpuDeviceHandle | null> {
  const gpu = create(timestamps ? PROFILE_TOGGLES : []) as GPU;
  KEEP_ALIVE.push(gpu);
  const h = await requestGpuDevice(gpu, 'high-performance', { timestamps });
  if (h) KEEP_ALIVE.push(...h.keepAlive);
  return h;
}

/**
 * A WebGPU device in Node: the system's GPU when there is one, else (Linux) SwiftShader.
 * Throws GpuError('unavailable') with the reason when neither works.
 */
export async function nodeGpuDevice(opts: NodeDeviceOptions = {}): Promise<GpuDeviceHandle> {
  const mode = opts.software ?? 'auto';
  const timestamps = opts.timestamps ?? stageClock.on;
  const log = opts.log ?? ((line: string) => console.error(line));
  const linux = process.platform === 'linux';
  // Without a Vulkan loader Dawn finds nothing on Linux, and says so on stderr: skip that attempt.
  const systemVulkan = !linux || preload('libvulkan.so.1');
  if (mode !== 'force' && systemVulkan) {
    const h = await tryDawn(timestamps);
    if (h) {
      if (h.isSoftware) log(`webgpu-quantize: only a software GPU adapter found, using ${h.adapterName}; output is identical, but slow`);
      return h;
    }
  }
  if (mode === 'never' || !linux) {
    throw new GpuError('unavailable', `no WebGPU adapter found (${process.platform}-${process.arch}, Dawn)`);
  }
  const icd = findSwiftShaderIcd();
  if (!icd) {
    throw new GpuError('unavailable', 'no GPU adapter found and no SwiftShader driver (vk_swiftshader_icd.json from Chromium) to fall back on; install GPU drivers and libvulkan1, or Chromium, or set WEBGPU_QUANTIZE_SWIFTSHADER_ICD');
  }
  process.env.VK_ICD_FILENAMES = icd;
  process.env.VK_DRIVER_FILES = icd;
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = os.tmpdir();
  if (!systemVulkan && !preload(path.join(path.dirname(icd), 'libvulkan.so.1'))) {
    throw new GpuError('unavailable', `no Vulkan loader: libvulkan.so.1 is neither installed nor next to ${icd}`);
  }
  const h = await tryDawn(timestamps);
  if (!h) throw new GpuError('unavailable', `SwiftShader (${icd}) gave no WebGPU adapter`);
  log(`webgpu-quantize: ${mode === 'force' ? 'software rendering requested' : 'no GPU adapter found'}, using SwiftShader (software Vulkan) — ${h.adapterName}; output is identical, but much slower than a GPU`);
  return h;
}

/** GpuQuantizer on a Node device (see nodeGpuDevice), unless `opts.device` is given. */
export async function createNodeGpuQuantizer(opts: GpuQuantizerOptions & NodeDeviceOptions = {}): Promise<GpuQuantizer> {
  if (opts.device) return GpuQuantizer.create(opts);
  const handle = await nodeGpuDevice({ timestamps: opts.profileKernels, ...opts });
  return GpuQuantizer.create({ ...opts, handle });
}
