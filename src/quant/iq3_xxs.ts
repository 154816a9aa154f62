/**
 * IQ3_XXS: super-blocks of 256 values, 98 bytes (3.0625 bits per weight): `d` fp16 @0, `qs[64]` @2 (per 4
 * values an `iq3xxs_grid` index), then per 32 values a u32 @66 with four 7-bit parity sign codes (one per 8
 * values) and the 4-bit scale code l in bits 28..31; value = d·(0.5 + l)·0.5·grid·(±1).
 * Reproduces `quantize_iq3_xxs` (`quantize_row_iq3_xxs_impl(256, ...)`, with or without imatrix) and
 * `dequantize_row_iq3_xxs`; spec §1.5, §2.7.4. (llama.cpp's policy requires an imatrix for IQ3_XXS tensors.)
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { putFp16 } from '../core/half.js';
import { iqGrid, iqGridGpuTables, KSIGNS_IQ2XS } from './iq-grids.js';
import {
  extractSigns, F_0_2, gridSearch, gridTypeRows, imatrixWeights, plainWeights, Recompute, scaleCode,
  superBlockSigma2, type GridSearch,
} from './iq-search.js';
import type { QuantTraits } from './traits.js';
import wgsl from '../../shaders/iq3_xxs.wgsl';
import gpuDequant from '../../shaders/dequant/iq3_xxs.wgsl';

const f = Math.fround;
const BLOCK_BYTES = 98;
const GROUP_MAX_EPS_IQ3_XXS = f(1e-8);
const FUDGE = f(1.0125);
const WEIGHT = new Float32Array(32);
const WAUX = new Float32Array(32);
const XVAL = new Float32Array(32);
const SIGNS = new Uint8Array(4);
const L = new Uint8Array(32);
const IDX = new Int32Array(8);
const SCALES = new Float32Array(8);
const SAS = new Uint32Array(8);
let search: GridSearch | undefined;

function quantizeBlock(x: Float32Array, x0: number, qw: Float32Array | null, q0: number, dst: Uint8Array, o: number): void {
  const s = (search ??= { grid: iqGrid('iq3xxs'), kMaxQ: 8, trials: 15, step: F_0_2, onGridInit: true, recompute: Recompute.OffGrid });
  dst.fill(0, o, o + BLOCK_BYTES);
  SAS.fill(0);
  const sigma2 = superBlockSigma2(x, x0, true);
  let maxScale = 0;
  for (let ib = 0; ib < 8; ib++) {
    if (qw) imatrixWeights(x, x0 + 32 * ib, qw, q0 + 32 * ib, 32, sigma2, WEIGHT, WAUX);
    else plainWeights(x, x0 + 32 * ib, 32, 0, WEIGHT, WAUX);
    const max = extractSigns(x, x0 + 32 * ib, 32, WEIGHT, true, XVAL, SIGNS);
    SCALES[ib] = 0;
    if (max < GROUP_MAX_EPS_IQ3_XXS) continue;
    let scale = gridSearch(s, 32, XVAL, WEIGHT, WAUX, max, f(max / 15), L, IDX);
    if (scale < 0) {
      scale = -scale;
      for (let k = 0; k < 4; k++) SIGNS[k] = ~SIGNS[k] & 127;
    }
    for (let k = 0; k < 8; k++) dst[o + 2 + 8 * ib + k] = IDX[k];
    SAS[ib] = SIGNS[0] | (SIGNS[1] << 7) | (SIGNS[2] << 14) | (SIGNS[3] << 21);
    SCALES[ib] = scale;
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (!maxScale) {
    dst.fill(0, o, o + BLOCK_BYTES);
    return;
  }
  const d = f(maxScale / 31);
  putFp16(dst, o, f(d * FUDGE));
  const id = f(1 / d);
  for (let ib = 0; ib < 8; ib++) {
    const v = (SAS[ib] | (scaleCode(id, SCALES[ib]) << 28)) >>> 0;
    const p = o + 66 + 4 * ib;
    dst[p] = v & 255;
    dst[p + 1] = (v >>> 8) & 255;
    dst[p + 2] = (v >>> 16) & 255;
    dst[p + 3] = v >>> 24;
  }
}

function decodeBlock(src: Uint8Array, o: number, d: number, dst: Float32Array, y0: number): void {
  const { values } = iqGrid('iq3xxs');
  for (let ib = 0; ib < 8; ib++) {
    const p = o + 66 + 4 * ib;
    const aux = (src[p] | (src[p + 1] << 8) | (src[p + 2] << 16) | (src[p + 3] << 24)) >>> 0;
    const db = f(f(d * (0.5 + (aux >>> 28))) * 0.5);
    for (let k = 0; k < 4; k++) {
      const signs = KSIGNS_IQ2XS[(aux >>> (7 * k)) & 127];
      const g1 = src[o + 2 + 8 * ib + 2 * k] * 4;
      const g2 = src[o + 3 + 8 * ib + 2 * k] * 4;
      const y = y0 + 32 * ib + 8 * k;
      for (let j = 0; j < 4; j++) {
        const v1 = f(db * values[g1 + j]);
        const v2 = f(db * values[g2 + j]);
        dst[y + j] = (signs >> j) & 1 ? -v1 : v1;
        dst[y + j + 4] = (signs >> (j + 4)) & 1 ? -v2 : v2;
      }
    }
  }
}

export const IQ3_XXS: QuantTraits = {
  layout: typeLayout(GgmlType.IQ3_XXS),
  imatrix: 'optional',
  ...gridTypeRows('optional', BLOCK_BYTES, quantizeBlock, decodeBlock),
  gpu: { wgsl, libs: ['iqGridSearch'], tables: () => iqGridGpuTables('iq3xxs') },
  gpuDequant,
};
