/**
 * Every implemented type with a scale and a min (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K today; see oracle-family.ts)
 * against llama.cpp itself: quantize bytes must equal
 * `ggml_quantize_chunk`'s for every seeded distribution, several row lengths and row counts, with no
 * imatrix, a generated one, all ones and a sparse one; dequantized floats must equal
 * `dequantize_row_*` bit for bit, on our blocks and on random blocks.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { DISTRIBUTIONS, generate, generateImatrix, rng } from '../data/distributions.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { dequantizeRows, quantizeChunk, type QuantTraits } from '../../src/quant/registry.js';
import { oracleFamily } from './oracle-family.js';

const oracle = requireOracle();

/** `fp16At`: byte offsets of the fp16 fields of one block (spec §1.3, §1.4). */
const CASES: { impl: QuantTraits; lengths: number[]; fp16At: readonly number[] }[] = oracleFamily('asymmetric').map((impl) => {
  const bs = impl.layout.blockSize;
  return { impl, lengths: bs >= 256 ? [bs, 2 * bs, 3 * bs] : [bs, 2 * bs, 256, 512, 768], fp16At: impl.layout.fp16Fields };
});
const NROWS = 4;

type ImatrixKind = 'none' | 'generated' | 'ones' | 'sparse' | 'signed';
const IMATRIX_KINDS: ImatrixKind[] = ['none', 'generated', 'ones', 'sparse', 'signed'];

function imatrixFor(kind: ImatrixKind, n: number, seed: number): Float32Array | null {
  if (kind === 'none') return null;
  if (kind === 'generated') return generateImatrix(n, seed);
  if (kind === 'ones') return new Float32Array(n).fill(1);
  const r = rng(seed + 17);
  if (kind === 'signed') {
    // not a real imatrix, but ggml_quantize_chunk accepts it: negative weights reach the searches'
    // sign-dependent branches (negative scales, wrapped make_qp_quants codes)
    const w = generateImatrix(n, seed);
    for (let i = 0; i < n; i++) if (r() < 0.3) w[i] = -w[i];
    return w;
  }
  // mostly zero columns, a few strong ones: whole sub-blocks end up with zero weight
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = r() < 0.15 ? 0.5 + 10 * r() : 0;
  return w;
}

/** '' when equal, else where the first differing block is. */
function byteDiff(ours: Uint8Array, ref: Uint8Array, typeSize: number): string {
  if (ours.length !== ref.length) return `length ${ours.length} vs ${ref.length}`;
  for (let i = 0; i < ours.length; i++) {
    if (ours[i] !== ref[i]) {
      const b = Math.floor(i / typeSize);
      const hex = (a: Uint8Array) => Buffer.from(a.subarray(b * typeSize, (b + 1) * typeSize)).toString('hex');
      return `block ${b} byte ${i - b * typeSize}: ours ${hex(ours)} ref ${hex(ref)}`;
    }
  }
  return '';
}

function bitsDiff(ours: Float32Array, ref: Float32Array): string {
  const a = new Uint32Array(ours.buffer, ours.byteOffset, ours.length);
  const b = new Uint32Array(ref.buffer, ref.byteOffset, ref.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return `value ${i}: ours ${ours[i]} (0x${a[i].toString(16)}) ref ${ref[i]} (0x${b[i].toString(16)})`;
  }
  return '';
}

const counts = { quantizeCalls: 0, blocks: 0, dequantValues: 0, randomBlocks: 0 };

describe.skipIf(!oracle)('asymmetric quantizers vs llama.cpp', () => {
  afterAll(() => {
    console.log(`oracle-asymmetric: ${counts.quantizeCalls} quantize calls (${counts.blocks} blocks) byte-identical, ` +
      `${counts.dequantValues} dequantized values and ${counts.randomBlocks} random blocks bit-identical`);
  });

  for (const { impl, lengths, fp16At } of CASES) {
    const layout = impl.layout;
    for (const kind of IMATRIX_KINDS) {
      it(`${layout.name} quantize+dequantize, imatrix ${kind}`, () => {
        let seed = 1;
        for (const dist of DISTRIBUTIONS) {
          for (const n of lengths) for (let rep = 0; rep < 2; rep++) {
            seed++;
            const src = generate(dist, NROWS, n, seed);
            const qw = imatrixFor(kind, n, seed);
            const ref = oracle!.quantizeChunk(impl.layout.type, src, NROWS, n, qw);
            const ours = new Uint8Array(ref.length);
            quantizeChunk(impl, src, ours, NROWS, n, qw);
            const diff = byteDiff(ours, ref, layout.typeSize);
            expect(diff, `${layout.name} ${dist} n=${n} imatrix=${kind}`).toBe('');
            counts.quantizeCalls++;
            counts.blocks += ref.length / layout.typeSize;

            const total = NROWS * n;
            const deq = new Float32Array(total);
            dequantizeRows(impl, ref, deq, total);
            expect(bitsDiff(deq, oracle!.dequantizeRow(impl.layout.type, ref, total)), `dequantize ${dist} n=${n}`).toBe('');
            counts.dequantValues += total;
          }
        }
      });
    }

    it(`${layout.name} dequantizes random blocks like dequantize_row_${layout.name}`, () => {
      const r = rng(impl.layout.type * 101);
      const nb = 200;
      const bytes = new Uint8Array(nb * layout.typeSize);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
      // fp16 fields kept finite here (exponent below 31): Inf/NaN scales and mins are oracle-dequant-special.test.ts
      for (let b = 0; b < nb; b++) {
        for (const off of fp16At) bytes[b * layout.typeSize + off + 1] &= 0xbf;
      }
      const n = nb * layout.blockSize;
      const deq = new Float32Array(n);
      dequantizeRows(impl, bytes, deq, n);
      expect(bitsDiff(deq, oracle!.dequantizeRow(impl.layout.type, bytes, n))).toBe('');
      counts.randomBlocks += nb;
    });
  }
});

describe('asymmetric quantizers: spec §2.10 all-zero vectors and argument checks', () => {
  for (const { impl, lengths } of CASES) {
    const layout = impl.layout;
    it(`${layout.name} all-zero input gives all-zero bytes`, () => {
      const n = lengths[0];
      for (const qw of [null, generateImatrix(n, 5)]) {
        const src = new Float32Array(2 * n);
        for (let i = 1; i < src.length; i += 2) src[i] = -0;
        const ours = new Uint8Array(2 * (n / layout.blockSize) * layout.typeSize).fill(0xcd);
        quantizeChunk(impl, src, ours, 2, n, qw);
        expect(ours.every((b) => b === 0)).toBe(true);
        if (oracle) expect(byteDiff(ours, oracle.quantizeChunk(impl.layout.type, src, 2, n, qw), layout.typeSize)).toBe('');
      }
    });

    it(`${layout.name} rejects a row length that is not a whole number of blocks`, () => {
      const n = layout.blockSize + 16;
      const dst = new Uint8Array(layout.typeSize * 2);
      expect(() => quantizeChunk(impl, new Float32Array(n), dst, 1, n, null)).toThrow(RangeError);
      expect(() => quantizeChunk(impl, new Float32Array(n), dst, 1, n, null)).toThrow(String(n));
      expect(() => dequantizeRows(impl, dst, new Float32Array(n), n)).toThrow(RangeError);
    });

    it(`${layout.name} writes exactly rowSize·nrows bytes`, () => {
      const n = lengths[lengths.length - 1];
      const src = generate('gauss', 2, n, 9);
      expect(() => quantizeChunk(impl, src, new Uint8Array(2 * (n / layout.blockSize) * layout.typeSize + 1), 2, n, null)).toThrow(RangeError);
    });
  }
});
