/**
 * IQ1_S and IQ1_M against llama.cpp v0.5.0 itself: quantized bytes must equal `ggml_quantize_chunk`'s and
 * dequantized floats `dequantize_row_iq1_s/m`'s bit for bit, on every seeded distribution (ties and discrete
 * levels decide the sort order of spec §3.5), random finite bit patterns, several row lengths and row counts,
 * and every imatrix variant: none (IQ1_M only: ggml asserts one for IQ1_S, and so do we), generated, all
 * ones, sparse with zeros, all zero.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { oracleUnavailable } from '../oracle/llama-cpp.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { DISTRIBUTIONS, generate, generateImatrix, rng } from '../data/distributions.js';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { dequantizeRows, quantType, quantizeChunk, type QuantTraits } from '../../src/quant/registry.js';
import { oracleFamily } from './oracle-family.js';

const oracle = requireOracle();
if (!oracle) console.log(oracleUnavailable);

const CHILD = fileURLToPath(new URL('./oracle-chunk-child.ts', import.meta.url));
const TYPES = oracleFamily('iq1').map((t) => t.layout.type);
const ROW_SHAPES: [nrows: number, nPerRow: number][] = [[1, 256], [3, 512], [2, 768]];

const summary = { quantizeCases: 0, quantizeSame: 0, quantizeBytes: 0, dequantizeCases: 0, dequantizeSame: 0, dequantizeValues: 0 };
afterAll(() => {
  if (oracle) {
    console.log(`iq1 oracle: quantize ${summary.quantizeSame}/${summary.quantizeCases} cases identical ` +
      `(${summary.quantizeBytes} bytes), dequantize ${summary.dequantizeSame}/${summary.dequantizeCases} cases identical ` +
      `(${summary.dequantizeValues} values)`);
  }
});

function impl(type: GgmlType): QuantTraits {
  const q = quantType(type);
  if (!q) throw new Error(`no CPU quantizer registered for ${typeLayout(type).name}`);
  return q;
}

function imatrices(type: GgmlType, nPerRow: number): [string, Float32Array | null][] {
  const sparse = new Float32Array(nPerRow);
  const r = rng(nPerRow + 17);
  for (let i = 0; i < nPerRow; i++) sparse[i] = r() < 0.1 ? 1 + 100 * r() : 0;
  const list: [string, Float32Array | null][] = [
    ['generated', generateImatrix(nPerRow, nPerRow)],
    ['ones', new Float32Array(nPerRow).fill(1)],
    ['sparse', sparse],
    ['all-zero', new Float32Array(nPerRow)],
  ];
  if (impl(type).imatrix !== 'required') list.unshift(['none', null]);
  return list;
}

/** Finite binary32 values from random bit patterns: every exponent, subnormals, values near FLT_MAX. */
function randomFinite(n: number, seed: number): Float32Array {
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
function firstDiff(ours: Uint8Array | Uint32Array, theirs: Uint8Array | Uint32Array, unit: number, what: string): string | null {
  if (ours.length !== theirs.length) return `${what}: length ${ours.length} vs ${theirs.length}`;
  for (let i = 0; i < ours.length; i++) {
    if (ours[i] !== theirs[i]) {
      let count = 0;
      for (let k = i; k < ours.length; k++) if (ours[k] !== theirs[k]) count++;
      return `${what}: ${count} differences, first at index ${i} (block ${Math.floor(i / unit)}): ours ${ours[i].toString(16)}, llama.cpp ${theirs[i].toString(16)}`;
    }
  }
  return null;
}

/** Runs oracle-chunk-child.ts without blocking the test worker. */
function runChild(arg: string): Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // GGML_NO_BACKTRACE: ggml's abort would otherwise attach gdb, where installed, for a backtrace (tens of seconds)
    const c = spawn(process.execPath, ['--import', 'tsx', CHILD, arg], { env: { ...process.env, GGML_NO_BACKTRACE: '1' } });
    let stdout = '', stderr = '';
    c.stdout.on('data', (d) => { stdout += d; });
    c.stderr.on('data', (d) => { stderr += d; });
    c.on('error', reject);
    c.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

const bitsOf = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** Quantizes with both, compares bytes, then dequantizes llama.cpp's bytes with both and compares bits. */
function compare(type: GgmlType, src: Float32Array, nrows: number, nPerRow: number, imatrix: Float32Array | null): string[] {
  const q = impl(type);
  const problems: string[] = [];
  const theirs = oracle!.quantizeChunk(type, src, nrows, nPerRow, imatrix);
  const ours = new Uint8Array(oracle!.rowSize(type, nPerRow) * nrows).fill(0xa5); // garbage: every byte must be written
  quantizeChunk(q, src, ours, nrows, nPerRow, imatrix);
  summary.quantizeCases++;
  summary.quantizeBytes += ours.length;
  const qd = firstDiff(ours, theirs, q.layout.typeSize, 'quantize');
  if (qd) problems.push(qd);
  else summary.quantizeSame++;
  const n = nrows * nPerRow;
  const deqTheirs = oracle!.dequantizeRow(type, theirs, n);
  const deqOurs = new Float32Array(n);
  dequantizeRows(q, theirs, deqOurs, n);
  summary.dequantizeCases++;
  summary.dequantizeValues += n;
  const dd = firstDiff(bitsOf(deqOurs), bitsOf(deqTheirs), q.layout.blockSize, 'dequantize');
  if (dd) problems.push(dd);
  else summary.dequantizeSame++;
  return problems;
}

// a missing oracle on linux-x64 or under CI=true fails through requireOracle() above

describe.skipIf(!oracle)('IQ1_S / IQ1_M match llama.cpp byte for byte', () => {
  for (const type of TYPES) {
    const name = typeLayout(type).name;
    it(`${name}: every distribution, row shape and imatrix`, () => {
      const failures: string[] = [];
      let seed = 1;
      let cases = 0, aborts = 0;
      for (const [nrows, nPerRow] of ROW_SHAPES) {
        const sources: [string, Float32Array][] = DISTRIBUTIONS.map((d) => [d, generate(d, nrows, nPerRow, seed++)]);
        sources.push(['random-finite-bits', randomFinite(nrows * nPerRow, seed++)]);
        for (const [dist, src] of sources) {
          for (const [imName, im] of imatrices(type, nPerRow)) {
            cases++;
            if (dist === 'random-finite-bits' && !im) {
              // weights x² overflow to Inf, a sub-block scale becomes Inf/Inf: llama.cpp aborts (see below), we throw
              expect(() => quantizeChunk(type, src, new Uint8Array(impl(type).layout.typeSize * nrows * nPerRow / 256), nrows, nPerRow, im))
                .toThrow(/llama.cpp aborts here/);
              aborts++;
              continue;
            }
            for (const p of compare(type, src, nrows, nPerRow, im)) failures.push(`${dist} ${nrows}x${nPerRow} imatrix=${imName}: ${p}`);
          }
        }
      }
      expect(failures.slice(0, 10)).toEqual([]);
      // 15 sources x 3 shapes x (4 imatrices, + none for IQ1_M)
      expect(cases).toBe(type === GgmlType.IQ1_S ? 180 : 225);
      expect(aborts).toBe(type === GgmlType.IQ1_S ? 0 : 3);
    });
  }

  it('IQ1_M without imatrix on overflowing values: llama.cpp aborts (GGML_ASSERT scale >= 0) where we throw', async () => {
    const src = randomFinite(256, 15); // the 1x256 random-finite-bits source of the loop above (seed 15)
    const q = impl(GgmlType.IQ1_M);
    expect(() => quantizeChunk(q, src, new Uint8Array(q.layout.typeSize), 1, 256, null)).toThrow(/sub-block scale NaN.*llama.cpp aborts here/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-iq1-'));
    try {
      const file = path.join(dir, 'src.f32');
      fs.writeFileSync(file, new Uint8Array(src.buffer));
      // one child only: ggml_quantize_init builds every IQ1 neighbour list first (~10 s of CPU)
      const child = await runChild(JSON.stringify({ type: GgmlType.IQ1_M, file, nrows: 1, nPerRow: 256 }));
      expect(child.stderr).toMatch(/ggml-quants\.c:\d+: GGML_ASSERT\(scale >= 0\) failed/);
      expect(child.signal).toBe('SIGABRT');
      expect(child.stdout).toBe('');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('volume: 16 rows of 4096 for each type, three distributions, with and without imatrix', () => {
    const failures: string[] = [];
    for (const type of TYPES) {
      for (const dist of ['gauss', 'laplace', 'student-t'] as const) {
        const src = generate(dist, 16, 4096, 11);
        for (const im of [null, generateImatrix(4096, 12)]) {
          if (!im && impl(type).imatrix === 'required') continue;
          for (const p of compare(type, src, 16, 4096, im)) failures.push(`${typeLayout(type).name} ${dist} imatrix=${!!im}: ${p}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('dequantizers read random blocks, including Inf/NaN scales, as ggml does', () => {
    const r = rng(99);
    const specialScales = [0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7c01, 0xfd55, 0x0001, 0x8000, 0x0000, 0x7bff];
    for (const type of TYPES) {
      const q = impl(type);
      const nb = 64;
      const { typeSize, blockSize, name } = q.layout;
      const bytes = new Uint8Array(nb * typeSize);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
      specialScales.forEach((h, b) => {
        const o = b * typeSize;
        if (type === GgmlType.IQ1_S) {
          bytes[o] = h & 255;
          bytes[o + 1] = h >>> 8;
        } else {
          // IQ1_M: the fp16 bits are the top nibbles of the four u16 scale words @48
          for (let i = 0; i < 4; i++) bytes[o + 48 + 2 * i + 1] = (bytes[o + 48 + 2 * i + 1] & 0x0f) | (((h >> (4 * i)) & 15) << 4);
        }
      });
      const n = nb * blockSize;
      const ours = new Float32Array(n);
      dequantizeRows(q, bytes, ours, n);
      const theirs = oracle!.dequantizeRow(type, bytes, n);
      const diff = firstDiff(bitsOf(ours), bitsOf(theirs), blockSize, name);
      summary.dequantizeCases++;
      summary.dequantizeValues += n;
      if (!diff) summary.dequantizeSame++;
      expect(diff).toBeNull();
    }
  });

  it('all-zero input gives all-zero blocks (spec §2.10), with any imatrix', () => {
    for (const type of TYPES) {
      const q = impl(type);
      for (const [imName, im] of imatrices(type, 256)) {
        const { typeSize, name } = q.layout;
        const out = new Uint8Array(typeSize).fill(0xff);
        quantizeChunk(q, new Float32Array(256), out, 1, 256, im);
        expect(Buffer.from(out).toString('hex'), `${name} imatrix=${imName}`).toBe('00'.repeat(typeSize));
        expect(Buffer.from(oracle!.quantizeChunk(type, new Float32Array(256), 1, 256, im)).toString('hex')).toBe('00'.repeat(typeSize));
      }
    }
  });
});

describe('IQ1 argument checks', () => {
  it('IQ1_S refuses to quantize without an imatrix (ggml_quantize_requires_imatrix) and says how to get one', () => {
    expect(impl(GgmlType.IQ1_S).imatrix).toBe('required');
    expect(impl(GgmlType.IQ1_M).imatrix).toBe('optional');
    const src = generate('gauss', 1, 256, 3);
    expect(() => quantizeChunk(GgmlType.IQ1_S, src, new Uint8Array(50), 1, 256, null)).toThrow(/iq1_s.*requires an importance matrix: .*webgpu-quantize imatrix -m .*--imatrix .*--calibrate/);
  });

  for (const type of TYPES) {
    const { name, typeSize } = typeLayout(type);
    it(`${name}: exact output size, RangeError on a partial block or a wrong buffer`, () => {
      const src = generate('gauss', 2, 512, 4);
      const im = generateImatrix(512, 4);
      expect(() => quantizeChunk(type, src, new Uint8Array(4 * typeSize), 1, 300, im)).toThrow(/not a multiple of the block size/);
      expect(() => quantizeChunk(type, src, new Uint8Array(4 * typeSize + 1), 2, 512, im)).toThrow(RangeError);
      expect(() => quantizeChunk(type, src, new Uint8Array(6 * typeSize), 3, 512, im)).toThrow(RangeError);
      expect(() => dequantizeRows(type, new Uint8Array(typeSize), new Float32Array(256), 255)).toThrow(RangeError);
    });
  }
});
