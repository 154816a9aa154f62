/**
 * The legacy imatrix paths' row statistic (src/quant/legacy-imatrix.ts). The GPU computes it for whole-row
 * chunks (shaders/lib/row-stats.wgsl); the host computes it here for rows split over several chunks.
 */
import { rowSigma2 as rowSigma2At } from '../quant/legacy-imatrix.js';

export function rowSigma2(row: Float32Array): number {
  return rowSigma2At(row, 0, row.length);
}
