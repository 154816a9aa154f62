/**
 * What the oracle test files share (oracle-symmetric, oracle-iq1, oracle-iq-grid, oracle-iq4-ternary-mxfp4):
 * the sweep of seeded sources (every distribution, then random finite bit patterns) over row shapes and
 * imatrix variants, and the comparison of one case with llama.cpp: our bytes against `ggml_quantize_chunk`'s,
 * then llama.cpp's bytes dequantized by both, bit for bit, counted into the file's summary line.
 */
import { afterAll } from 'vitest';
import type { Oracle } from '../oracle/llama-cpp.js';
import { DISTRIBUTIONS, generate, rng } from '../data/distributions.js';
import { type GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { dequantizeRows, quantType, quantizeChunk, type QuantTraits } from '../../src/quant/registry.js';

export function impl(type: GgmlType): QuantTraits {
  const q = quantType(type);
  if (!q) throw new Error(`no CPU quantizer registered for ${typeLayout(type).name}`);
  return q;
}

/** Finite binary32 values from random bit patterns: every exponent, subnormals, values near FLT_MAX. */
export function randomFinite(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let b: number;
    do b = Math.floor(r() * 4294967296) >>> 0; while ((b & 0x7f800000) === 0x7f800000);
    bits[i] = b;
  }
  return new Float32Array(bits.buffer);
}

/** Describes the first difference, or returns null when the arrays are identical. */
export function firstDiff(ours: Uint8Array | Uint32Array, theirs: Uint8Array | Uint32Array, unit: number, what: string): string | null {
  if (ours.length !== theirs.length) return `${what}: length ${ours.length} vs ${theirs.length}`;
  for (let i = 0; i < ours.length; i++) {
    if (ours[i] !== theirs[i]) {
      let count = 0;
      for (let k = i; k < ours.length; k++) if (ours[k] !== theirs[k]) count++;
      return `${what}: ${count} differences, first at index ${i} (block ${Math.floor(i / unit)}, byte ${i % unit}): ours ${ours[i].toString(16)}, llama.cpp ${theirs[i].toString(16)}`;
    }
  }
  return null;
}

export const bitsOf = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** Mostly zero columns, a few strong ones (1 .. 101), from rng(seed). */
export function sparseImatrix(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = r() < 0.1 ? 1 + 100 * r() : 0;
  return w;
}

export interface OracleSummary {
  quantizeCases: number;
  quantizeSame: number;
  quantizeBytes: number;
  dequantizeCases: number;
  dequantizeSame: number;
  dequantizeValues: number;
}

/** The file's running counts, logged after its tests as `<label> oracle: …` (then `; more()` when given). */
export function oracleSummary(label: string, oracle: Oracle | null, more?: () => string): OracleSummary {
  const s: OracleSummary = { quantizeCases: 0, quantizeSame: 0, quantizeBytes: 0, dequantizeCases: 0, dequantizeSame: 0, dequantizeValues: 0 };
  afterAll(() => {
    if (oracle) {
      console.log(`${label} oracle: quantize ${s.quantizeSame}/${s.quantizeCases} cases identical ` +
        `(${s.quantizeBytes} bytes), dequantize ${s.dequantizeSame}/${s.dequantizeCases} cases identical ` +
        `(${s.dequantizeValues} values)${more ? `; ${more()}` : ''}`);
    }
  });
  return s;
}

/** Dequantizes `bytes` (n values) with ours and llama.cpp's, counts the case; the difference or null. */
export function sameDequantized(oracle: Oracle, type: GgmlType, bytes: Uint8Array, n: number, summary: OracleSummary, what = 'dequantize'): string | null {
  const q = impl(type);
  const theirs = oracle.dequantizeRow(type, bytes, n);
  const ours = new Float32Array(n);
  dequantizeRows(q, bytes, ours, n);
  summary.dequantizeCases++;
  summary.dequantizeValues += n;
  const diff = firstDiff(bitsOf(ours), bitsOf(theirs), q.layout.blockSize, what);
  if (!diff) summary.dequantizeSame++;
  return diff;
}

/**
 * One case against llama.cpp: quantizes with ours first (into garbage: every byte must be written; a throw
 * propagates before llama.cpp is called), then with `ggml_quantize_chunk`, compares the bytes, runs `extra`
 * on ours (a further check of the file's, or null), then dequantizes llama.cpp's bytes with both and
 * compares the bits. Returns the differences found.
 */
export function compareWithOracle(
  oracle: Oracle, summary: OracleSummary, type: GgmlType, src: Float32Array, nrows: number, nPerRow: number,
  imatrix: Float32Array | null, extra?: (ours: Uint8Array) => string | null,
): string[] {
  const q = impl(type);
  const problems: string[] = [];
  const ours = new Uint8Array(oracle.rowSize(type, nPerRow) * nrows).fill(0xa5);
  quantizeChunk(q, src, ours, nrows, nPerRow, imatrix);
  const theirs = oracle.quantizeChunk(type, src, nrows, nPerRow, imatrix);
  summary.quantizeCases++;
  summary.quantizeBytes += ours.length;
  const qd = firstDiff(ours, theirs, q.layout.typeSize, 'quantize');
  if (qd) problems.push(qd);
  else summary.quantizeSame++;
  const ed = extra?.(ours);
  if (ed) problems.push(ed);
  const dd = sameDequantized(oracle, type, theirs, nrows * nPerRow, summary);
  if (dd) problems.push(dd);
  return problems;
}

export type ImatrixVariant = [name: string, imatrix: Float32Array | null];

/** One case of the sweep; `label` names it in a failure. */
export interface OracleCase {
  dist: string;
  src: Float32Array;
  nrows: number;
  nPerRow: number;
  imName: string;
  im: Float32Array | null;
  label: string;
}

/**
 * The sweep: for each [nrows, nPerRow] shape in turn, every distribution and then random finite bit patterns
 * (seeded 1, 2, … across all the shapes' sources), each with every imatrix variant of `imatrices(nPerRow,
 * seed)` (seed: the next one after the shape's sources). Calls `body` per case; returns the number of cases.
 */
export function forEachOracleCase(
  shapes: readonly (readonly [nrows: number, nPerRow: number])[],
  imatrices: (nPerRow: number, seed: number) => ImatrixVariant[],
  body: (c: OracleCase) => void,
): number {
  let seed = 1;
  let cases = 0;
  for (const [nrows, nPerRow] of shapes) {
    const sources: [string, Float32Array][] = DISTRIBUTIONS.map((d) => [d, generate(d, nrows, nPerRow, seed++)]);
    sources.push(['random-finite-bits', randomFinite(nrows * nPerRow, seed++)]);
    const ims = imatrices(nPerRow, seed);
    for (const [dist, src] of sources) {
      for (const [imName, im] of ims) {
        body({ dist, src, nrows, nPerRow, imName, im, label: `${dist} ${nrows}x${nPerRow} imatrix=${imName}` });
        cases++;
      }
    }
  }
  return cases;
}
