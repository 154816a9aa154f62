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
import { describe, expect, it } from 'vitest';
import { oracleUnavailable } from '../oracle/llama-cpp.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { generate, generateImatrix, rng } from '../data/distributions.js';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { dequantizeRows, quantizeChunk } from '../../src/quant/registry.js';
import { oracleFamily } from './oracle-family.js';
import { compareWithOracle, forEachOracleCase, impl, oracleSummary, randomFinite, sameDequantized, sparseImatrix, type ImatrixVariant } from './oracle-cases.js';

const oracle = requireOracle();
if (!oracle) console.log(oracleUnavailable);

const CHILD = fileURLToPath(new URL('./oracle-chunk-child.ts', import.meta.url));
const TYPES = oracleFamily('iq1').map((t) => t.layout.type);
const ROW_SHAPES: [nrows: number, nPerRow: number][] = [[1, 256], [3, 512], [2, 768]];

const summary = oracleSummary('iq1', oracle);

function imatrices(type: GgmlType, nPerRow: number): ImatrixVariant[] {
  const list: ImatrixVariant[] = [
    ['generated', generateImatrix(nPerRow, nPerRow)],
    ['ones', new Float32Array(nPerRow).fill(1)],
    ['sparse', sparseImatrix(nPerRow, nPerRow + 17)],
    ['all-zero', new Float32Array(nPerRow)],
  ];
  if (impl(type).imatrix !== 'required') list.unshift(['none', null]);
  return list;
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

/** Quantizes with both, compares bytes, then dequantizes llama.cpp's bytes with both and compares bits. */
const compare = (type: GgmlType, src: Float32Array, nrows: number, nPerRow: number, imatrix: Float32Array | null) =>
  compareWithOracle(oracle!, summary, type, src, nrows, nPerRow, imatrix);

// a missing oracle on linux-x64 or under CI=true fails through requireOracle() above

describe.skipIf(!oracle)('IQ1_S / IQ1_M match llama.cpp byte for byte', () => {
  for (const type of TYPES) {
    const name = typeLayout(type).name;
    it(`${name}: every distribution, row shape and imatrix`, () => {
      const failures: string[] = [];
      let aborts = 0;
      const cases = forEachOracleCase(ROW_SHAPES, (nPerRow) => imatrices(type, nPerRow), ({ dist, src, nrows, nPerRow, im, label }) => {
        if (dist === 'random-finite-bits' && !im) {
          // weights x² overflow to Inf, a sub-block scale becomes Inf/Inf: llama.cpp aborts (see below), we throw
          expect(() => quantizeChunk(type, src, new Uint8Array(impl(type).layout.typeSize * nrows * nPerRow / 256), nrows, nPerRow, im))
            .toThrow(/llama.cpp aborts here/);
          aborts++;
          return;
        }
        for (const p of compare(type, src, nrows, nPerRow, im)) failures.push(`${label}: ${p}`);
      });
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
      expect(sameDequantized(oracle!, type, bytes, nb * blockSize, summary, name)).toBeNull();
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
