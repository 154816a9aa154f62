/**
 * Every implemented type without a min (at most one fp16 field: F16, BF16, Q8_0, Q4_0, Q5_0, Q3_K, Q6_K today;
 * the types with a scale and a min are in oracle-asymmetric.test.ts) against llama.cpp v0.5.0 itself: quantized bytes must equal
 * `ggml_quantize_chunk`'s and dequantized floats must equal `dequantize_row_*`'s bit for bit, for every
 * seeded distribution, several row lengths and row counts, with no imatrix and with three kinds of imatrix.
 */
import { describe, expect, it } from 'vitest';
import { requireOracle } from '../oracle/require-oracle.js';
import { generate, generateImatrix, rng } from '../data/distributions.js';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { dequantizeRows, quantizeChunk } from '../../src/quant/registry.js';
import { oracleFamily } from './oracle-family.js';
import { bitsOf, compareWithOracle, firstDiff, forEachOracleCase, impl, oracleSummary, sameDequantized, sparseImatrix, type ImatrixVariant } from './oracle-cases.js';

const oracle = requireOracle();

const TYPES = oracleFamily('symmetric').map((t) => t.layout.type);
const HAS_IMATRIX_PATH = new Set(oracleFamily('symmetric').filter((t) => t.imatrix !== 'ignored').map((t) => t.layout.type));
const NROWS = 3;

const summary = oracleSummary('symmetric', oracle);

function rowLengths(type: GgmlType): number[] {
  const { blockSize } = typeLayout(type);
  if (blockSize >= 256) return [blockSize, 2 * blockSize, 3 * blockSize];
  if (blockSize > 1) return [blockSize, 2 * blockSize, 256, 512];
  return [1, 31, 256];
}

function imatrices(nPerRow: number): ImatrixVariant[] {
  return [
    ['none', null],
    ['generated', generateImatrix(nPerRow, nPerRow)],
    ['ones', new Float32Array(nPerRow).fill(1)],
    ['sparse', sparseImatrix(nPerRow, nPerRow + 17)],
  ];
}

const compare = (type: GgmlType, src: Float32Array, nrows: number, nPerRow: number, imatrix: Float32Array | null) =>
  compareWithOracle(oracle!, summary, type, src, nrows, nPerRow, imatrix);

describe.skipIf(!oracle)('symmetric quantizers match llama.cpp byte for byte', () => {
  for (const type of TYPES) {
    const name = typeLayout(type).name;
    it(`${name}: every distribution, row length and imatrix`, () => {
      const failures: string[] = [];
      const ims = (nPerRow: number) => (HAS_IMATRIX_PATH.has(type) ? imatrices(nPerRow) : imatrices(nPerRow).slice(0, 2));
      forEachOracleCase(rowLengths(type).map((n) => [NROWS, n] as const), ims, (c) => {
        for (const p of compare(type, c.src, c.nrows, c.nPerRow, c.im)) failures.push(`${c.label}: ${p}`);
      });
      expect(failures.slice(0, 10)).toEqual([]);
    });
  }

  it('volume: 64 rows of 4096 for each type, three distributions, with and without imatrix', () => {
    const failures: string[] = [];
    for (const type of TYPES) {
      for (const dist of ['gauss', 'laplace', 'student-t'] as const) {
        const src = generate(dist, 64, 4096, 11);
        for (const im of [null, generateImatrix(4096, 12)]) {
          for (const p of compare(type, src, 64, 4096, im)) failures.push(`${typeLayout(type).name} ${dist} imatrix=${!!im}: ${p}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('F16/BF16: special values and NaN payloads convert as ggml does', () => {
    const specials = [0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0xff812345,
      0x7fbfffff, 0x00000001, 0x807fffff, 0x477ff000, 0x477fefff, 0x33000000, 0x33000001, 0x387fe000, 0x7f7fffff];
    const src = new Float32Array(new Uint32Array(specials).buffer);
    for (const type of [GgmlType.F16, GgmlType.BF16]) {
      expect(compare(type, src, 1, src.length, null)).toEqual([]);
    }
  });

  it('F16/BF16: every 16-bit pattern dequantizes as ggml does', () => {
    const all = new Uint8Array(2 * 65536);
    for (let h = 0; h < 65536; h++) { all[2 * h] = h & 255; all[2 * h + 1] = h >>> 8; }
    for (const type of [GgmlType.F16, GgmlType.BF16]) {
      const ours = new Float32Array(65536);
      dequantizeRows(impl(type), all, ours, 65536);
      const theirs = oracle!.dequantizeRow(type, all, 65536);
      expect(firstDiff(bitsOf(ours), bitsOf(theirs), 1, typeLayout(type).name)).toBeNull();
    }
  });

  it('dequantizers read random blocks, including Inf/NaN scales, as ggml does', () => {
    const r = rng(99);
    const specialScales = [0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7c01, 0xfd55, 0x0001, 0x8000, 0x0000, 0x7bff];
    for (const type of TYPES.filter((t) => typeLayout(t).blockSize > 1)) {
      const { typeSize, blockSize, name, fp16Fields } = typeLayout(type);
      const nb = 64;
      const bytes = new Uint8Array(nb * typeSize);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
      for (const dOff of fp16Fields.slice(0, 1)) {
        specialScales.forEach((h, b) => { bytes[b * typeSize + dOff] = h & 255; bytes[b * typeSize + dOff + 1] = h >>> 8; });
      }
      expect(sameDequantized(oracle!, type, bytes, nb * blockSize, summary, name)).toBeNull();
    }
  });

  it('all-zero input gives the spec §2.10 quick vectors', () => {
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    const expected: Record<number, string> = {
      [GgmlType.Q4_0]: '0080' + '88'.repeat(16),
      [GgmlType.Q5_0]: '0080' + 'ffffffff' + '00'.repeat(16),
      [GgmlType.Q8_0]: '00'.repeat(34),
      [GgmlType.Q3_K]: '00'.repeat(110),
      [GgmlType.Q6_K]: '00'.repeat(210),
    };
    for (const [t, want] of Object.entries(expected)) {
      const type = Number(t) as GgmlType;
      const q = impl(type).layout;
      for (const im of [null, generateImatrix(q.blockSize, 5)]) {
        if (im && !HAS_IMATRIX_PATH.has(type)) continue;
        const out = new Uint8Array(q.typeSize);
        quantizeChunk(type, new Float32Array(q.blockSize), out, 1, q.blockSize, im);
        // the imatrix path of Q4_0/Q5_0 returns scale +0 from the search, unlike the reference's 0/-8 = -0
        const w = im && (type === GgmlType.Q4_0 || type === GgmlType.Q5_0) ? hex(oracle!.quantizeChunk(type, new Float32Array(q.blockSize), 1, q.blockSize, im)) : want;
        expect(hex(out), `${q.name} imatrix=${!!im}`).toBe(w);
        if (!im) expect(hex(oracle!.quantizeChunk(type, new Float32Array(q.blockSize), 1, q.blockSize, null))).toBe(want);
      }
    }
  });
});

describe('quantizer argument checks', () => {
  for (const type of TYPES) {
    const { name, blockSize, typeSize } = typeLayout(type);
    it(`${name}: exact output size, RangeError on a partial block or a wrong buffer`, () => {
      const q = impl(type);
      const quantize = (s: Float32Array, d: Uint8Array, nrows: number, n: number) => quantizeChunk(q, s, d, nrows, n, null);
      const nPerRow = 2 * blockSize;
      const src = generate('gauss', 2, nPerRow, 4);
      const dst = new Uint8Array(2 * 2 * typeSize);
      quantize(src, dst, 2, nPerRow);
      if (oracle) expect(dst.length).toBe(oracle.rowSize(type, nPerRow) * 2);
      if (blockSize > 1) {
        expect(() => quantize(src, new Uint8Array(dst.length), 1, nPerRow + 1)).toThrow(RangeError);
        expect(() => quantize(src, new Uint8Array(dst.length), 1, nPerRow + 1)).toThrow(/not a multiple of the block size/);
        expect(() => dequantizeRows(q, dst, new Float32Array(nPerRow), nPerRow - 1)).toThrow(RangeError);
      }
      expect(() => quantize(src, new Uint8Array(dst.length + 1), 2, nPerRow)).toThrow(RangeError);
      expect(() => quantize(src, new Uint8Array(dst.length), 3, nPerRow)).toThrow(RangeError);
    });
  }
});
