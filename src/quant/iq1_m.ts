/**
 * IQ1_M: super-blocks of 256 values, 56 bytes (1.75 bits per weight): `qs[32]` @0, `qh[16]` @32, `scales[8]`
 * @48 read as four u16 sc[0..3]. No separate d: its fp16 bits are the top nibbles of sc[0..3].
 * 16 sub-blocks of 16 values (t), each two groups of 8: group 2t+h is the `iq1s_grid` point
 * `qs[2t+h] | ((qh[t] >> 4h) & 7) << 8`, bit 3+4h of qh[t] the sign of its δ; the 3-bit scale code of t is
 * bits 3(t mod 4).. of sc[t/4]. value = d·(2l+1)·(grid + δ), δ = ±0.125.
 * Reproduces `quantize_iq1_m` (`quantize_row_iq1_m_impl`, v0.5.0's prefix-sum search; imatrix optional)
 * and `dequantize_row_iq1_m`; spec §1.5, §2.8.2, §3.5.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { fp32ToFp16, F16_TO_F32, F16_TO_F32_BITS, fixNaNs } from '../core/half.js';
import { f, nearestInt } from '../core/fp32.js';
import { iqGrid, iqGridGpuTables, type IqGrid } from './iq-grids.js';
import wgsl from '../../shaders/iq1_m.wgsl';
import gpuDequant from '../../shaders/dequant/iq1_m.wgsl';
import {
  IQ1_DELTA, IQ1_XM, IQ1_XP, absMax, iq1ScaleError, groupKey, iq1BestNeighbour, stableSortByValue,
} from './iq1-search.js';
import { imatrixWeights, plainWeights, superBlockSigma2 } from './iq-search.js';
import type { QuantTraits } from './traits.js';

const QK = 256;
const BS = 16;
const NSUB = QK / BS;
const BLOCK_BYTES = 56;
const QH = 32;
const SC = 48;
const EPS = f(1e-7);
const FLT_MAX = 3.4028234663852886e38;
const FUDGE = f(1.1125);
/** qh bits of the δ signs for the four (group 0, group 1) table patterns k: (p,p) (p,m) (m,p) (m,m) */
const MASKS = [0x00, 0x80, 0x08, 0x88];

const P2 = IQ1_XP[2], M2 = IQ1_XM[2];
const CP1 = f(f(IQ1_XP[0] * IQ1_XP[0]) - f(IQ1_XP[1] * IQ1_XP[1]));
const CP2 = f(f(IQ1_XP[1] * IQ1_XP[1]) - f(IQ1_XP[2] * IQ1_XP[2]));
const CM1 = f(f(IQ1_XM[0] * IQ1_XM[0]) - f(IQ1_XM[1] * IQ1_XM[1]));
const CM2 = f(f(IQ1_XM[1] * IQ1_XM[1]) - f(IQ1_XM[2] * IQ1_XM[2]));

// per-call scratch (the quantizer is synchronous, so module-level buffers are safe)
const weight = new Float32Array(BS);
const order = new Uint8Array(BS);
/** prefix sums per half h of the sub-block, at [h*(BS+1) + j] */
const px = new Float32Array(2 * (BS + 1));
const pw = new Float32Array(2 * (BS + 1));
const WP2 = new Float32Array(2 * (BS + 1));
const WM2 = new Float32Array(2 * (BS + 1));
const L = new Uint8Array(BS);
const index = new Uint16Array(2);
const scales = new Float32Array(NSUB);
const shifts = new Uint8Array(NSUB);
const sc = new Uint16Array(4);

let grid: IqGrid | null = null;

/** weight[0..BS) for the sub-block at x0: qw·sqrt(sigma2 + x²) with an imatrix, else x² */
function subBlockWeights(x: Float32Array, x0: number, qw: Float32Array | null, q0: number, sigma2: number): void {
  if (qw) imatrixWeights(x, x0, qw, q0, BS, sigma2, weight, null);
  else plainWeights(x, x0, BS, 0, weight, null);
}

const tableOf = (k: number, group: number) => (group === 0 ? (k < 2 ? IQ1_XP : IQ1_XM) : (k % 2 === 0 ? IQ1_XP : IQ1_XM));

function quantizeSuperBlock(x: Float32Array, xb0: number, qw: Float32Array | null, q0: number, dst: Uint8Array, o: number): void {
  const g = grid!;
  dst.fill(0, o, o + BLOCK_BYTES);
  let maxScale = 0;
  const sigma2 = superBlockSigma2(x, xb0, true);

  for (let ib = 0; ib < NSUB; ib++) {
    const x0 = xb0 + BS * ib;
    subBlockWeights(x, x0, qw, q0 + BS * ib, sigma2);
    const max = absMax(x, x0, BS);
    if (max < EPS) {
      scales[ib] = 0;
      shifts[ib] = 0;
      continue;
    }
    stableSortByValue(x, x0, BS, order);
    px[0] = px[BS + 1] = 0;
    pw[0] = pw[BS + 1] = 0;
    for (let j = 0; j < BS; j++) {
      const i = order[j];
      const h = i < BS / 2 ? 0 : BS + 1;
      const o2 = BS + 1 - h;
      px[h + j + 1] = f(px[h + j] + f(weight[i] * x[x0 + i]));
      px[o2 + j + 1] = px[o2 + j];
      pw[h + j + 1] = f(pw[h + j] + weight[i]);
      pw[o2 + j + 1] = pw[o2 + j];
    }
    const tx0 = px[BS], tx1 = px[2 * BS + 1];
    const tw0 = pw[BS], tw1 = pw[2 * BS + 1];
    const txp0 = f(tx0 * P2), txm0 = f(tx0 * M2), txp1 = f(tx1 * P2), txm1 = f(tx1 * M2);
    const twp0 = f(f(tw0 * P2) * P2), twm0 = f(f(tw0 * M2) * M2);
    const twp1 = f(f(tw1 * P2) * P2), twm1 = f(f(tw1 * M2) * M2);
    let best = -FLT_MAX;
    let scale = max;
    let besti1 = -1, besti2 = -1, bestK = -1;
    // the terms of q2 that depend on i2 only: pw[h][i2]·c?2
    for (let i = 0; i <= BS; i++) {
      WP2[i] = f(pw[i] * CP2); WM2[i] = f(pw[i] * CM2);
      WP2[BS + 1 + i] = f(pw[BS + 1 + i] * CP2); WM2[BS + 1 + i] = f(pw[BS + 1 + i] * CM2);
    }
    for (let i1 = 0; i1 <= BS; i1++) {
      const px0i1 = px[i1], px1i1 = px[BS + 1 + i1], pw0i1 = pw[i1], pw1i1 = pw[BS + 1 + i1];
      // the q2 terms that depend on i1 only: W·c·c + pw[h][i1]·c?1
      const ap0 = f(twp0 + f(pw0i1 * CP1)), am0 = f(twm0 + f(pw0i1 * CM1));
      const ap1 = f(twp1 + f(pw1i1 * CP1)), am1 = f(twm1 + f(pw1i1 * CM1));
      for (let i2 = i1; i2 <= BS; i2++) {
        const sx0 = f(px0i1 + px[i2]);
        const sx1 = f(px1i1 + px[BS + 1 + i2]);
        const qxp0 = f(txp0 - sx0), qxm0 = f(txm0 - sx0);
        const qxp1 = f(txp1 - sx1), qxm1 = f(txm1 - sx1);
        const q2p0 = f(ap0 + WP2[i2]);
        const q2m0 = f(am0 + WM2[i2]);
        const q2p1 = f(ap1 + WP2[BS + 1 + i2]);
        const q2m1 = f(am1 + WM2[BS + 1 + i2]);
        // the four table patterns k = 0 (p,p), 1 (p,m), 2 (m,p), 3 (m,m), in this order
        let sumqx = f(qxp0 + qxp1), sumq2 = f(q2p0 + q2p1);
        if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
          scale = f(sumqx / sumq2); best = f(scale * sumqx); besti1 = i1; besti2 = i2; bestK = 0;
        }
        sumqx = f(qxp0 + qxm1); sumq2 = f(q2p0 + q2m1);
        if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
          scale = f(sumqx / sumq2); best = f(scale * sumqx); besti1 = i1; besti2 = i2; bestK = 1;
        }
        sumqx = f(qxm0 + qxp1); sumq2 = f(q2m0 + q2p1);
        if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
          scale = f(sumqx / sumq2); best = f(scale * sumqx); besti1 = i1; besti2 = i2; bestK = 2;
        }
        sumqx = f(qxm0 + qxm1); sumq2 = f(q2m0 + q2m1);
        if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
          scale = f(sumqx / sumq2); best = f(scale * sumqx); besti1 = i1; besti2 = i2; bestK = 3;
        }
      }
    }
    if (besti1 < 0) {
      scales[ib] = 0;
      shifts[ib] = 0;
      continue;
    }
    for (let j = 0; j < BS; j++) L[order[j]] = j < besti1 ? 0 : j < besti2 ? 1 : 2;
    if (scale < 0) {
      for (let j = 0; j < BS; j++) L[j] = 2 - L[j];
      scale = -scale;
      bestK = 3 - bestK;
    }
    let allOnGrid = true;
    for (let k = 0; k < 2; k++) {
      const u = groupKey(L, 8 * k);
      let gi = g.onGrid(u);
      if (gi < 0) {
        allOnGrid = false;
        gi = iq1BestNeighbour(g, u, x, x0 + 8 * k, weight, 8 * k, scale, tableOf(bestK, k), L, 8 * k);
      }
      index[k] = gi;
    }
    if (!allOnGrid) {
      let sqx = 0, sq2 = 0;
      for (let k = 0; k < 2; k++) {
        const table = tableOf(bestK, k);
        for (let j = 8 * k; j < 8 * k + 8; j++) {
          const w = weight[j];
          const q = table[L[j]];
          sqx = f(sqx + f(f(w * q) * x[x0 + j]));
          sq2 = f(sq2 + f(f(w * q) * q));
        }
      }
      if (sqx > 0 && sq2 > 0) scale = f(sqx / sq2);
    }
    if (!(scale >= 0)) throw iq1ScaleError(scale);
    dst[o + 2 * ib] = index[0] & 255;
    dst[o + 2 * ib + 1] = index[1] & 255;
    dst[o + QH + ib] = (index[0] >> 8) | ((index[1] >> 8) << 4);
    scales[ib] = scale;
    shifts[ib] = bestK;
    if (!(maxScale > scale)) maxScale = scale;
  }

  if (maxScale === 0) return;
  sc.fill(0);
  let d = f(maxScale / 15);
  const id = f(1 / d);
  let sumqx = 0, sumq2 = 0;
  const levels = g.levels;
  for (let ib = 0; ib < NSUB; ib++) {
    let l = nearestInt(f(0.5 * f(f(id * scales[ib]) - 1)));
    l = Math.max(0, Math.min(7, l));
    sc[ib >> 2] |= l << (3 * (ib & 3));
    const qh = (dst[o + QH + ib] |= MASKS[shifts[ib]]);
    const x0 = xb0 + BS * ib;
    subBlockWeights(x, x0, qw, q0 + BS * ib, sigma2);
    for (let k = 0; k < 2; k++) {
      const table = tableOf(shifts[ib], k);
      const p = (dst[o + 2 * ib + k] | ((qh << (8 - 4 * k)) & 0x700)) * 8;
      for (let j = 0; j < 8; j++) {
        const w = weight[8 * k + j];
        const q = f(table[levels[p + j]] * (2 * l + 1));
        sumqx = f(sumqx + f(f(w * q) * x[x0 + 8 * k + j]));
        sumq2 = f(sumq2 + f(f(w * q) * q));
      }
    }
  }
  if (sumq2 > 0) d = f(sumqx / sumq2);
  const s = fp32ToFp16(f(d * FUDGE));
  sc[0] |= (s & 0x000f) << 12;
  sc[1] |= (s & 0x00f0) << 8;
  sc[2] |= (s & 0x0f00) << 4;
  sc[3] |= s & 0xf000;
  for (let i = 0; i < 4; i++) {
    dst[o + SC + 2 * i] = sc[i] & 255;
    dst[o + SC + 2 * i + 1] = sc[i] >> 8;
  }
}

export const IQ1_M: QuantTraits = {
  layout: typeLayout(GgmlType.IQ1_M),
  imatrix: 'optional',
  /** one row; ggml has no _ref path for IQ1_M: without an imatrix this runs with `imatrix` null (weights x²) */
  quantizeRowImpl(src, dst, nPerRow, imatrix) {
    grid ??= iqGrid('iq1s');
    for (let ibl = 0; ibl < nPerRow / QK; ibl++) quantizeSuperBlock(src, ibl * QK, imatrix, ibl * QK, dst, ibl * BLOCK_BYTES);
  },
  dequantizeRow(src, dst, n) {
    const values = (grid ??= iqGrid('iq1s')).values;
    const nb = n / QK;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      for (let i = 0; i < 4; i++) sc[i] = src[o + SC + 2 * i] | (src[o + SC + 2 * i + 1] << 8);
      const hb = (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000);
      const d = F16_TO_F32[hb];
      const y0 = b * QK;
      for (let t = 0; t < NSUB; t++) {
        const dl = f(d * (2 * ((sc[t >> 2] >> (3 * (t & 3))) & 7) + 1));
        const qh = src[o + QH + t];
        for (let h = 0; h < 2; h++) {
          const p = (src[o + 2 * t + h] | (((qh >> (4 * h)) & 7) << 8)) * 8;
          const delta = qh & (0x08 << (4 * h)) ? -IQ1_DELTA : IQ1_DELTA;
          const y = y0 + 16 * t + 8 * h;
          for (let j = 0; j < 8; j++) dst[y + j] = dl * (values[p + j] + delta);
        }
      }
      if (!Number.isFinite(d)) fixNaNs(dst, y0, QK, F16_TO_F32_BITS[hb]);
    }
  },
  gpu: { wgsl, libs: ['iq1Search'], tables: () => iqGridGpuTables('iq1s') },
  gpuDequant,
};
