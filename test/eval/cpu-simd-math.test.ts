/**
 * The x86 single-precision pieces the CPU forward pass mirrors (src/model/cpu-simd-math.ts), on values
 * whose correct results are worked out by hand here.
 */
import { describe, expect, it } from 'vitest';
import { fma32, reduceAdd16, vExpf } from '../../src/model/cpu-simd-math.js';

const f = Math.fround;
const ulp1 = 2 ** -23; // f32 spacing in [1, 2)

describe('fma32', () => {
  it('rounds a·b + c once', () => {
    // x² = 1 + 2^-11 + 2^-24 exactly: fused with -1 it keeps the 2^-24; rounding the product first loses it
    const x = f(1 + 2 ** -12);
    expect(fma32(x, x, -1)).toBe(2 ** -11 + 2 ** -24);
    expect(f(f(x * x) - 1)).toBe(2 ** -11);
  });
  it('settles a double sum that lands halfway between two f32 values by the exact sum', () => {
    // a·b = 2^-24 (1 + 2^-23)(1 - 2^-23) = 2^-24 - 2^-70: the double sum with 1 is the midpoint 1 + 2^-24
    // (ties to even: 1), the exact sum is just below it: 1
    expect(fma32(f(1 + ulp1), f(2 ** -24 * (1 - ulp1)), 1)).toBe(1);
    // the same product with c = 1 + 2^-23: the double sum 1 + 3·2^-24 is the midpoint between 1 + 2^-23 and
    // 1 + 2^-22, where ties to even would go up; the exact sum is below it, so the fused result is 1 + 2^-23
    const a = f(1 + ulp1);
    const b = f(2 ** -24 * (1 - ulp1));
    expect(a * b + (1 + ulp1)).toBe(1 + 3 * 2 ** -24);
    expect(f(a * b + (1 + ulp1))).toBe(1 + 2 * ulp1);
    expect(fma32(a, b, 1 + ulp1)).toBe(1 + ulp1);
    expect(fma32(1, f(2 ** -24), 1)).toBe(1); // exactly the midpoint: ties to even
    expect(fma32(1, f(2 ** -24), f(1 + ulp1))).toBe(1 + 2 * ulp1); // exactly the midpoint, even is up
  });
  it('passes NaN and infinities through', () => {
    expect(fma32(NaN, 1, 1)).toBeNaN();
    expect(fma32(Infinity, 0, 1)).toBeNaN();
    expect(fma32(f(3e38), 10, 0)).toBe(Infinity);
  });
});

describe('vExpf (ggml_v_expf, one AVX-512 lane)', () => {
  it('is exact at 0 and saturates as ggml does', () => {
    expect(vExpf(0)).toBe(1);
    expect(vExpf(-Infinity)).toBe(0);
    expect(vExpf(-200)).toBe(0); // |n| > 192: 0 for negative n
    expect(vExpf(200)).toBe(Infinity);
  });
  it('is within 2.5 ulp of e^x over the range the soft-max uses (ggml states 1.45 + 0.5 ulp)', () => {
    let worst = 0;
    for (let x = -80; x <= 0; x += 0.0137) {
      const xf = f(x);
      const want = Math.exp(xf);
      const ulp = 2 ** (Math.floor(Math.log2(want)) - 23);
      worst = Math.max(worst, Math.abs(vExpf(xf) - want) / ulp);
    }
    expect(worst).toBeLessThanOrEqual(2.5);
    expect(worst).toBeGreaterThan(0); // an approximation, not Math.exp rounded
  });
});

describe('reduceAdd16', () => {
  it("adds the lanes as GCC's _mm512_reduce_add_ps does: halves, quarters, then (0+2) + (1+3)", () => {
    // lane 0 = 2^24; each 1 added to it alone is lost (ties to even), two 1s added first are not
    const v = new Float32Array(16);
    v[0] = 2 ** 24;
    v[1] = 1;
    v[3] = 1; // lanes 1 and 3 meet first in the last step: 2^24 + 2
    expect(reduceAdd16(v, 0)).toBe(2 ** 24 + 2);
    const w = new Float32Array(16);
    w[0] = 2 ** 24;
    w[1] = 1;
    w[2] = 1; // lane 2 joins lane 0 before lane 1 does: (2^24 + 1) + 1 → 2^24
    expect(reduceAdd16(w, 0)).toBe(2 ** 24);
    const u = new Float32Array(16);
    u[0] = 2 ** 24;
    u[8] = 1;
    u[9] = 1; // lane 8 joins lane 0 in the first step (lost), lane 9 joins lane 1, then 2^24 + 1 → 2^24
    expect(reduceAdd16(u, 0)).toBe(2 ** 24);
  });
});
