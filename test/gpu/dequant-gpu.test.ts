/**
 * The forward pass's WGSL dequantizers (shaders/dequant/<type>.wgsl, attached to each descriptor as
 * `gpuDequant`) against the CPU's dequantize_row (oracle-verified, special scales included:
 * test/quant/oracle-dequant-special.test.ts), F32 bit patterns, NaN signs and payloads included: blocks with
 * special scales (test/data/special-scales.ts: ±0, subnormal, largest, ±Inf and NaN halves in every scale and
 * min field, every d × min pair; F16 and BF16 all 65536 patterns) followed by random blocks, and the blocks
 * the CPU quantizer makes of the 14 hard distributions (test/data/distributions.ts). Also which types the
 * forward pass dequantizes where.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { dequantizeRows, implementedTypes, quantType, quantizeChunk } from '../../src/quant/registry.js';
import { dequantPath, gpuDequantTypes, GpuDequantizer } from '../../src/gpu/dequant.js';
import { syntheticModel } from '../../src/synthetic-model.js';
import { FileSink, openGgufModelFile } from '../../src/node/file-io.js';
import { LlamaModel } from '../../src/model/llama.js';
import { GpuError } from '../../src/errors.js';
import { DISTRIBUTIONS, generate, generateImatrix } from '../data/distributions.js';
import { gpuEnv, requireAdapterInCi } from './gpu-env.js';
import { scaleFields, specialBlocks } from '../data/special-scales.js';

const env = await gpuEnv();
requireAdapterInCi(env);
afterAll(() => env.handle?.device.destroy());

const names = (ts: GgmlType[]) => ts.map((t) => typeLayout(t).name).sort();

describe('where the forward pass dequantizes each type', () => {
  it('all 26 implemented types on the device, F32 uploaded as is, any other stored type refused in one line (by LlamaModel.load first)', async () => {
    expect(names(gpuDequantTypes())).toEqual(['bf16', 'f16', 'iq1_m', 'iq1_s', 'iq2_s', 'iq2_xs', 'iq2_xxs', 'iq3_s', 'iq3_xxs', 'iq4_nl', 'iq4_xs', 'mxfp4', 'q1_0', 'q2_0', 'q2_K', 'q3_K', 'q4_0', 'q4_1', 'q4_K', 'q5_0', 'q5_1', 'q5_K', 'q6_K', 'q8_0', 'tq1_0', 'tq2_0']);
    expect(dequantPath(GgmlType.F32, 'output.weight')).toBe('f32');
    expect(implementedTypes().length).toBe(26);
    expect(implementedTypes().map((t) => t.layout.type).filter((t) => dequantPath(t, 'output.weight') !== 'gpu')).toEqual([]);
    // stored types this tool cannot dequantize at all (LlamaModel.load refuses them first)
    expect(() => dequantPath(GgmlType.NVFP4, 'blk.0.ffn_up.weight')).toThrow(new GpuError('unavailable', 'blk.0.ffn_up.weight: type nvfp4 cannot be dequantized by this tool'));
    expect(() => dequantPath(GgmlType.Q8_K, 'output.weight')).toThrow('output.weight: type q8_K cannot be dequantized by this tool');
    // a model file with an NVFP4 matrix never reaches the device: the type field of blk.0.ffn_down.weight's
    // tensor info (after its name, n_dims and ne; the last tensor, so the data stays packed) patched from F32 to
    // NVFP4 (128 columns: two blocks a row)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dequant-refuse-'));
    try {
      const f = path.join(dir, 'nvfp4.gguf');
      await syntheticModel({ nLayer: 1, nEmbd: 64, nFf: 128, nHead: 2, nHeadKv: 1, nVocab: 64, seed: 3 }).write(await FileSink.create(f));
      const b = fs.readFileSync(f);
      const name = Buffer.from('blk.0.ffn_down.weight');
      const at = b.indexOf(name) + name.length;
      expect(b.readUInt32LE(at)).toBe(2);
      expect(b.readUInt32LE(at + 4 + 16)).toBe(GgmlType.F32);
      b.writeUInt32LE(GgmlType.NVFP4, at + 4 + 16);
      fs.writeFileSync(f, b);
      const m = await openGgufModelFile(f);
      try {
        await expect(LlamaModel.load(m)).rejects.toThrow(`${f}: tensor 'blk.0.ffn_down.weight' has type nvfp4, which this tool cannot dequantize yet`);
      } finally {
        await m.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function onDevice(dq: GpuDequantizer, type: GgmlType, stored: Uint8Array, n: number): Promise<{ bits: Uint32Array; path: string }> {
  const d = env.handle!.device;
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
  const dq = env.handle ? new GpuDequantizer(env.handle.device) : null;
  afterAll(() => dq?.destroy());
  let compared = 0;
  const perType: string[] = [];
  afterAll(() => console.log(`dequantizers: ${compared} values compared bit for bit (${perType.join(', ')})`));

  for (const type of gpuDequantTypes()) {
    const layout = typeLayout(type);
    it(layout.name, async () => {
      // the special-scale blocks, then 2048 random ones (every grid index, sign code and scale code of every field occurs)
      const { bytes: random, n, forced } = specialBlocks(type, 2048, type + 11);
      // what the CPU quantizer makes of the 14 hard distributions (2 rows of 512 each), with an imatrix where the type reads one
      const q = quantType(type)!;
      const parts: Uint8Array[] = [];
      for (const name of DISTRIBUTIONS) {
        const x = generate(name, 2, 512, 5);
        const out = new Uint8Array(2 * (512 / layout.blockSize) * layout.typeSize);
        quantizeChunk(q, x, out, 2, 512, q.imatrix === 'ignored' ? null : generateImatrix(512));
        parts.push(out);
      }
      const quantized = Buffer.concat(parts);
      const nq = DISTRIBUTIONS.length * 1024;
      for (const [what, stored, count] of [['special-scale and random blocks', random, n], ['quantized distributions', quantized, nq]] as const) {
        const want = new Float32Array(count);
        dequantizeRows(type, stored, want, count);
        const wantBits = new Uint32Array(want.buffer);
        const got = await onDevice(dq!, type, new Uint8Array(stored), count);
        expect(got.path).toBe('gpu');
        expect(got.bits.length).toBe(count);
        let diff = 0;
        let first = -1;
        for (let i = 0; i < count; i++) {
          if (got.bits[i] !== wantBits[i]) {
            diff++;
            if (first < 0) first = i;
          }
        }
        compared += count;
        if (stored === random) perType.push(`${layout.name} ${count}+${nq}`);
        const blk = Math.floor(first / layout.blockSize);
        const scales = first < 0 ? '' : scaleFields(type).map((fl) => `, ${fl.name} 0x${fl.get(stored, blk).toString(16)}`).join('');
        expect(diff, `${layout.name} ${what}: ${diff} of ${count} values differ, first at ${first} (block ${blk}${scales}): gpu 0x${got.bits[first]?.toString(16)} cpu 0x${wantBits[first]?.toString(16)}`).toBe(0);
        if (stored === random) {
          // the forced blocks did produce ±Inf and NaN values (MXFP4: Inf by overflow only), whose bits were compared above
          const v = want.subarray(0, layout.blockSize === 1 ? n : forced * layout.blockSize);
          expect([v.some((x) => x === Infinity), v.some((x) => x === -Infinity), v.some((x) => x !== x)], layout.name).toEqual([true, true, layout.name !== 'mxfp4']);
        }
      }
    });
  }

  it('F32 is uploaded as is', async () => {
    const f = Float32Array.from({ length: 256 }, (_, i) => (i % 64) - 31.5);
    const got = await onDevice(dq!, GgmlType.F32, new Uint8Array(f.buffer), 256);
    expect(got.path).toBe('f32');
    expect([...new Float32Array(got.bits.buffer)]).toEqual([...f]);
  });
});
