/**
 * The legacy imatrix paths' row statistic, sigma2 = (sum of x*x over the row) / n_per_row, in binary32 in
 * ggml's order (quantize_row_q4_0_impl and friends). The GPU computes it for whole-row chunks
 * (shaders/lib/row-stats.wgsl); the host computes it here for rows split over several chunks.
 */
const f = Math.fround;

export function rowSigma2(row: Float32Array): number {
  let sum = 0;
  for (let j = 0; j < row.length; j++) sum = f(sum + f(row[j] * row[j]));
  return f(sum / f(row.length));
}
