/**
 * The forward pass's WGSL dequantizers (shaders/dequant/<type>.wgsl, attached to each descriptor as
 * `gpuDequant`) against the CPU's dequantize_row, bit for bit: random block bytes (every fp16 scale finite,
 * including -0, subnormal halves and the largest half) and blocks the CPU quantizer made from Gaussian data.
 * Also which types the forward pass dequantizes where.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { dequantizeRows, implementedTypes, quantType, quantizeChunk } from '../../src/quant/registry.js';
import { dequantPath, gpuDequantTypes, GpuDequantizer } from '../../src/gpu/dequant.js';
import { mulberry32 } from '../../src/synthetic-model.js';
import { gpuEnv, requireAdapterInCi } from './gpu-env.js';

const env = await gpuEnv();
requireAdapterInCi(env);
afterAll(() => env.handle?.device.destroy());

const names = (ts: GgmlType[]) => ts.map((t) => typeLayout(t).name).sort();

describe('where the forward pass dequantizes each type', () => {
  it('these 18 types on the device, F32 uploaded as is, every other implemented type on the CPU', () => {
    expect(names(gpuDequantTypes())).toEqual(['bf16', 'f16', 'iq4_nl', 'iq4_xs', 'mxfp4', 'q1_0', 'q2_0', 'q2_K', 'q3_K', 'q4_0', 'q4_1', 'q4_K', 'q5_0', 'q5_1', 'q5_K', 'q6_K', 'q8_0', 'tq2_0']);
    expect(dequantPath(GgmlType.F32)).toBe('f32');
    const onCpu = implementedTypes().map((t) => t.layout.type).filter((t) => dequantPath(t) === 'cpu');
    expect(onCpu.length).toBe(implementedTypes().length - 18);
    for (const t of onCpu) expect(quantType(t)!.gpuDequant, typeLayout(t).name).toBeUndefined();
  });
});

async function onDevice(type: GgmlType, stored: Uint8Array, n: number): Promise<{ bits: Uint32Array; path: string }> {
  const d = env.handle!.device;
  const dq = new GpuDequantizer(d);
  const enc = d.createCommandEncoder();
  const pass = enc.beginComputePass();
  const temps: GPUBuffer[] = [];
  const { buffer, path } = dq.values(type, stored, n, pass, temps, 'test');
  pass.end();
  const rb = d.createBuffer({ size: n * 4, usage: 0x01 | 0x08 });
  enc.copyBufferToBuffer(buffer, 0, rb, 0, n * 4);
  d.queue.submit([enc.finish()]);
  await rb.mapAsync(0x01);
  const bits = new Uint32Array(rb.getMappedRange().slice(0));
  rb.unmap();
  for (const b of [rb, buffer, ...temps]) b.destroy();
  return { bits, path };
}

describe.skipIf(!env.handle)('WGSL dequantizers = dequantize_row, bit for bit', () => {
  for (const type of gpuDequantTypes()) {
    const layout = typeLayout(type);
    it(layout.name, async () => {
      const rnd = mulberry32(type + 11);
      const nBlocks = layout.blockSize === 1 ? 4096 : 4096 / layout.blockSize;
      const n = nBlocks * layout.blockSize;
      // random bytes, fp16 scales made finite; blocks 0-2 get d = -0, the smallest subnormal half, the largest half
      const random = Uint8Array.from({ length: nBlocks * layout.typeSize }, () => (rnd() * 256) | 0);
      if (layout.isQuantized) {
        for (let b = 0; b < nBlocks; b++) {
          for (const f of layout.fp16Fields) {
            const o = b * layout.typeSize + f;
            if ((random[o + 1] & 0x7c) === 0x7c) random[o + 1] &= 0xbf;
            const forced = [0x8000, 0x0001, 0x7bff][b];
            if (forced !== undefined) {
              random[o] = forced & 255;
              random[o + 1] = forced >> 8;
            }
          }
        }
      }
      // what the CPU quantizer makes of Gaussian values
      const g = Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd()));
      const quantized = new Uint8Array(nBlocks * layout.typeSize);
      quantizeChunk(quantType(type)!, g, quantized, 1, n, null);
      for (const [what, stored] of [['random blocks', random], ['quantized Gaussian', quantized]] as const) {
        const want = new Float32Array(n);
        dequantizeRows(type, stored, want, n);
        const wantBits = new Uint32Array(want.buffer);
        const got = await onDevice(type, stored, n);
        expect(got.path).toBe('gpu');
        let diff = 0;
        let first = -1;
        for (let i = 0; i < n; i++) {
          if (got.bits[i] !== wantBits[i]) {
            diff++;
            if (first < 0) first = i;
          }
        }
        expect(diff, `${layout.name} ${what}: ${diff} of ${n} values differ, first at ${first}: gpu 0x${got.bits[first]?.toString(16)} cpu 0x${wantBits[first]?.toString(16)}`).toBe(0);
      }
    });
  }

  it('F32 is uploaded as is; a type without a WGSL dequantizer goes through the CPU (TQ1_0)', async () => {
    const f = Float32Array.from({ length: 256 }, (_, i) => (i % 64) - 31.5);
    const got = await onDevice(GgmlType.F32, new Uint8Array(f.buffer), 256);
    expect(got.path).toBe('f32');
    expect([...new Float32Array(got.bits.buffer)]).toEqual([...f]);
    const q = new Uint8Array(54);
    quantizeChunk(quantType(GgmlType.TQ1_0)!, f, q, 1, 256, null);
    const want = new Float32Array(256);
    dequantizeRows(GgmlType.TQ1_0, q, want, 256);
    const viaCpu = await onDevice(GgmlType.TQ1_0, q, 256);
    expect(viaCpu.path).toBe('cpu');
    expect([...new Float32Array(viaCpu.bits.buffer)]).toEqual([...want]);
  });
});
