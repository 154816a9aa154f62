/**
 * IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S against llama.cpp v0.5.0 itself: quantized bytes must equal
 * `ggml_quantize_chunk`'s and dequantized floats `dequantize_row_*`'s bit for bit, on every seeded
 * distribution, several row lengths and row counts, without an imatrix (where ggml has that path) and with
 * five kinds of imatrix (generated, all ones, sparse with zeros, all zero, zero for whole 256-blocks).
 */
import { describe, expect, it } from 'vitest';
import { oracleUnavailable } from '../oracle/llama-cpp.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { generate, generateImatrix, rng } from '../data/distributions.js';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { quantizeChunk } from '../../src/quant/registry.js';
import { oracleFamily } from './oracle-family.js';
import { UsageError } from '../../src/errors.js';
import { GridSearchOverflowError } from '../../src/quant/iq-search.js';
import { probeOracleCall } from '../oracle/abort-probe-run.js';
import { compareWithOracle, forEachOracleCase, impl, oracleSummary, sameDequantized, sparseImatrix, type ImatrixVariant } from './oracle-cases.js';

const oracle = requireOracle();
if (!oracle) console.log(oracleUnavailable);

const TYPES = oracleFamily('iq-grid').map((t) => t.layout.type);
/** ggml_quantize_requires_imatrix ('required'): ggml_quantize_chunk asserts (aborts the process) without one */
const REQUIRES_IMATRIX = new Set(oracleFamily('iq-grid').filter((t) => t.imatrix === 'required').map((t) => t.layout.type));
/** cases (of 90) where llama.cpp aborts in the neighbour search and we refuse (counted once, then fixed) */
const OVERFLOW_CASES: Record<number, number> = {
  [GgmlType.IQ2_XXS]: 0, [GgmlType.IQ2_XS]: 15, [GgmlType.IQ2_S]: 18, [GgmlType.IQ3_XXS]: 18, [GgmlType.IQ3_S]: 18,
};
/** (row count, row length) */
const SHAPES: [number, number][] = [[5, 256], [3, 512], [2, 768]];

const overflow = { cases: 0, probed: 0 };
const summary = oracleSummary('iq-grid', oracle, () => `${overflow.cases} cases refused as out of range (${overflow.probed} of them checked: llama.cpp aborts)`);

function imatrices(nPerRow: number, type: GgmlType): ImatrixVariant[] {
  const blockZero = generateImatrix(nPerRow, nPerRow + 5);
  blockZero.fill(0, 0, 256); // a whole super-block without importance
  const list: ImatrixVariant[] = [
    ['generated', generateImatrix(nPerRow, nPerRow)],
    ['ones', new Float32Array(nPerRow).fill(1)],
    ['sparse', sparseImatrix(nPerRow, nPerRow + 17)],
    ['all-zero', new Float32Array(nPerRow)],
    ['zero-block', blockZero],
  ];
  return REQUIRES_IMATRIX.has(type) ? list : [['none', null], ...list];
}

function compare(type: GgmlType, src: Float32Array, nrows: number, nPerRow: number, imatrix: Float32Array | null, probe = false): string[] {
  try {
    return compareWithOracle(oracle!, summary, type, src, nrows, nPerRow, imatrix);
  } catch (e) {
    if (!(e instanceof GridSearchOverflowError)) throw e;
    overflow.cases++;
    // llama.cpp aborts the process here; check that in a child process (a representative share of the cases)
    if (probe) {
      const r = probeOracleCall(type, src, nrows, nPerRow, imatrix);
      overflow.probed++;
      if (r.signal !== 'SIGABRT' || !r.output.includes('GGML_ASSERT(grid_index >= 0) failed')) {
        return [`we refused (${e.message}) but llama.cpp did not abort: ${r.status} ${r.signal} ${r.output.slice(0, 200)}`];
      }
    }
    return [];
  }
}

describe.skipIf(!oracle)('grid i-quants match llama.cpp byte for byte', () => {
  for (const type of TYPES) {
    const name = typeLayout(type).name;
    it(`${name}: every distribution, row length, row count and imatrix`, () => {
      const failures: string[] = [];
      const overflows: string[] = [];
      forEachOracleCase(SHAPES, (nPerRow) => imatrices(nPerRow, type), ({ dist, src, nrows, nPerRow, imName, im, label }) => {
        // each probe re-runs ggml's grid init in a fresh process (seconds): one Inf and one NaN case per type
        const probe = nPerRow === 256 && (imName === 'generated' || imName === 'all-zero');
        const overflow0 = overflow.cases;
        for (const p of compare(type, src, nrows, nPerRow, im, probe)) failures.push(`${label}: ${p}`);
        if (overflow.cases > overflow0) overflows.push(`${dist}/${imName}`);
      });
      expect(failures.slice(0, 10)).toEqual([]);
      // only random bit patterns (values up to FLT_MAX) are out of range, and only for some types
      expect(overflows.filter((c) => !c.startsWith('random-finite-bits/'))).toEqual([]);
      expect(overflows.length).toBe(OVERFLOW_CASES[type]);
    }, 600_000);
  }

  it('dequantizers read random blocks, including Inf/NaN scales, as ggml does', () => {
    const r = rng(99);
    const specialScales = [0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7c01, 0xfd55, 0x0001, 0x8000, 0x0000, 0x7bff];
    for (const type of TYPES) {
      const q = impl(type);
      const { typeSize, blockSize, name } = q.layout;
      const nb = 64;
      const bytes = new Uint8Array(nb * typeSize);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
      specialScales.forEach((h, b) => { bytes[b * typeSize] = h & 255; bytes[b * typeSize + 1] = h >>> 8; });
      expect(sameDequantized(oracle!, type, bytes, nb * blockSize, summary, name)).toBeNull();
    }
  });

  it('all-zero input gives all-zero blocks (spec §2.10), with and without imatrix', () => {
    for (const type of TYPES) {
      const q = impl(type);
      for (const [, im] of imatrices(256, type)) {
        const out = new Uint8Array(q.layout.typeSize).fill(0xaa);
        quantizeChunk(q, new Float32Array(256), out, 1, 256, im);
        expect(Buffer.from(out).toString('hex'), q.layout.name).toBe('00'.repeat(q.layout.typeSize));
      }
    }
  });
});

describe('imatrix-required types refuse a call without one', () => {
  for (const type of TYPES.filter((t) => REQUIRES_IMATRIX.has(t))) {
    it(`${typeLayout(type).name}: a UsageError that says how to get an imatrix`, () => {
      const q = impl(type);
      expect(q.imatrix).toBe('required');
      expect(q.quantizeRowRef).toBeUndefined();
      const run = () => quantizeChunk(q, generate('gauss', 1, 256, 3), new Uint8Array(q.layout.typeSize), 1, 256, null);
      expect(run).toThrow(UsageError);
      expect(run).toThrow(`${q.layout.name} (ggml_quantize_requires_imatrix) requires an importance matrix: compute one from calibration text with \`webgpu-quantize imatrix`);
    });
  }
});
