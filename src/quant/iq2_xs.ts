/**
 * IQ2_XS: super-blocks of 256 values, 74 bytes (2.3125 bits per weight): `d` fp16 @0, `qs[32]` u16 @2 (per 8
 * values a 9-bit `iq2xs_grid` index | 7-bit parity sign code << 9), `scales[8]` @66 (a 4-bit code per 16
 * values, low nibble first); value = d·(0.5 + l)·0.25·grid·(±1).
 * Reproduces `quantize_iq2_xs` (`quantize_row_iq2_xs_impl`, imatrix required) and `dequantize_row_iq2_xs`;
 * spec §1.5, §2.7.1.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { F_0_1, GROUP_MAX_EPS } from '../core/fp32.js';
import { putFp16 } from '../core/half.js';
import { iqGrid, iqGridGpuTables, KSIGNS_IQ2XS } from './iq-grids.js';
import wgsl from '../../shaders/iq2_xs.wgsl';
import gpuDequant from '../../shaders/dequant/iq2_xs.wgsl';
import {
  extractSigns, gridSearch, gridTypeRows, imatrixWeights, Recompute, scaleCode, superBlockSigma2, type GridSearch,
} from './iq-search.js';
import type { QuantTraits } from './traits.js';

const f = Math.fround;
const BLOCK_BYTES = 74;
const WEIGHT = new Float32Array(16);
const WAUX = new Float32Array(16);
const XVAL = new Float32Array(16);
const SIGNS = new Uint8Array(2);
const L = new Uint8Array(16);
const IDX = new Int32Array(2);
const SCALES = new Float32Array(16);
const Q2 = new Uint16Array(32);
let search: GridSearch | undefined;

function quantizeBlock(x: Float32Array, x0: number, qw: Float32Array, q0: number, dst: Uint8Array, o: number): void {
  const s = (search ??= { grid: iqGrid('iq2xs'), kMaxQ: 3, trials: 9, step: F_0_1, onGridInit: true, recompute: Recompute.OffGrid });
  Q2.fill(0);
  dst.fill(0, o, o + BLOCK_BYTES);
  const sigma2 = superBlockSigma2(x, x0, false);
  let maxScale = 0;
  for (let ib = 0; ib < 16; ib++) {
    imatrixWeights(x, x0 + 16 * ib, qw, q0 + 16 * ib, 16, sigma2, WEIGHT, WAUX);
    const max = extractSigns(x, x0 + 16 * ib, 16, WEIGHT, true, XVAL, SIGNS);
    SCALES[ib] = 0;
    if (max < GROUP_MAX_EPS) continue;
    let scale = gridSearch(s, 16, XVAL, WEIGHT, WAUX, max, f(max / 5), L, IDX);
    if (scale < 0) {
      scale = -scale;
      for (let k = 0; k < 2; k++) SIGNS[k] = ~SIGNS[k] & 127;
    }
    for (let k = 0; k < 2; k++) Q2[2 * ib + k] = IDX[k] | (SIGNS[k] << 9);
    SCALES[ib] = scale;
    maxScale = maxScale > scale ? maxScale : scale;
  }
  if (!maxScale) return;
  const d = f(maxScale / 31);
  putFp16(dst, o, d);
  const id = f(1 / d);
  for (let ib = 0; ib < 16; ib += 2) dst[o + 66 + ib / 2] = scaleCode(id, SCALES[ib]) | (scaleCode(id, SCALES[ib + 1]) << 4);
  for (let i = 0; i < 32; i++) {
    dst[o + 2 + 2 * i] = Q2[i] & 255;
    dst[o + 3 + 2 * i] = Q2[i] >> 8;
  }
}

function decodeBlock(src: Uint8Array, o: number, d: number, dst: Float32Array, y0: number): void {
  const { values } = iqGrid('iq2xs');
  for (let ib = 0; ib < 8; ib++) {
    const sc = src[o + 66 + ib];
    const db0 = f(f(d * (0.5 + (sc & 15))) * 0.25);
    const db1 = f(f(d * (0.5 + (sc >> 4))) * 0.25);
    for (let k = 0; k < 4; k++) {
      const q = src[o + 2 + 8 * ib + 2 * k] | (src[o + 3 + 8 * ib + 2 * k] << 8);
      const g = (q & 511) * 8;
      const signs = KSIGNS_IQ2XS[q >> 9];
      const db = k < 2 ? db0 : db1;
      const y = y0 + 32 * ib + 8 * k;
      for (let j = 0; j < 8; j++) {
        const v = f(db * values[g + j]);
        dst[y + j] = (signs >> j) & 1 ? -v : v;
      }
    }
  }
}

export const IQ2_XS: QuantTraits = {
  layout: typeLayout(GgmlType.IQ2_XS),
  imatrix: 'required',
  ...gridTypeRows('required', BLOCK_BYTES, quantizeBlock, decodeBlock),
  gpu: { wgsl, libs: ['iqGridSearch'], tables: () => iqGridGpuTables('iq2xs') },
  gpuDequant,
};
