/**
 * IQ1_S: super-blocks of 256 values, 50 bytes (1.5625 bits per weight): `d` fp16 @0, `qs[32]` @2, `qh[8]` u16
 * @34. Group g of 8 values (sub-block ib = g/4, k = g mod 4) is the 11-bit `iq1s_grid` point
 * `qs[g] | ((qh[ib] >> 3k) & 7) << 8`; qh[ib] bits 12..14 hold the sub-block scale code l, bit 15 the sign of δ.
 * value = d·(2l+1)·(grid + δ), δ = ±0.125.
 * Reproduces `quantize_iq1_s` (`quantize_row_iq1_s_impl`, imatrix required: ggml asserts one) and
 * `dequantize_row_iq1_s`; spec §1.5, §2.8.1, §3.5.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { putFp16, F16_TO_F32, F16_TO_F32_BITS, fixNaNs } from '../core/half.js';
import { f, nearestInt } from '../core/fp32.js';
import { iqGrid, iqGridGpuTables, type IqGrid } from './iq-grids.js';
import wgsl from '../../shaders/iq1_s.wgsl';
import gpuDequant from '../../shaders/dequant/iq1_s.wgsl';
import {
  IQ1_DELTA, IQ1_XM, IQ1_XP, absMax, iq1ScaleError, groupKey, iq1BestNeighbour, stableSortByValue,
} from './iq1-search.js';
import { imatrixWeights, superBlockSigma2 } from './iq-search.js';
import type { QuantTraits } from './traits.js';

const QK = 256;
const BS = 32;
const NSUB = QK / BS;
const BLOCK_BYTES = 50;
const EPS = f(1e-12);
const FLT_MAX = 3.4028234663852886e38;
const FUDGE = f(1.125);

const XP0 = IQ1_XP[0], XP1 = IQ1_XP[1], XP2 = IQ1_XP[2];
const XM0 = IQ1_XM[0], XM1 = IQ1_XM[1], XM2 = IQ1_XM[2];

// per-call scratch (the quantizer is synchronous, so module-level buffers are safe)
const weight = new Float32Array(BS);
const order = new Uint8Array(BS);
const sumx = new Float32Array(BS + 1);
const sumw = new Float32Array(BS + 1);
// the terms of the split sums that depend on i1 only (A*) or on i2 only (C*), per table
const AP = new Float32Array(BS + 1), AM = new Float32Array(BS + 1);
const AWP = new Float32Array(BS + 1), AWM = new Float32Array(BS + 1);
const CP = new Float32Array(BS + 1), CM = new Float32Array(BS + 1);
const CWP = new Float32Array(BS + 1), CWM = new Float32Array(BS + 1);
const L = new Uint8Array(BS);
const index = new Uint16Array(BS / 8);
const scales = new Float32Array(NSUB);
const shifts = new Int8Array(NSUB);

let grid: IqGrid | null = null;

function quantizeSuperBlock(x: Float32Array, xb0: number, qw: Float32Array, q0: number, dst: Uint8Array, o: number): void {
  const g = grid!;
  dst.fill(0, o, o + BLOCK_BYTES);
  let maxScale = 0;
  const sigma2 = superBlockSigma2(x, xb0, true);

  for (let ib = 0; ib < NSUB; ib++) {
    const x0 = xb0 + BS * ib;
    imatrixWeights(x, x0, qw, q0 + BS * ib, BS, sigma2, weight, null);
    const max = absMax(x, x0, BS);
    if (max < EPS) {
      scales[ib] = 0;
      shifts[ib] = 1;
      continue;
    }
    stableSortByValue(x, x0, BS, order);
    sumx[0] = 0;
    sumw[0] = 0;
    for (let j = 0; j < BS; j++) {
      const i = order[j];
      sumx[j + 1] = f(sumx[j] + f(weight[i] * x[x0 + i]));
      sumw[j + 1] = f(sumw[j] + weight[i]);
    }
    const sx0 = sumx[0], sw0 = sumw[0], sxN = sumx[BS], swN = sumw[BS];
    for (let i = 0; i <= BS; i++) {
      const a = f(sumx[i] - sx0), aw = f(sumw[i] - sw0);
      const c = f(sxN - sumx[i]), cw = f(swN - sumw[i]);
      AP[i] = f(a * XP0); AWP[i] = f(f(aw * XP0) * XP0);
      AM[i] = f(a * XM0); AWM[i] = f(f(aw * XM0) * XM0);
      CP[i] = f(c * XP2); CWP[i] = f(f(cw * XP2) * XP2);
      CM[i] = f(c * XM2); CWM[i] = f(f(cw * XM2) * XM2);
    }
    let best = -FLT_MAX;
    let scale = max;
    let besti1 = -1, besti2 = -1, bestShift = 0;
    for (let i1 = 0; i1 <= BS; i1++) {
      const s1 = sumx[i1], w1 = sumw[i1];
      const ap = AP[i1], awp = AWP[i1], am = AM[i1], awm = AWM[i1];
      for (let i2 = i1; i2 <= BS; i2++) {
        const b = f(sumx[i2] - s1), bw = f(sumw[i2] - w1);
        let sumqx = f(f(ap + f(b * XP1)) + CP[i2]);
        let sumq2 = f(f(awp + f(f(bw * XP1) * XP1)) + CWP[i2]);
        if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
          scale = f(sumqx / sumq2); best = f(scale * sumqx);
          besti1 = i1; besti2 = i2; bestShift = 1;
        }
        sumqx = f(f(am + f(b * XM1)) + CM[i2]);
        sumq2 = f(f(awm + f(f(bw * XM1) * XM1)) + CWM[i2]);
        if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
          scale = f(sumqx / sumq2); best = f(scale * sumqx);
          besti1 = i1; besti2 = i2; bestShift = -1;
        }
      }
    }
    if (besti1 < 0) {
      scales[ib] = 0;
      shifts[ib] = 1;
      continue;
    }
    for (let j = 0; j < BS; j++) L[order[j]] = j < besti1 ? 0 : j < besti2 ? 1 : 2;
    if (scale < 0) {
      for (let j = 0; j < BS; j++) L[j] = 2 - L[j];
      scale = -scale;
      bestShift = -bestShift;
    }
    const table = bestShift === 1 ? IQ1_XP : IQ1_XM;
    let allOnGrid = true;
    for (let k = 0; k < BS / 8; k++) {
      const u = groupKey(L, 8 * k);
      let gi = g.onGrid(u);
      if (gi < 0) {
        allOnGrid = false;
        gi = iq1BestNeighbour(g, u, x, x0 + 8 * k, weight, 8 * k, scale, table, L, 8 * k);
      }
      index[k] = gi;
    }
    if (!allOnGrid) {
      let sqx = 0, sq2 = 0;
      for (let j = 0; j < BS; j++) {
        const w = weight[j];
        const q = table[L[j]];
        sqx = f(sqx + f(f(w * q) * x[x0 + j]));
        sq2 = f(sq2 + f(f(w * q) * q));
      }
      if (sqx > 0 && sq2 > 0) scale = f(sqx / sq2);
    }
    if (!(scale >= 0)) throw iq1ScaleError(scale);
    let h = 0;
    for (let k = 0; k < BS / 8; k++) {
      dst[o + 2 + 4 * ib + k] = index[k] & 255;
      h |= (index[k] >> 8) << (3 * k);
    }
    dst[o + 34 + 2 * ib] = h & 255;
    dst[o + 35 + 2 * ib] = h >> 8;
    scales[ib] = scale;
    shifts[ib] = bestShift;
    if (!(maxScale > scale)) maxScale = scale;
  }

  if (maxScale === 0) return;
  const d = f(maxScale / 15);
  putFp16(dst, o, f(d * FUDGE));
  const id = f(1 / d);
  for (let ib = 0; ib < NSUB; ib++) {
    let l = nearestInt(f(0.5 * f(f(id * scales[ib]) - 1)));
    l = Math.max(0, Math.min(7, l));
    if (shifts[ib] === -1) l |= 8;
    dst[o + 35 + 2 * ib] |= l << 4;
  }
}

export const IQ1_S: QuantTraits = {
  layout: typeLayout(GgmlType.IQ1_S),
  imatrix: 'required',
  /** one row; `imatrix` is never null here ('required': quantizeChunk refuses without one) */
  quantizeRowImpl(src, dst, nPerRow, imatrix) {
    grid ??= iqGrid('iq1s');
    for (let ibl = 0; ibl < nPerRow / QK; ibl++) quantizeSuperBlock(src, ibl * QK, imatrix!, ibl * QK, dst, ibl * BLOCK_BYTES);
  },
  dequantizeRow(src, dst, n) {
    const values = (grid ??= iqGrid('iq1s')).values;
    const nb = n / QK;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      const hb = src[o] | (src[o + 1] << 8);
      const d = F16_TO_F32[hb];
      const y0 = b * QK;
      for (let ib = 0; ib < NSUB; ib++) {
        const qh = src[o + 34 + 2 * ib] | (src[o + 35 + 2 * ib] << 8);
        const dl = f(d * (2 * ((qh >> 12) & 7) + 1));
        const delta = qh & 0x8000 ? -IQ1_DELTA : IQ1_DELTA;
        for (let k = 0; k < 4; k++) {
          const p = (src[o + 2 + 4 * ib + k] | (((qh >> (3 * k)) & 7) << 8)) * 8;
          const y = y0 + 32 * ib + 8 * k;
          for (let j = 0; j < 8; j++) dst[y + j] = dl * (values[p + j] + delta);
        }
      }
      if (!Number.isFinite(d)) fixNaNs(dst, y0, QK, F16_TO_F32_BITS[hb]);
    }
  },
  gpu: { wgsl, libs: ['iq1Search'], tables: () => iqGridGpuTables('iq1s') },
  gpuDequant,
};
