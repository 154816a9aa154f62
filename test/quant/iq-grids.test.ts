/**
 * The i-quant grids (src/quant/iq-grids.ts): the dequantization values derived from our level keys must be
 * the ones llama.cpp's own dequantizers read (each grid point is encoded into blocks and dequantized by the
 * oracle), the parity sign table must be ksigns_iq2xs, and the neighbour lists must give the spec §2.6.2
 * sanity numbers over ggml's whole key space and agree with an independent sort-based construction.
 */
import { describe, expect, it } from 'vitest';
import { iqGrid, KSIGNS_IQ2XS, type IqGridName } from '../../src/quant/iq-grids.js';
import { GgmlType } from '../../src/core/ggml-type.js';
import { loadOracle, oracleUnavailable } from '../oracle/llama-cpp.js';
import { requireOracle } from '../oracle/require-oracle.js';

const oracle = requireOracle();
if (!oracle) console.log(oracleUnavailable);

const FP16_ONE = 0x3c00;

interface Encoding {
  type: GgmlType;
  blockBytes: number;
  /** grid indices one block holds */
  perBlock: number;
  /** writes point `idx` into group `g` of the block at `o` (d = 1, scale codes 0, signs +) */
  put(b: Uint8Array, o: number, g: number, idx: number): void;
  /** dequantized value of grid byte v in these blocks */
  value(v: number): number;
}

const ENCODINGS: Record<IqGridName, Encoding> = {
  iq2xxs: {
    type: GgmlType.IQ2_XXS, blockBytes: 66, perBlock: 32,
    put: (b, o, g, idx) => { b[o + 2 + 8 * (g >> 2) + (g & 3)] = idx; },
    value: (v) => 0.125 * v,
  },
  iq2xs: {
    type: GgmlType.IQ2_XS, blockBytes: 74, perBlock: 32,
    put: (b, o, g, idx) => { b[o + 2 + 2 * g] = idx & 255; b[o + 3 + 2 * g] = idx >> 8; },
    value: (v) => 0.125 * v,
  },
  iq2s: {
    type: GgmlType.IQ2_S, blockBytes: 82, perBlock: 32,
    put: (b, o, g, idx) => { b[o + 2 + g] = idx & 255; b[o + 66 + (g >> 2)] |= (idx >> 8) << (2 * (g & 3)); },
    value: (v) => 0.125 * v,
  },
  iq1s: {
    type: GgmlType.IQ1_S, blockBytes: 50, perBlock: 32,
    put: (b, o, g, idx) => { b[o + 2 + g] = idx & 255; const q = o + 34 + 2 * (g >> 2); const h = ((b[q] | (b[q + 1] << 8)) | ((idx >> 8) << (3 * (g & 3)))); b[q] = h & 255; b[q + 1] = h >> 8; },
    value: (v) => v + 0.125,
  },
  iq3xxs: {
    type: GgmlType.IQ3_XXS, blockBytes: 98, perBlock: 64,
    put: (b, o, g, idx) => { b[o + 2 + g] = idx; },
    value: (v) => 0.25 * v,
  },
  iq3s: {
    type: GgmlType.IQ3_S, blockBytes: 110, perBlock: 64,
    put: (b, o, g, idx) => { b[o + 2 + g] = idx & 255; b[o + 66 + (g >> 3)] |= (idx >> 8) << (g & 7); },
    value: (v) => v,
  },
};

/** spec §2.6.2 table */
const SANITY: Record<IqGridName, { size: number; keySpace: number; nwant: number; offGrid: number; total: number; maxLen: number }> = {
  iq2xxs: { size: 256, keySpace: 43692, nwant: 2, offGrid: 43436, total: 373964, maxLen: 150 },
  iq2xs: { size: 512, keySpace: 43692, nwant: 2, offGrid: 43180, total: 508542, maxLen: 292 },
  iq2s: { size: 1024, keySpace: 43692, nwant: 1, offGrid: 42668, total: 166432, maxLen: 70 },
  iq1s: { size: 2048, keySpace: 43692, nwant: 3, offGrid: 41644, total: 1333695, maxLen: 205 },
  iq3xxs: { size: 256, keySpace: 4096, nwant: 2, offGrid: 3840, total: 18985, maxLen: 36 },
  iq3s: { size: 512, keySpace: 4096, nwant: 3, offGrid: 3584, total: 24733, maxLen: 38 },
};

const NAMES = Object.keys(SANITY) as IqGridName[];

/** Independent §2.6.2 construction: sort every point by (d2, index), keep the nwant smallest distinct d2. */
function sortedNeighbours(name: IqGridName, key: number): number[] {
  const g = iqGrid(name);
  const p: number[] = [];
  for (let i = 0; i < g.dim; i++) p.push(2 * ((key >> (g.bits * i)) & ((1 << g.bits) - 1)) + 1);
  const all: [number, number][] = [];
  for (let j = 0; j < g.size; j++) {
    let d2 = 0;
    for (let i = 0; i < g.dim; i++) d2 += (2 * g.levels[j * g.dim + i] + 1 - p[i]) ** 2;
    all.push([d2, j]);
  }
  all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: number[] = [];
  let distinct = 0;
  let last = -1;
  for (const [d2, j] of all) {
    if (d2 !== last) {
      if (distinct === g.nwant) break;
      distinct++;
      last = d2;
    }
    out.push(j);
  }
  return out;
}

describe('i-quant grids', () => {
  for (const name of NAMES) {
    it(`${name}: neighbour lists over ggml's whole key space give the spec §2.6.2 numbers`, () => {
      const g = iqGrid(name);
      const want = SANITY[name];
      expect([g.size, g.keySpace, g.nwant, g.levels.length]).toEqual([want.size, want.keySpace, want.nwant, want.size * g.dim]);
      let offGrid = 0;
      let total = 0;
      let maxLen = 0;
      for (let key = 0; key < g.keySpace; key++) {
        if (g.onGrid(key) >= 0) continue;
        offGrid++;
        const n = g.neighbours(key).length;
        total += n;
        if (n > maxLen) maxLen = n;
      }
      expect({ offGrid, total, maxLen }).toEqual({ offGrid: want.offGrid, total: want.total, maxLen: want.maxLen });
      // every point maps back to itself
      for (let j = 0; j < g.size; j++) {
        let key = 0;
        for (let i = 0; i < g.dim; i++) key |= g.levels[j * g.dim + i] << (g.bits * i);
        expect(g.onGrid(key)).toBe(j);
      }
    });

    it(`${name}: neighbour lists equal a sort-based construction on a deterministic sample of keys`, () => {
      const g = iqGrid(name);
      let checked = 0;
      for (let key = 7; key < g.keySpace; key += 37) {
        if (g.onGrid(key) >= 0) continue;
        expect(Array.from(g.neighbours(key)), `key ${key}`).toEqual(sortedNeighbours(name, key));
        checked++;
      }
      expect(checked).toBeGreaterThan(g.keySpace === 4096 ? 90 : 1100);
      expect(() => g.neighbours(g.keys[0])).toThrow(/on the grid/);
    });
  }

  it('KSIGNS_IQ2XS completes each 7-bit code to an even number of set bits', () => {
    expect(KSIGNS_IQ2XS.length).toBe(128);
    expect(Array.from(KSIGNS_IQ2XS.slice(0, 8))).toEqual([0, 129, 130, 3, 132, 5, 6, 135]);
    for (let c = 0; c < 128; c++) {
      let ones = 0;
      for (let b = 0; b < 8; b++) ones += (KSIGNS_IQ2XS[c] >> b) & 1;
      expect(ones % 2).toBe(0);
      expect(KSIGNS_IQ2XS[c] & 127).toBe(c);
    }
  });
});

describe.skipIf(!oracle)('i-quant grids against llama.cpp dequantizers', () => {
  for (const name of NAMES) {
    it(`${name}: every point's values are what llama.cpp dequantizes`, () => {
      const g = iqGrid(name);
      const enc = ENCODINGS[name];
      const nb = g.size / enc.perBlock;
      const bytes = new Uint8Array(nb * enc.blockBytes);
      for (let b = 0; b < nb; b++) {
        const o = b * enc.blockBytes;
        bytes[o] = FP16_ONE & 255; // d = 1 at offset 0 in all six layouts
        bytes[o + 1] = FP16_ONE >> 8;
        for (let k = 0; k < enc.perBlock; k++) enc.put(bytes, o, k, b * enc.perBlock + k);
      }
      const y = oracle!.dequantizeRow(enc.type, bytes, nb * 256);
      let mismatches = 0;
      let first = '';
      for (let j = 0; j < g.size; j++) {
        for (let i = 0; i < g.dim; i++) {
          const want = y[j * g.dim + i];
          const got = enc.value(g.values[j * g.dim + i]);
          if (want !== got) {
            mismatches++;
            if (!first) first = `point ${j} coordinate ${i}: ours ${got}, llama.cpp ${want}`;
          }
        }
      }
      expect(first).toBe('');
      expect(mismatches).toBe(0);
    });
  }

  it('ksigns: IQ2_XXS sign codes 0..127 negate the elements llama.cpp negates', () => {
    // 128 codes, 4 groups per 32 values: 32 sub-blocks = 4 blocks, all on point 0 (magnitudes 8)
    const bytes = new Uint8Array(4 * 66);
    for (let c = 0; c < 128; c++) {
      const b = c >> 5;
      const ib = (c >> 2) & 7;
      const k = c & 3;
      const o = b * 66;
      bytes[o] = FP16_ONE & 255; bytes[o + 1] = FP16_ONE >> 8;
      const w = o + 2 + 8 * ib + 4;
      const cur = bytes[w] | (bytes[w + 1] << 8) | (bytes[w + 2] << 16) | (bytes[w + 3] << 24);
      const v = (cur | (c << (7 * k))) >>> 0;
      bytes[w] = v & 255; bytes[w + 1] = (v >>> 8) & 255; bytes[w + 2] = (v >>> 16) & 255; bytes[w + 3] = v >>> 24;
    }
    const y = oracle!.dequantizeRow(GgmlType.IQ2_XXS, bytes, 4 * 256);
    for (let c = 0; c < 128; c++) {
      for (let i = 0; i < 8; i++) {
        const neg = (KSIGNS_IQ2XS[c] >> i) & 1;
        expect(y[c * 8 + i], `code ${c} element ${i}`).toBe(neg ? -1 : 1);
      }
    }
  });
});
