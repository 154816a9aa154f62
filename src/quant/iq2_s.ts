/**
 * IQ2_S: super-blocks of 256 values, 82 bytes (2.5625 bits per weight): `d` fp16 @0, `qs[64]` @2 (per 8
 * values the low 8 bits of a 10-bit `iq2s_grid` index in qs[g], the 8 sign bits in qs[32 + g]), `qh[8]` @66
 * (index bits 8..9 of group g at bits 2·(g mod 4) of qh[g/4]), `scales[8]` @74 (a 4-bit code per 16 values);
 * value = d·(0.5 + l)·0.25·grid·(±1).
 * Reproduces `quantize_iq2_s` (`quantize_row_iq2_s_impl`, with or without imatrix) and `dequantize_row_iq2_s`;
 * spec §1.5, §2.7.2. (llama.cpp's policy still requires an imatrix for IQ2_S tensors, spec §4.8.)
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { F_0_1 } from '../core/fp32.js';
import { putFp16 } from '../core/half.js';
import { iqGridGpuTables, iqGrid } from './iq-grids.js';
import wgsl from '../../shaders/iq2_s.wgsl';
import gpuDequant from '../../shaders/dequant/iq2_s.wgsl';
import {
  extractSigns, gridSearch, gridTypeRows, imatrixWeights, plainWeights, Recompute, scaleCode, superBlockSigma2,
  type GridSearch,
} from './iq-search.js';
import type { QuantTraits } from './traits.js';

const f = Math.fround;
const BLOCK_BYTES = 82;
const GROUP_MAX_EPS_IQ2_S = f(1e-8);
const FUDGE = f(0.9875);
const WEIGHT = new Float32Array(16);
const WAUX = new Float32Array(16);
const XVAL = new Float32Array(16);
const SIGNS = new Uint8Array(2);
const L = new Uint8Array(16);
const IDX = new Int32Array(2);
const SCALES = new Float32Array(16);
let search: GridSearch | undefined;

function quantizeBlock(x: Float32Array, x0: number, qw: Float32Array | null, q0: number, dst: Uint8Array, o: number): void {
  const s = (search ??= { grid: iqGrid('iq2s'), kMaxQ: 3, trials: 9, step: F_0_1, onGridInit: true, recompute: Recompute.OffGrid });
  dst.fill(0, o, o + BLOCK_BYTES);
  const sigma2 = superBlockSigma2(x, x0, true);
  const bias = f(0.25 * sigma2);
  let maxScale = 0;
  for (let ib = 0; ib < 16; ib++) {
    if (qw) imatrixWeights(x, x0 + 16 * ib, qw, q0 + 16 * ib, 16, sigma2, WEIGHT, WAUX);
    else plainWeights(x, x0 + 16 * ib, 16, bias, WEIGHT, WAUX);
    const max = extractSigns(x, x0 + 16 * ib, 16, WEIGHT, false, XVAL, SIGNS);
    SCALES[ib] = 0;
    if (max < GROUP_MAX_EPS_IQ2_S) continue;
    let scale = gridSearch(s, 16, XVAL, WEIGHT, WAUX, max, f(max / 5), L, IDX);
    if (scale < 0) {
      scale = -scale;
      for (let k = 0; k < 2; k++) SIGNS[k] = ~SIGNS[k] & 255;
    }
    for (let k = 0; k < 2; k++) {
      const g = 2 * ib + k;
      dst[o + 2 + g] = IDX[k] & 255;
      dst[o + 66 + (g >> 2)] |= (IDX[k] >> 8) << (2 * (g & 3));
      dst[o + 2 + 32 + g] = SIGNS[k];
    }
    SCALES[ib] = scale;
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (!maxScale) return;
  const d = f(maxScale / 31);
  putFp16(dst, o, f(d * FUDGE));
  const id = f(1 / d);
  for (let ib = 0; ib < 16; ib += 2) dst[o + 74 + ib / 2] = scaleCode(id, SCALES[ib]) | (scaleCode(id, SCALES[ib + 1]) << 4);
}

function decodeBlock(src: Uint8Array, o: number, d: number, dst: Float32Array, y0: number): void {
  const { values } = iqGrid('iq2s');
  for (let ib = 0; ib < 8; ib++) {
    const sc = src[o + 74 + ib];
    const db0 = f(f(d * (0.5 + (sc & 15))) * 0.25);
    const db1 = f(f(d * (0.5 + (sc >> 4))) * 0.25);
    const qh = src[o + 66 + ib];
    for (let k = 0; k < 4; k++) {
      const g = 4 * ib + k;
      const p = (src[o + 2 + g] | (((qh >> (2 * k)) & 3) << 8)) * 8;
      const signs = src[o + 2 + 32 + g];
      const db = k < 2 ? db0 : db1;
      const y = y0 + 8 * g;
      for (let j = 0; j < 8; j++) {
        const v = f(db * values[p + j]);
        dst[y + j] = (signs >> j) & 1 ? -v : v;
      }
    }
  }
}

export const IQ2_S: QuantTraits = {
  layout: typeLayout(GgmlType.IQ2_S),
  imatrix: 'optional',
  ...gridTypeRows('optional', BLOCK_BYTES, quantizeBlock, decodeBlock),
  gpu: { wgsl, libs: ['iqGridSearch'], tables: () => iqGridGpuTables('iq2s') },
  gpuDequant,
};
