/**
 * The importance weights of the legacy imatrix paths (quantize_row_q4_0_impl, _q4_1_, _q5_0_, _q5_1_):
 * sigma2 = Σx² / n_per_row over the whole row, then w = qw·sqrt(sigma2 + x²) per value; binary32 in
 * ggml's order. Shared by the four CPU quantizers and the GPU host (rows split over chunks).
 */
const f = Math.fround;
const QK = 32;

/** Weights for one 32-block of the imatrix path: qw·sqrt(sigma2 + x²). */
export function blockWeights(src: Float32Array, x0: number, qw: Float32Array, q0: number, sigma2: number, out: Float32Array): void {
  for (let j = 0; j < QK; j++) {
    const v = src[x0 + j];
    out[j] = f(qw[q0 + j] * f(Math.sqrt(f(sigma2 + f(v * v)))));
  }
}

/** Σx² over a row, divided by its length (`sigma2` of the legacy imatrix paths). */
export function rowSigma2(src: Float32Array, x0: number, n: number): number {
  let s = 0;
  for (let j = 0; j < n; j++) {
    const v = src[x0 + j];
    s = f(s + f(v * v));
  }
  return f(s / n);
}

