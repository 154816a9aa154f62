/**
 * IQ2_XXS: super-blocks of 256 values, 66 bytes (2.0625 bits per weight): `d` fp16 @0, then per 32 values a
 * pair of u32: four grid indices (bytes, `iq2xxs_grid`, 256 points of 8 magnitudes) and four 7-bit parity sign
 * codes with the 4-bit scale code l in bits 28..31; value = d·(0.5 + l)·0.25·grid·(±1).
 * Reproduces `quantize_iq2_xxs` (`quantize_row_iq2_xxs_impl`, imatrix required) and `dequantize_row_iq2_xxs`;
 * spec §1.5, §2.7.3 (the make_qp_quants u8 wrap of §2.3.5 included).
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { putFp16 } from '../core/half.js';
import { iqGridGpuTables, iqGrid, KSIGNS_IQ2XS } from './iq-grids.js';
import wgsl from '../../shaders/iq2_xxs.wgsl';
import gpuDequant from '../../shaders/dequant/iq2_xxs.wgsl';
import { makeQpQuants } from './solvers-asymmetric.js';
import { extractSigns, gridSearch, gridTypeRows, imatrixWeights, Recompute, scaleCode, superBlockSigma2, type GridSearch } from './iq-search.js';
import { GROUP_MAX_EPS, F_0_1 } from '../core/fp32.js';
import type { QuantTraits } from './traits.js';

const f = Math.fround;
const BLOCK_BYTES = 66;
const WEIGHT = new Float32Array(32);
const WAUX = new Float32Array(32);
const XVAL = new Float32Array(32);
const SIGNS = new Uint8Array(4);
const L = new Uint8Array(32);
const IDX = new Int32Array(4);
const SCALES = new Float32Array(8);
const Q2 = new Uint32Array(16);
let search: GridSearch | undefined;

function quantizeBlock(x: Float32Array, x0: number, qw: Float32Array, q0: number, dst: Uint8Array, o: number): void {
  const s = (search ??= { grid: iqGrid('iq2xxs'), kMaxQ: 3, trials: 6, step: F_0_1, onGridInit: true, recompute: Recompute.Always });
  Q2.fill(0);
  const sigma2 = superBlockSigma2(x, x0, false);
  let maxScale = 0;
  for (let ib = 0; ib < 8; ib++) {
    imatrixWeights(x, x0 + 32 * ib, qw, q0 + 32 * ib, 32, sigma2, WEIGHT, WAUX);
    const max = extractSigns(x, x0 + 32 * ib, 32, WEIGHT, true, XVAL, SIGNS);
    SCALES[ib] = 0;
    if (max < GROUP_MAX_EPS) continue;
    let scale = makeQpQuants(32, 4, XVAL, 0, L, 0, WEIGHT, 0);
    const effMax = f(scale * 3);
    if (effMax <= 0) continue;
    scale = gridSearch(s, 32, XVAL, WEIGHT, WAUX, effMax, scale, L, IDX);
    if (scale < 0) {
      scale = -scale;
      for (let k = 0; k < 4; k++) SIGNS[k] = ~SIGNS[k] & 127;
    }
    for (let k = 0; k < 4; k++) {
      Q2[2 * ib] |= IDX[k] << (8 * k);
      Q2[2 * ib + 1] |= SIGNS[k] << (7 * k);
    }
    SCALES[ib] = scale;
    maxScale = maxScale > scale ? maxScale : scale;
  }
  dst.fill(0, o, o + BLOCK_BYTES);
  if (!maxScale) return;
  const d = f(maxScale / 31);
  putFp16(dst, o, d);
  const id = f(1 / d);
  for (let ib = 0; ib < 8; ib++) Q2[2 * ib + 1] |= scaleCode(id, SCALES[ib]) << 28;
  for (let i = 0; i < 16; i++) {
    const v = Q2[i];
    const p = o + 2 + 4 * i;
    dst[p] = v & 255;
    dst[p + 1] = (v >>> 8) & 255;
    dst[p + 2] = (v >>> 16) & 255;
    dst[p + 3] = v >>> 24;
  }
}

export const IQ2_XXS: QuantTraits = {
  layout: typeLayout(GgmlType.IQ2_XXS),
  imatrix: 'required',
  ...gridTypeRows('required', BLOCK_BYTES, quantizeBlock, decodeBlock),
  gpu: { wgsl, libs: ['iqGridSearch', 'search', 'kSearch'], tables: () => iqGridGpuTables('iq2xxs') },
  gpuDequant,
};

function decodeBlock(src: Uint8Array, o: number, d: number, dst: Float32Array, y0: number): void {
  const { values } = iqGrid('iq2xxs');
  for (let ib = 0; ib < 8; ib++) {
    const p = o + 2 + 8 * ib;
    const aux = (src[p + 4] | (src[p + 5] << 8) | (src[p + 6] << 16) | (src[p + 7] << 24)) >>> 0;
    const db = f(f(d * (0.5 + (aux >>> 28))) * 0.25);
    for (let k = 0; k < 4; k++) {
      const g = src[p + k] * 8;
      const signs = KSIGNS_IQ2XS[(aux >>> (7 * k)) & 127];
      const y = y0 + 32 * ib + 8 * k;
      for (let j = 0; j < 8; j++) {
        const v = f(db * values[g + j]);
        dst[y + j] = (signs >> j) & 1 ? -v : v;
      }
    }
  }
}
