/**
 * MXFP4: blocks of 32 values, 17 bytes: `e` (E8M0 shared exponent) @0, `qs[16]` @1 (element j low nibble,
 * j+16 high nibble of qs[j]); value = kvalues_mxfp4[q]·2^(e−128), the e2m1 levels doubled. Reproduces
 * `quantize_mxfp4` (`quantize_row_mxfp4_ref`; the imatrix is ignored) and `dequantize_row_mxfp4` of
 * ggml-quants.c v0.5.0 (the spec gives only the size; see docs in this file).
 *
 * Quantizer: amax = max|x| (strict compare); e = amax > 0 ? (uint8_t)(floorf(log2f(amax)) − 2 + 127) : 0;
 * d = 2^(e−128) (`GGML_E8M0_TO_FP32_HALF`); each code is the first index i minimizing |k_i·d − x|
 * (binary32 product and difference, strict compare). The (uint8_t) cast of a negative float runs through
 * a 32-bit int on x86-64, so amax below 2^-125 wraps to e ≥ 128, as llama.cpp does.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { cvttI32, f } from '../core/fp32.js';
import type { QuantTraits } from './traits.js';
import mxfp4Wgsl from '../../shaders/mxfp4.wgsl';
import mxfp4Dequant from '../../shaders/dequant/mxfp4.wgsl';

const QK = 32;
const BLOCK_BYTES = 17;
/** kvalues_mxfp4 (ggml-common.h `kvalues_fp4`): e2m1 values times two. */
export const KVALUES_MXFP4 = new Int8Array([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]);

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** `GGML_E8M0_TO_FP32_HALF(e)`: 2^(e−128) as binary32 (subnormal for e < 2). */
export function e8m0Half(e: number): number {
  scratchU32[0] = e < 2 ? 0x00200000 << e : (e - 1) << 23;
  return scratchF32[0];
}

/** The E8M0 byte of a block whose max |x| is `amax` (log2f is correctly rounded binary32 here). */
export function mxfp4Exponent(amax: number): number {
  if (!(amax > 0)) return 0;
  return cvttI32(Math.floor(f(Math.log2(amax))) - 2 + 127) & 255;
}

/** k·d for the 16 levels of one block (ggml recomputes each product per value; it is the same binary32). */
const LEVELS = new Float64Array(16);

/** `best_index_mxfp4(x, d)` over the block's `LEVELS`: the first code whose level is nearest to x. */
function bestIndexMxfp4(x: number): number {
  let best = 0;
  let bestErr = Math.abs(f(LEVELS[0] - x));
  for (let i = 1; i < 16; i++) {
    const err = Math.abs(f(LEVELS[i] - x));
    if (err < bestErr) { best = i; bestErr = err; }
  }
  return best;
}

export const MXFP4: QuantTraits = {
  layout: typeLayout(GgmlType.MXFP4),
  imatrix: 'ignored',
  quantizeRowRef(src, dst, n) {
    const nb = n / QK;
    for (let b = 0; b < nb; b++) {
      const x0 = b * QK;
      const o = b * BLOCK_BYTES;
      let amax = 0;
      for (let j = 0; j < QK; j++) {
        const a = Math.abs(src[x0 + j]);
        if (amax < a) amax = a;
      }
      const e = mxfp4Exponent(amax);
      const d = e8m0Half(e);
      dst[o] = e;
      for (let i = 0; i < 16; i++) LEVELS[i] = f(KVALUES_MXFP4[i] * d);
      for (let j = 0; j < 16; j++) {
        dst[o + 1 + j] = bestIndexMxfp4(src[x0 + j]) | (bestIndexMxfp4(src[x0 + 16 + j]) << 4);
      }
    }
  },
  dequantizeRow(src, dst, n) {
    const nb = n / QK;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      const d = e8m0Half(src[o]);
      const y0 = b * QK;
      for (let j = 0; j < 16; j++) {
        const q = src[o + 1 + j];
        dst[y0 + j] = KVALUES_MXFP4[q & 15] * d;
        dst[y0 + 16 + j] = KVALUES_MXFP4[q >> 4] * d;
      }
    }
  },
  gpu: { wgsl: mxfp4Wgsl, libs: [] },
  gpuDequant: mxfp4Dequant,
};
