/**
 * Shared by the GPU tests: one WebGPU device per test file (Dawn's adapter, or SwiftShader when there is
 * none), and the CPU reference to compare with. In CI (CI=true) a missing adapter fails the GPU tests;
 * elsewhere they skip with one line saying why. WEBGPU_QUANTIZE_TEST_NO_GPU=1 simulates a missing adapter.
 */
import { test, expect } from 'vitest';
import { nodeGpuDevice } from '../../src/node/gpu-device.js';
import type { GpuDeviceHandle } from '../../src/gpu/device.js';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { quantType, quantizeChunk } from '../../src/quant/registry.js';
import { loadOracle } from '../oracle/llama-cpp.js';

export const REQUIRE_GPU = process.env.CI === 'true';

export interface GpuEnv {
  handle: GpuDeviceHandle | null;
  reason: string;
}

export async function gpuEnv(): Promise<GpuEnv> {
  try {
    if (process.env.WEBGPU_QUANTIZE_TEST_NO_GPU === '1') throw new Error('WEBGPU_QUANTIZE_TEST_NO_GPU=1');
    const handle = await nodeGpuDevice({ log: (line) => console.log(line) });
    return { handle, reason: '' };
  } catch (e) {
    const reason = `no WebGPU adapter: ${(e as Error).message}`;
    if (!REQUIRE_GPU) console.log(`GPU tests skipped: ${reason}`);
    return { handle: null, reason };
  }
}

/** Registers the test that fails in CI when no adapter was found. */
export function requireAdapterInCi(env: GpuEnv): void {
  test.runIf(REQUIRE_GPU)('a WebGPU adapter is available (required in CI)', () => {
    expect(env.handle, env.reason).not.toBeNull();
  });
}

/** ggml_quantize_chunk on the CPU: our reference when registered, else llama.cpp itself. */
export function reference(type: GgmlType, src: Float32Array, nrows: number, nPerRow: number, imatrix: Float32Array | null): Uint8Array {
  const cpu = quantType(type);
  const t = typeLayout(type);
  if (cpu) {
    const dst = new Uint8Array((nPerRow / t.blockSize) * t.typeSize * nrows);
    quantizeChunk(cpu, src, dst, nrows, nPerRow, imatrix);
    return dst;
  }
  const oracle = loadOracle();
  if (!oracle) throw new Error(`no CPU reference for ${t.name} and no oracle`);
  return oracle.quantizeChunk(type, src, nrows, nPerRow, imatrix);
}

/** Byte equality, reporting the first differing block. */
export function expectSameBytes(got: Uint8Array, want: Uint8Array, type: GgmlType, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      const bb = typeLayout(type).typeSize;
      const b = Math.floor(i / bb);
      const hex = (a: Uint8Array) => Buffer.from(a.subarray(b * bb, (b + 1) * bb)).toString('hex');
      expect.fail(`${what}: byte ${i} (block ${b}) differs\n gpu ${hex(got)}\n cpu ${hex(want)}`);
    }
  }
}
