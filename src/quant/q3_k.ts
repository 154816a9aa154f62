/**
 * Q3_K: super-blocks of 256 values, 110 bytes (3.4375 bits per weight): `hmask[32]` @0 (bit e/32 of
 * hmask[e mod 32] = 3rd bit of element e), `qs[64]` @32 (low 2 bits, Q2_K order), `scales[12]` @96
 * (16 six-bit sub-block scales biased by 32), `d` fp16 @108; value = d·(s_j − 32)·(q3 − 4), j = e/16.
 * Reproduces `quantize_q3_K` (`quantize_row_q3_K_ref` without imatrix, `quantize_row_q3_K_impl` with one)
 * and `dequantize_row_q3_K`; spec §1.4, §2.4.2.
 */
import { GgmlType, QK_K, typeLayout } from '../core/ggml-type.js';
import { putFp16, F16_TO_F32, F16_TO_F32_BITS, fixNaNs } from '../core/half.js';
import { nearestInt } from '../core/fp32.js';
import { makeQ3Quants, makeQxQuants } from './solvers-symmetric.js';
import type { QuantTraits } from './traits.js';
import q3_kWgsl from '../../shaders/q3_k.wgsl';
import q3_kDequant from '../../shaders/dequant/q3_k.wgsl';

const f = Math.fround;
const BLOCK_BYTES = 110;
const QS = 32;
const SCALES = 96;
const D = 108;

const L = new Uint8Array(QK_K);
const SUB_SCALES = new Float32Array(16);
const SUB_WEIGHTS = new Float32Array(16);
const WEIGHT = new Float32Array(16);
const LS = new Uint8Array(16);
/** dequantize: d·(s_j − 32) per sub-block, the first product of ggml's (d·sc)·q */
const DL = new Float64Array(16);

/** ORs the 16 biased 6-bit codes into the zeroed `scales` field of the block at `o`. */
function packScales(dst: Uint8Array, o: number, codes: ArrayLike<number>): void {
  dst.fill(0, o + SCALES, o + SCALES + 12);
  for (let j = 0; j < 16; j++) {
    const l = codes[j];
    dst[o + SCALES + (j & 7)] |= (l & 15) << (j < 8 ? 0 : 4);
    dst[o + SCALES + 8 + (j & 3)] |= (l >> 4) << (2 * (j >> 2));
  }
}

/** The 6-bit code of sub-block j, minus its bias. */
function subScale(q: Uint8Array, o: number, j: number): number {
  const lo = j < 8 ? q[o + SCALES + j] & 15 : q[o + SCALES + j - 8] >> 4;
  return (lo | (((q[o + SCALES + 8 + (j & 3)] >> (2 * (j >> 2))) & 3) << 4)) - 32;
}

/** Re-quantizes with the stored (fp16-rounded) scales, then writes hmask and qs from L. */
function requantizeAndPack(src: Float32Array, x0: number, dst: Uint8Array, o: number): void {
  const dAll = F16_TO_F32[dst[o + D] | (dst[o + D + 1] << 8)];
  for (let j = 0; j < 16; j++) {
    const dd = f(dAll * subScale(dst, o, j));
    if (dd === 0) continue; // keep the search's codes, as C's `if (!d)` does (NaN does not skip)
    for (let i = 16 * j; i < 16 * j + 16; i++) {
      const l = nearestInt(f(src[x0 + i] / dd));
      L[i] = (l < -4 ? -4 : l > 3 ? 3 : l) + 4;
    }
  }
  dst.fill(0, o, o + 32);
  for (let e = 0; e < QK_K; e++) {
    if (L[e] > 3) {
      dst[o + (e & 31)] |= 1 << (e >> 5);
      L[e] -= 4;
    }
  }
  for (let h = 0; h < 2; h++) {
    const e0 = 128 * h;
    for (let l = 0; l < 32; l++) {
      dst[o + QS + 32 * h + l] = L[e0 + l] | (L[e0 + l + 32] << 2) | (L[e0 + l + 64] << 4) | (L[e0 + l + 96] << 6);
    }
  }
}

function storeD(dst: Uint8Array, o: number, d: number): void {
  putFp16(dst, o + D, d);
}

function quantizeBlockRef(src: Float32Array, x0: number, dst: Uint8Array, o: number): void {
  let maxScale = 0;
  let amax = 0;
  for (let j = 0; j < 16; j++) {
    const s = makeQ3Quants(16, 4, src, x0 + 16 * j, L, 16 * j);
    SUB_SCALES[j] = s;
    const a = Math.abs(s);
    if (a > amax) { amax = a; maxScale = s; }
  }
  if (maxScale !== 0) {
    const iscale = f(-32 / maxScale);
    for (let j = 0; j < 16; j++) {
      const l = (nearestInt(f(iscale * SUB_SCALES[j])) << 24) >> 24; // int8_t store
      LS[j] = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
    }
    packScales(dst, o, LS);
    storeD(dst, o, f(1 / iscale));
  } else {
    dst.fill(0, o + SCALES, o + SCALES + 12);
    storeD(dst, o, 0);
  }
  requantizeAndPack(src, x0, dst, o);
}

function quantizeBlockImatrix(src: Float32Array, x0: number, dst: Uint8Array, o: number, qw: Float32Array, q0: number): void {
  let sumx2 = 0;
  for (let i = 0; i < QK_K; i++) {
    const v = src[x0 + i];
    sumx2 = f(sumx2 + f(v * v));
  }
  const sigma2 = f(f(2 * sumx2) / QK_K);
  for (let j = 0; j < 16; j++) {
    let sumw = 0;
    for (let l = 0; l < 16; l++) {
      const v = src[x0 + 16 * j + l];
      const w = f(qw[q0 + 16 * j + l] * f(Math.sqrt(f(sigma2 + f(v * v)))));
      WEIGHT[l] = w;
      sumw = f(sumw + w);
    }
    SUB_WEIGHTS[j] = sumw;
    SUB_SCALES[j] = makeQxQuants(16, 4, src, x0 + 16 * j, L, 16 * j, WEIGHT, 0);
  }
  const dBlock = makeQxQuants(16, 32, SUB_SCALES, 0, LS, 0, SUB_WEIGHTS, 0);
  packScales(dst, o, LS);
  storeD(dst, o, dBlock);
  requantizeAndPack(src, x0, dst, o);
}

function quantizeRowRef(src: Float32Array, dst: Uint8Array, n: number): void {
  for (let i = 0; i < n / QK_K; i++) quantizeBlockRef(src, i * QK_K, dst, i * BLOCK_BYTES);
}

function quantizeRowImpl(src: Float32Array, dst: Uint8Array, nPerRow: number, imatrix: Float32Array): void {
  for (let i = 0; i < nPerRow / QK_K; i++) quantizeBlockImatrix(src, i * QK_K, dst, i * BLOCK_BYTES, imatrix, i * QK_K);
}

export const Q3_K: QuantTraits = {
  layout: typeLayout(GgmlType.Q3_K),
  imatrix: 'optional',
  quantizeRowRef,
  quantizeRowImpl,
  dequantizeRow(src, dst, n) {
    const nb = n / QK_K;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      const hb = src[o + D] | (src[o + D + 1] << 8);
      const dAll = F16_TO_F32[hb];
      const y0 = b * QK_K;
      for (let j = 0; j < 16; j++) DL[j] = f(dAll * subScale(src, o, j));
      for (let hf = 0; hf < 2; hf++) {
        for (let l = 0; l < 32; l++) {
          const q = src[o + QS + 32 * hf + l];
          const hm = src[o + l] >> (4 * hf);
          for (let g = 0; g < 4; g++) {
            const e = 128 * hf + 32 * g + l;
            dst[y0 + e] = DL[e >> 4] * (((q >> (2 * g)) & 3) - ((hm >> g) & 1 ? 0 : 4));
          }
        }
      }
      if (!Number.isFinite(dAll)) fixNaNs(dst, y0, QK_K, F16_TO_F32_BITS[hb]);
    }
  },
  gpu: { wgsl: q3_kWgsl, libs: ['search', 'kSearch', 'kScales'] },
  gpuDequant: q3_kDequant,
};
