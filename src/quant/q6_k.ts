/**
 * Q6_K: super-blocks of 256 values, 210 bytes (6.5625 bits per weight): `ql[128]` @0 (low nibbles),
 * `qh[64]` @128 (high 2 bits), `scales[16]` int8 @192, `d` fp16 @208; value = d·scales[e/16]·(q − 32).
 * Reproduces `quantize_q6_K` (`quantize_row_q6_K_ref` without imatrix, `quantize_row_q6_K_impl` with one:
 * the raw imatrix values are the search weights, no sigma2 term) and `dequantize_row_q6_K`; spec §1.4, §2.4.5.
 */
import { GgmlType, QK_K, typeLayout } from '../core/ggml-type.js';
import { putFp16, F16_TO_F32, F16_TO_F32_BITS, fixNaNs } from '../core/half.js';
import { GROUP_MAX_EPS, nearestInt } from '../core/fp32.js';
import { makeQxQuants } from './solvers-symmetric.js';
import type { QuantTraits } from './traits.js';
import q6_kWgsl from '../../shaders/q6_k.wgsl';
import q6_kDequant from '../../shaders/dequant/q6_k.wgsl';

const f = Math.fround;
const BLOCK_BYTES = 210;
const QH = 128;
const SCALES = 192;
const D = 208;

const L = new Uint8Array(QK_K);
const SUB_SCALES = new Float32Array(16);
/** dequantize: d·scales[j] per sub-block, the first product of ggml's (d·sc)·q */
const DS = new Float64Array(16);

function quantizeBlock(src: Float32Array, x0: number, dst: Uint8Array, o: number, qw: Float32Array | null, q0: number): void {
  let maxScale = 0;
  let maxAbs = 0;
  for (let ib = 0; ib < 16; ib++) {
    const s = makeQxQuants(16, 32, src, x0 + 16 * ib, L, 16 * ib, qw, q0 + 16 * ib);
    SUB_SCALES[ib] = s;
    const a = Math.abs(s);
    if (a > maxAbs) { maxAbs = a; maxScale = s; }
  }
  if (maxAbs < GROUP_MAX_EPS) {
    dst.fill(0, o, o + BLOCK_BYTES);
    return;
  }
  const iscale = f(-128 / maxScale);
  const h = putFp16(dst, o + D, f(1 / iscale));
  for (let ib = 0; ib < 16; ib++) {
    const l = nearestInt(f(iscale * SUB_SCALES[ib]));
    dst[o + SCALES + ib] = (l < 127 ? l : 127) & 255;
  }
  const d = F16_TO_F32[h];
  for (let j = 0; j < 16; j++) {
    const dd = f(d * ((dst[o + SCALES + j] << 24) >> 24));
    if (dd === 0) continue; // keep the search's codes, as C's `if (!d)` does (NaN does not skip)
    for (let i = 16 * j; i < 16 * j + 16; i++) {
      const l = nearestInt(f(src[x0 + i] / dd));
      L[i] = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
    }
  }
  for (let hf = 0; hf < 2; hf++) {
    const e0 = 128 * hf;
    const ql = o + 64 * hf;
    const qh = o + QH + 32 * hf;
    for (let l = 0; l < 32; l++) {
      const a = L[e0 + l];
      const b = L[e0 + l + 32];
      const c = L[e0 + l + 64];
      const e = L[e0 + l + 96];
      dst[ql + l] = (a & 15) | ((c & 15) << 4);
      dst[ql + l + 32] = (b & 15) | ((e & 15) << 4);
      dst[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
    }
  }
}

function quantizeRowRef(src: Float32Array, dst: Uint8Array, n: number): void {
  for (let i = 0; i < n / QK_K; i++) quantizeBlock(src, i * QK_K, dst, i * BLOCK_BYTES, null, 0);
}

function quantizeRowImpl(src: Float32Array, dst: Uint8Array, nPerRow: number, imatrix: Float32Array): void {
  for (let i = 0; i < nPerRow / QK_K; i++) quantizeBlock(src, i * QK_K, dst, i * BLOCK_BYTES, imatrix, i * QK_K);
}

export const Q6_K: QuantTraits = {
  layout: typeLayout(GgmlType.Q6_K),
  imatrix: 'optional',
  quantizeRowRef,
  quantizeRowImpl,
  dequantizeRow(src, dst, n) {
    const nb = n / QK_K;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      const hb = src[o + D] | (src[o + D + 1] << 8);
      const d = F16_TO_F32[hb];
      const y0 = b * QK_K;
      for (let j = 0; j < 16; j++) DS[j] = f(d * ((src[o + SCALES + j] << 24) >> 24));
      for (let hf = 0; hf < 2; hf++) {
        for (let l = 0; l < 32; l++) {
          const e = 128 * hf + l;
          const a = src[o + 64 * hf + l];
          const c = src[o + 64 * hf + 32 + l];
          const h = src[o + QH + 32 * hf + l];
          dst[y0 + e] = DS[e >> 4] * (((a & 15) | ((h & 3) << 4)) - 32);
          dst[y0 + e + 32] = DS[(e + 32) >> 4] * (((c & 15) | (((h >> 2) & 3) << 4)) - 32);
          dst[y0 + e + 64] = DS[(e + 64) >> 4] * (((a >> 4) | (((h >> 4) & 3) << 4)) - 32);
          dst[y0 + e + 96] = DS[(e + 96) >> 4] * (((c >> 4) | (((h >> 6) & 3) << 4)) - 32);
        }
      }
      if (!Number.isFinite(d)) fixNaNs(dst, y0, QK_K, F16_TO_F32_BITS[hb]);
    }
  },
  gpu: { wgsl: q6_kWgsl, libs: ['search', 'kSearch', 'kScales'] },
  gpuDequant: q6_kDequant,
};
