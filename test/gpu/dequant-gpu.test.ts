/**
 * The forward pass's WGSL dequantizers (shaders/dequant/<type>.wgsl, attached to each descriptor as
 * `gpuDequant`) against the CPU's dequantize_row (oracle-verified), F32 bit patterns: random block bytes (with
 * -0, subnormal halves and the largest half forced as block scales; for the i-quant and TQ1_0 dequantizers Inf
 * and NaN scales too, elsewhere fp16 scales made finite) and the blocks the CPU quantizer makes of the 14 hard
 * distributions (test/data/distributions.ts). Also which types the forward pass dequantizes where.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { dequantizeRows, implementedTypes, quantType, quantizeChunk } from '../../src/quant/registry.js';
import { dequantPath, gpuDequantTypes, GpuDequantizer } from '../../src/gpu/dequant.js';
import { mulberry32, syntheticModel } from '../../src/synthetic-model.js';
import { FileSink, openGgufModelFile } from '../../src/node/file-io.js';
import { LlamaModel } from '../../src/model/llama.js';
import { GpuError } from '../../src/errors.js';
import { DISTRIBUTIONS, generate, generateImatrix } from '../data/distributions.js';
import { gpuEnv, requireAdapterInCi } from './gpu-env.js';

const env = await gpuEnv();
requireAdapterInCi(env);
afterAll(() => env.handle?.device.destroy());

const names = (ts: GgmlType[]) => ts.map((t) => typeLayout(t).name).sort();

/** the types whose WGSL dequantizer also reproduces the CPU's values for a non-finite block scale (xmul) */
const NON_FINITE = ['iq1_m', 'iq1_s', 'iq2_s', 'iq2_xs', 'iq2_xxs', 'iq3_s', 'iq3_xxs', 'tq1_0'];

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

/** the block scale `h` (fp16 bits) written into block b: its fp16 fields, or IQ1_M's top nibbles of scales[8] @48 */
function setScale(type: GgmlType, bytes: Uint8Array, b: number, h: number): void {
  const layout = typeLayout(type);
  const o = b * layout.typeSize;
  if (type === GgmlType.IQ1_M) {
    for (let i = 0; i < 4; i++) bytes[o + 49 + 2 * i] = (bytes[o + 49 + 2 * i] & 0x0f) | (((h >> (4 * i)) & 15) << 4);
    return;
  }
  for (const f of layout.fp16Fields) {
    bytes[o + f] = h & 255;
    bytes[o + f + 1] = h >> 8;
  }
}

/**
 * fp16 scales forced into blocks 0.. of the random data: -0, +0, the smallest and largest subnormal, the
 * largest half, then (types in NON_FINITE only) +Inf, -Inf, a quiet NaN, a signalling NaN and a negative NaN
 * with a payload
 */
const FINITE_SCALES = [0x8000, 0x0000, 0x0001, 0x03ff, 0x7bff];
const NON_FINITE_SCALES = [0x7c00, 0xfc00, 0x7e00, 0x7d01, 0xfe55];

describe.skipIf(!env.handle)('WGSL dequantizers = dequantize_row, bit for bit', () => {
  const dq = env.handle ? new GpuDequantizer(env.handle.device) : null;
  afterAll(() => dq?.destroy());
  let compared = 0;
  afterAll(() => console.log(`dequantizers: ${compared} values compared bit for bit`));

  for (const type of gpuDequantTypes()) {
    const layout = typeLayout(type);
    const nonFinite = NON_FINITE.includes(layout.name);
    it(`${layout.name}${nonFinite ? ' (non-finite scales too)' : ''}`, async () => {
      const rnd = mulberry32(type + 11);
      // random bytes: 2048 blocks (every grid index, sign code and scale code of every field occurs)
      const nBlocks = layout.blockSize === 1 ? 4096 : 2048;
      const n = nBlocks * layout.blockSize;
      const random = Uint8Array.from({ length: nBlocks * layout.typeSize }, () => (rnd() * 256) | 0);
      if (layout.isQuantized) {
        if (!nonFinite) {
          // the other dequantizers are exact for finite scales only: Inf and NaN halves made finite
          for (let b = 0; b < nBlocks; b++) {
            for (const f of layout.fp16Fields) if ((random[b * layout.typeSize + f + 1] & 0x7c) === 0x7c) random[b * layout.typeSize + f + 1] &= 0xbf;
          }
        }
        [...FINITE_SCALES, ...(nonFinite ? NON_FINITE_SCALES : [])].forEach((h, b) => setScale(type, random, b, h));
      }
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
      for (const [what, stored, count] of [['random blocks', random, n], ['quantized distributions', quantized, nq]] as const) {
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
        expect(diff, `${layout.name} ${what}: ${diff} of ${count} values differ, first at ${first} (block ${Math.floor(first / layout.blockSize)}): gpu 0x${got.bits[first]?.toString(16)} cpu 0x${wantBits[first]?.toString(16)}`).toBe(0);
        if (what === 'random blocks' && nonFinite) {
          // the forced blocks did produce Inf and NaN values (and the CPU gave them the bits compared above)
          const v = want.subarray(5 * layout.blockSize, 10 * layout.blockSize);
          expect(v.some((x) => x === Infinity) && v.some((x) => x === -Infinity) && v.some((x) => x !== x), layout.name).toBe(true);
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
