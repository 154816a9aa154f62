/**
 * Single-precision arithmetic as llama.cpp's x86-64 CPU backend (ggml-cpu, AVX-512 build variant) performs
 * it in the kernels whose rounding reaches the forward pass's results: a fused multiply-add rounded once,
 * the vectorised exponential (`ggml_v_expf`, a degree-5 polynomial after a base-2 range reduction, used by
 * the soft-max and SiLU kernels), and the horizontal sum of a 16-lane register in the order GCC's
 * `_mm512_reduce_add_ps` adds the lanes. Each function works on doubles holding f32 values and returns an
 * f32 value, so the callers can keep plain number arithmetic around them.
 */
const fround = Math.fround;

/**
 * a·b + c for f32 a, b, c, rounded once to f32 (x86 vfmadd). The product is exact in a double; the sum is
 * rounded to a double and then to f32, and the one case where that double rounding can differ from a
 * single rounding (the double sum lands exactly halfway between two f32 values while the exact sum does
 * not) is settled with the sum's error term.
 */
export function fma32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = fround(s);
  if (r === s || r === Infinity || r === -Infinity) return r;
  const o = 2 * s - r; // the f32 on s's other side when s is halfway between two
  if (fround(o) !== o) return r; // (NaN included)
  const bb = s - p;
  const err = (p - (s - bb)) + (c - bb);
  if (err === 0) return r;
  return (err > 0) === (o > r) ? o : r;
}

/** 0x1.hhhhhhp±e as a number */
const hexf = (mantissa: number, exp: number) => (mantissa / 2 ** 24) * 2 ** exp;
const SHIFTER = hexf(0x1800000, 23); // 0x1.8p23: adding it rounds to an integer
const LOG2E = hexf(0x1715476, 0);
const LN2_HI = hexf(0x162e400, -1);
const LN2_LO = hexf(0x17f7d1c, -20);
const P5 = hexf(0x10e4020, -7);
const P4 = hexf(0x1573e2e, -5);
const P3 = hexf(0x1555e66, -3);
const P2 = hexf(0x1fffdb6, -2);
const P1 = hexf(0x1ffffec, -1);

/** ggml_v_expf, one lane of the AVX-512 version: e^x with n = round(x·log2 e), x - n·ln2 in two steps */
export function vExpf(x: number): number {
  const z = fma32(x, LOG2E, SHIFTER);
  const n = fround(z - SHIFTER);
  const b = fma32(-n, LN2_LO, fma32(-n, LN2_HI, x));
  if (Math.abs(n) > 192) return n <= 0 ? 0 : Infinity;
  const u = fround(b * b);
  const j = fma32(fma32(fma32(P5, b, P4), u, fma32(P3, b, P2)), u, fma32(P1, b, 1));
  return fround(j * 2 ** n);
}

/** ggml_v_silu (AVX-512): x / (1 + e^-x) */
export function vSilu(x: number): number {
  return fround(x / fround(1 + vExpf(fround(0 - x))));
}

/** _mm512_reduce_add_ps of v[o .. o+15] as GCC adds the lanes: halves, quarters, then pairs */
export function reduceAdd16(v: ArrayLike<number>, o: number): number {
  const h0 = fround(v[o + 8] + v[o]), h1 = fround(v[o + 9] + v[o + 1]), h2 = fround(v[o + 10] + v[o + 2]), h3 = fround(v[o + 11] + v[o + 3]);
  const h4 = fround(v[o + 12] + v[o + 4]), h5 = fround(v[o + 13] + v[o + 5]), h6 = fround(v[o + 14] + v[o + 6]), h7 = fround(v[o + 15] + v[o + 7]);
  const q0 = fround(h4 + h0), q1 = fround(h5 + h1), q2 = fround(h6 + h2), q3 = fround(h7 + h3);
  return fround(fround(q0 + q2) + fround(q1 + q3));
}

const dotLanes = new Float32Array(64);

/**
 * ggml_vec_dot_f16 (AVX-512) of x[xo ..] and y[yo ..] (n values, each already an F16 value): runs of 64
 * by fused multiply-adds into four 16-lane accumulators, which are added (0+2, 1+3, then 0+1) and reduced
 * with _mm512_reduce_add_ps; the last n mod 64 products are added to that in double precision.
 */
export function vecDotF16(x: ArrayLike<number>, xo: number, y: ArrayLike<number>, yo: number, n: number): number {
  const np = n - (n % 64);
  let sum = 0;
  if (np > 0) {
    const a = dotLanes;
    a.fill(0);
    for (let i = 0; i < np; i += 64) {
      for (let j = 0; j < 64; j++) a[j] = fma32(x[xo + i + j], y[yo + i + j], a[j]);
    }
    for (let p = 0; p < 16; p++) {
      a[p] = fround(a[p] + a[32 + p]);
      a[16 + p] = fround(a[16 + p] + a[48 + p]);
    }
    for (let p = 0; p < 16; p++) a[p] = fround(a[p] + a[16 + p]);
    sum = reduceAdd16(a, 0);
  }
  for (let i = np; i < n; i++) sum += fround(x[xo + i] * y[yo + i]);
  return fround(sum);
}
