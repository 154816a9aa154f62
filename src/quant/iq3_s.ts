/**
 * IQ3_S: super-blocks of 256 values, 110 bytes (3.4375 bits per weight): `d` fp16 @0, `qs[64]` @2 (per 4
 * values the low 8 bits of a 9-bit `iq3s_grid` index), `qh[8]` @66 (index bit 8 of group g at bit g mod 8 of
 * qh[g/8]), `signs[32]` @74 (one bit per value), `scales[4]` @106 (a 4-bit code per 32 values);
 * value = d·(1 + 2l)·grid·(±1).
 * Reproduces `quantize_iq3_s` (`quantize_row_iq3_s_impl`, block size 32, with or without imatrix) and
 * `dequantize_row_iq3_s`; spec §1.5, §2.7.5.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { putFp16 } from '../core/half.js';
import { iqGrid, iqGridGpuTables } from './iq-grids.js';
import {
  extractSigns, F_0_2, gridSearch, gridTypeRows, imatrixWeights, plainWeights, Recompute, scaleCode,
  superBlockSigma2, type GridSearch,
} from './iq-search.js';
import type { QuantTraits } from './traits.js';
import wgsl from '../../shaders/iq3_s.wgsl';
import gpuDequant from '../../shaders/dequant/iq3_s.wgsl';

const f = Math.fround;
const BLOCK_BYTES = 110;
const QS = 2;
const QH = 66;
const SIGNS_OFF = 74;
const SCALES_OFF = 106;
const FUDGE = f(1.033);
const WEIGHT = new Float32Array(32);
const WAUX = new Float32Array(32);
const XVAL = new Float32Array(32);
const SIGNS = new Uint8Array(4);
const L = new Uint8Array(32);
const IDX = new Int32Array(8);
const SCALES = new Float32Array(8);
let search: GridSearch | undefined;

function quantizeBlock(x: Float32Array, x0: number, qw: Float32Array | null, q0: number, dst: Uint8Array, o: number): void {
  const s = (search ??= { grid: iqGrid('iq3s'), kMaxQ: 8, trials: 9, step: F_0_2, onGridInit: false, recompute: Recompute.AllIfAnyOffGrid });
  dst.fill(0, o, o + BLOCK_BYTES);
  const sigma2 = superBlockSigma2(x, x0, true);
  let maxScale = 0;
  // ggml advances its qs/signs write positions only past sub-blocks that were not all zero, so a zero
  // sub-block shifts the following sub-blocks' indices and signs down (qh is indexed by sub-block)
  let qs = o + QS;
  let signs = o + SIGNS_OFF;
  for (let ib = 0; ib < 8; ib++) {
    if (qw) imatrixWeights(x, x0 + 32 * ib, qw, q0 + 32 * ib, 32, sigma2, WEIGHT, WAUX);
    else plainWeights(x, x0 + 32 * ib, 32, 0, WEIGHT, WAUX);
    const max = extractSigns(x, x0 + 32 * ib, 32, WEIGHT, false, XVAL, SIGNS);
    SCALES[ib] = 0;
    if (!max) continue;
    let scale = gridSearch(s, 32, XVAL, WEIGHT, WAUX, max, f(max / 15), L, IDX);
    if (scale < 0) {
      scale = -scale;
      for (let k = 0; k < 4; k++) SIGNS[k] = ~SIGNS[k] & 255;
    }
    for (let k = 0; k < 8; k++) {
      dst[qs + k] = IDX[k] & 255;
      dst[o + QH + ib] |= (IDX[k] >> 8) << k;
    }
    qs += 8;
    for (let k = 0; k < 4; k++) dst[signs + k] = SIGNS[k];
    signs += 4;
    SCALES[ib] = scale;
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (!maxScale) return;
  const d = f(maxScale / 31);
  putFp16(dst, o, f(d * FUDGE));
  const id = f(1 / d);
  for (let ib = 0; ib < 8; ib += 2) dst[o + SCALES_OFF + ib / 2] = scaleCode(id, SCALES[ib]) | (scaleCode(id, SCALES[ib + 1]) << 4);
}

function decodeBlock(src: Uint8Array, o: number, d: number, dst: Float32Array, y0: number): void {
  const { values } = iqGrid('iq3s');
  for (let ib = 0; ib < 8; ib++) {
    const sc = src[o + SCALES_OFF + (ib >> 1)];
    const db = f(d * (1 + 2 * (ib & 1 ? sc >> 4 : sc & 15)));
    const qh = src[o + QH + ib];
    for (let k = 0; k < 4; k++) {
      const signs = src[o + SIGNS_OFF + 4 * ib + k];
      const g1 = (src[o + QS + 8 * ib + 2 * k] | (((qh >> (2 * k)) & 1) << 8)) * 4;
      const g2 = (src[o + QS + 8 * ib + 2 * k + 1] | (((qh >> (2 * k + 1)) & 1) << 8)) * 4;
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

export const IQ3_S: QuantTraits = {
  layout: typeLayout(GgmlType.IQ3_S),
  imatrix: 'optional',
  ...gridTypeRows('optional', BLOCK_BYTES, quantizeBlock, decodeBlock),
  gpu: { wgsl, libs: ['iqGridSearch'], tables: () => iqGridGpuTables('iq3s') },
  gpuDequant,
};
