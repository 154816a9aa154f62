// The QuantTraits descriptors are the only registration point: every GPU kernel has a CPU reference and
// vice versa (types without a kernel are exactly CPU_ONLY), every shaders/<type>.wgsl is attached to the
// descriptor of that type, every descriptor a src/quant file exports is registered, each GPU test file's
// selection covers every kernel once, and the imatrix use agrees with ggml_quantize_requires_imatrix.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { QK_K, typeByName } from '../../src/core/ggml-type.js';
import { gpuKernel, gpuKernelTypes } from '../../src/gpu/kernels.js';
import { implementedTypes, quantType, type QuantTraits } from '../../src/quant/registry.js';
import { loadOracle, oracleUnavailable } from '../oracle/llama-cpp.js';
import { requireOracle } from '../oracle/require-oracle.js';

/** Implemented types with a CPU reference but no WGSL kernel yet (refused under --backend gpu). */
const CPU_ONLY: readonly string[] = [];

const ROOT = path.resolve(import.meta.dirname, '../..');
const names = (ts: readonly { layout: { name: string } }[]) => ts.map((t) => t.layout.name).sort();

describe('QuantTraits registry', () => {
  it('every GPU kernel has a CPU reference, and every CPU type without a kernel is listed in CPU_ONLY', () => {
    const cpu = implementedTypes();
    const kernels = gpuKernelTypes().map((t) => quantType(t));
    expect(kernels.filter((k) => k === undefined), 'kernels without a CPU reference').toEqual([]);
    const withKernel = new Set(gpuKernelTypes() as number[]);
    expect(names(cpu.filter((t) => !withKernel.has(t.layout.type))), 'CPU types without a GPU kernel').toEqual([...CPU_ONLY].sort());
    expect(gpuKernelTypes().length + CPU_ONLY.length).toBe(cpu.length);
    for (const t of cpu) expect(gpuKernel(t.layout.type) !== undefined, t.layout.name).toBe(t.gpu !== null);
  });

  it('every shaders/<type>.wgsl is the kernel of the registered type of that name, and every kernel is a file there', () => {
    const files = fs.readdirSync(path.join(ROOT, 'shaders')).filter((f) => f.endsWith('.wgsl'));
    const orphans: string[] = [];
    for (const f of files) {
      const layout = typeByName(f.slice(0, -'.wgsl'.length));
      const t = layout && quantType(layout.type);
      if (!t?.gpu || t.gpu.wgsl !== fs.readFileSync(path.join(ROOT, 'shaders', f), 'utf8')) orphans.push(f);
    }
    expect(orphans, 'shader files not attached to the descriptor of their type').toEqual([]);
    const missing = implementedTypes().filter((t) => t.gpu && !files.includes(`${t.layout.name.toLowerCase()}.wgsl`));
    expect(names(missing), 'kernels whose source is not shaders/<type>.wgsl').toEqual([]);
    expect(files.length).toBe(gpuKernelTypes().length);
  });

  it('every shaders/dequant/<type>.wgsl is the forward pass\'s dequantizer (gpuDequant) of that type, and every implemented type has one', () => {
    const dir = path.join(ROOT, 'shaders/dequant');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.wgsl'));
    const orphans = files.filter((f) => {
      const layout = typeByName(f.slice(0, -'.wgsl'.length));
      const t = layout && quantType(layout.type);
      return t?.gpuDequant !== fs.readFileSync(path.join(dir, f), 'utf8');
    });
    expect(orphans, 'dequantizer files not attached to the descriptor of their type').toEqual([]);
    expect(names(implementedTypes().filter((t) => !files.includes(`${t.layout.name.toLowerCase()}.wgsl`))), 'types without shaders/dequant/<type>.wgsl').toEqual([]);
    expect(files.length).toBe(implementedTypes().length);
  });

  it('every QuantTraits exported by a src/quant file is registered (registry.ts lists all type files)', async () => {
    const dir = path.join(ROOT, 'src/quant');
    const exported: QuantTraits[] = [];
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const mod = (await import(path.join(dir, f))) as Record<string, unknown>;
      for (const v of Object.values(mod)) {
        if (v && typeof v === 'object' && 'layout' in v && 'dequantizeRow' in v) exported.push(v as QuantTraits);
      }
    }
    expect(exported.length).toBeGreaterThan(0);
    expect(names(exported.filter((t) => quantType(t.layout.type) !== t)), 'descriptors missing from registry.ts').toEqual([]);
    expect(names(exported)).toEqual(names(implementedTypes()));
  });

  it('each GPU test file covers its share of the kernels: blocks below 256 values (quantize-gpu), super-blocks (kquant-kernels)', () => {
    const small = gpuKernelTypes().filter((t) => gpuKernel(t)!.blockValues < QK_K);
    const superBlocks = gpuKernelTypes().filter((t) => gpuKernel(t)!.blockValues === QK_K);
    expect(small.length + superBlocks.length).toBe(gpuKernelTypes().length);
  });

  const oracle = requireOracle();
  if (!oracle) console.log(oracleUnavailable);
  it.skipIf(!oracle)("imatrix 'required' exactly where ggml_quantize_requires_imatrix says so", () => {
    const wrong = implementedTypes().filter((t) => (t.imatrix === 'required') !== oracle!.requiresImatrix(t.layout.type));
    expect(names(wrong)).toEqual([]);
  });
});
