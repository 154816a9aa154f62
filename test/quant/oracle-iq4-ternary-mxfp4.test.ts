/**
 * IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, MXFP4, Q1_0, Q2_0 against llama.cpp v0.5.0 itself: quantized bytes equal
 * `ggml_quantize_chunk`'s and dequantized floats equal `dequantize_row_*`'s bit for bit, for every seeded
 * distribution, several row lengths, with no imatrix and five kinds of imatrix. IQ4_* use the imatrix;
 * the others ignore it (their bytes with any imatrix must equal their bytes without one).
 */
import { describe, expect, it } from 'vitest';
import { oracleUnavailable } from '../oracle/llama-cpp.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { DISTRIBUTIONS, generate, generateImatrix, rng } from '../data/distributions.js';
import { iq4HalfwayTies, mxfp4HalfwayTies } from '../data/halfway-ties.js';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { quantizeChunk } from '../../src/quant/registry.js';
import { compareWithOracle, firstDiff, forEachOracleCase, impl, oracleSummary, sameDequantized, sparseImatrix } from './oracle-cases.js';

const oracle = requireOracle();
if (!oracle) console.log(oracleUnavailable);

const TYPES = [GgmlType.IQ4_NL, GgmlType.IQ4_XS, GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.MXFP4, GgmlType.Q1_0, GgmlType.Q2_0];
const USES_IMATRIX = new Set([GgmlType.IQ4_NL, GgmlType.IQ4_XS]);
const NROWS = 3;

const summary = oracleSummary('iq4/ternary/mxfp4/q1_0/q2_0', oracle);

function rowLengths(type: GgmlType): number[] {
  const { blockSize } = typeLayout(type);
  return blockSize === 256 ? [256, 512, 768] : [blockSize, 2 * blockSize, 256, 512];
}

type ImatrixKind = 'none' | 'generated' | 'ones' | 'sparse' | 'all-zero' | 'signed';
const IMATRIX_KINDS: ImatrixKind[] = ['none', 'generated', 'ones', 'sparse', 'all-zero', 'signed'];

function imatrixFor(kind: ImatrixKind, n: number, seed: number): Float32Array | null {
  if (kind === 'none') return null;
  if (kind === 'generated') return generateImatrix(n, seed);
  if (kind === 'ones') return new Float32Array(n).fill(1);
  if (kind === 'all-zero') return new Float32Array(n);
  if (kind === 'signed') {
    // not a real imatrix, but ggml_quantize_chunk accepts it: negative weights reach negative sums
    const r = rng(seed + 17);
    const w = generateImatrix(n, seed);
    for (let i = 0; i < n; i++) if (r() < 0.3) w[i] = -w[i];
    return w;
  }
  // mostly zero columns, a few strong ones: whole 32-blocks end up with zero weight
  return sparseImatrix(n, seed + 17);
}

/**
 * Quantizes with both and compares bytes (for a type that ignores the imatrix, ours must equal ours without
 * one), then dequantizes llama.cpp's bytes with both and compares bits.
 */
function compare(type: GgmlType, src: Float32Array, nrows: number, nPerRow: number, imatrix: Float32Array | null): string[] {
  return compareWithOracle(oracle!, summary, type, src, nrows, nPerRow, imatrix, (ours) => {
    if (!imatrix || USES_IMATRIX.has(type)) return null;
    const plain = new Uint8Array(ours.length);
    quantizeChunk(impl(type), src, plain, nrows, nPerRow, null);
    return firstDiff(ours, plain, impl(type).layout.typeSize, 'imatrix not ignored');
  });
}

describe.skipIf(!oracle)('IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, MXFP4, Q1_0, Q2_0 match llama.cpp byte for byte', () => {
  for (const type of TYPES) {
    const name = typeLayout(type).name;
    it(`${name}: every distribution, row length and imatrix`, () => {
      const failures: string[] = [];
      const ims = (nPerRow: number, seed: number) => IMATRIX_KINDS.map((kind) => [kind, imatrixFor(kind, nPerRow, seed)] as [string, Float32Array | null]);
      const cases = forEachOracleCase(rowLengths(type).map((n) => [NROWS, n] as const), ims, (c) => {
        for (const p of compare(type, c.src, c.nrows, c.nPerRow, c.im)) failures.push(`${c.label}: ${p}`);
      });
      expect(failures.slice(0, 10)).toEqual([]);
      expect(cases).toBe(rowLengths(type).length * (DISTRIBUTIONS.length + 1) * IMATRIX_KINDS.length);
    });
  }

  it('volume: 32 rows of 4096 for each type, three distributions, with and without imatrix', () => {
    const failures: string[] = [];
    for (const type of TYPES) {
      for (const dist of ['gauss', 'laplace', 'student-t'] as const) {
        const src = generate(dist, 32, 4096, 11);
        for (const im of [null, generateImatrix(4096, 12)]) {
          for (const p of compare(type, src, 32, 4096, im)) failures.push(`${typeLayout(type).name} ${dist} imatrix=${!!im}: ${p}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('MXFP4: block maxima at and just below every power of two (floorf(log2f) edges, wrapped exponents)', () => {
    const values: number[] = [];
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    for (let e = 1; e < 255; e++) {
      // log2f rounds up to the next integer for up to 44 significands below a power of two
      for (let delta = 1; delta >= -50; delta--) {
        u32[0] = (e << 23) + delta;
        values.push(f32[0]);
      }
    }
    for (let k = 0; k < 23; k++) values.push(2 ** -149 * (1 << k), 2 ** -149 * ((1 << k) - 1 || 1));
    const nb = values.length;
    const src = new Float32Array(nb * 32);
    const r = rng(5);
    for (let b = 0; b < nb; b++) {
      for (let j = 0; j < 32; j++) src[b * 32 + j] = values[b] * (r() * 2 - 1);
      src[b * 32 + (b % 32)] = b % 2 ? values[b] : -values[b];
    }
    expect(compare(GgmlType.MXFP4, src, 1, src.length, null)).toEqual([]);
  });

  it('TQ1_0, TQ2_0, Q2_0, Q1_0: blocks so small that 1/d overflows, and exact ±half ties', () => {
    for (const type of [GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.Q2_0, GgmlType.Q1_0]) {
      const { blockSize } = typeLayout(type);
      const nb = 8;
      const src = new Float32Array(nb * blockSize);
      const r = rng(type);
      for (let b = 0; b < nb; b++) {
        const scale = [1e-45, 3e-43, 2e-39, 1, 0.5, 4, 1e-40, 7][b];
        for (let j = 0; j < blockSize; j++) {
          // multiples of scale/2 give exact .5 ties for x·(1/d)
          src[b * blockSize + j] = b < 3 || b === 6 ? (r() * 2 - 1) * scale : (Math.floor(r() * 5) - 2) * scale / 2;
        }
        if (b >= 3 && b !== 6) src[b * blockSize] = scale;
      }
      expect(compare(type, src, 1, src.length, null), typeLayout(type).name).toEqual([]);
    }
  });

  it('IQ4_NL, IQ4_XS, MXFP4: values exactly halfway between two levels (ties go up for IQ4, to the first for MXFP4)', () => {
    const { src, imatrix } = iq4HalfwayTies(2, 256);
    for (const type of [GgmlType.IQ4_NL, GgmlType.IQ4_XS]) {
      expect(compare(type, src, 2, 256, imatrix), typeLayout(type).name).toEqual([]);
    }
    expect(compare(GgmlType.MXFP4, mxfp4HalfwayTies(2), 1, 64, null)).toEqual([]);
  });

  it('dequantizers read random blocks, including Inf/NaN scales, as ggml does', () => {
    const r = rng(99);
    const specialScales = [0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7c01, 0xfd55, 0x0001, 0x8000, 0x0000, 0x7bff];
    const dOffset: Record<number, number> = { [GgmlType.TQ1_0]: 52, [GgmlType.TQ2_0]: 64 };
    for (const type of TYPES) {
      const q = impl(type);
      const nb = 64;
      const bytes = new Uint8Array(nb * q.layout.typeSize);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
      if (type !== GgmlType.MXFP4) {
        const dOff = dOffset[type] ?? 0;
        specialScales.forEach((h, b) => { bytes[b * q.layout.typeSize + dOff] = h & 255; bytes[b * q.layout.typeSize + dOff + 1] = h >>> 8; });
      } else {
        [0, 1, 2, 127, 128, 254, 255].forEach((e, b) => { bytes[b * q.layout.typeSize] = e; });
      }
      expect(sameDequantized(oracle!, type, bytes, nb * q.layout.blockSize, summary, q.layout.name)).toBeNull();
    }
  });

  it('all-zero input gives the spec §2.10 quick vectors (and llama.cpp agrees)', () => {
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    const expected: Record<number, string> = {
      [GgmlType.IQ4_NL]: '0000' + '88'.repeat(16),
      [GgmlType.IQ4_XS]: '0080' + 'aaaa' + '00'.repeat(4) + '88'.repeat(128),
      [GgmlType.TQ1_0]: '80'.repeat(48) + '7f'.repeat(4) + '0000',
      [GgmlType.TQ2_0]: '55'.repeat(64) + '0000',
    };
    for (const [t, want] of Object.entries(expected)) {
      const type = Number(t) as GgmlType;
      const q = impl(type);
      for (const im of [null, generateImatrix(q.layout.blockSize, 5)]) {
        const out = new Uint8Array(q.layout.typeSize);
        quantizeChunk(q, new Float32Array(q.layout.blockSize), out, 1, q.layout.blockSize, im);
        expect(hex(out), `${q.layout.name} imatrix=${!!im}`).toBe(want);
        expect(hex(oracle!.quantizeChunk(type, new Float32Array(q.layout.blockSize), 1, q.layout.blockSize, im))).toBe(want);
      }
    }
  });
});
