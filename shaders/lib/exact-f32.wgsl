// Exact IEEE-754 binary32 arithmetic for WGSL, so that a kernel reproduces ggml's scalar x86-64 float code
// (spec §3.1, §3.4) bit for bit on any conforming WebGPU implementation.
//
// Every float value is carried as its u32 bit pattern; kernels never use the native f32 operators directly.
// What WGSL guarantees, and how each operation stays inside it (spec §3.4):
//   * `+ - *` are correctly rounded, but an implementation may fuse `a*b + c` into an FMA or reassociate.
//     fadd/fsub/fmul use the native operator and XOR the result with `params.zero`, a uniform that is
//     always 0 but unknown to the compiler: no optimiser can see through it, so no product is ever fused
//     into a following add and no chain is reassociated.
//   * subnormal inputs and outputs may be flushed to zero (SwiftShader does flush them), infinities and NaN
//     give indeterminate values, and the sign of a zero may be ignored. The native operator is used only
//     for normal operands whose result cannot overflow; zero operands and exact cancellation are resolved
//     with integer logic (signed zeros as x86 gives them).
//   * `/` is only 2.5 ULP accurate and `sqrt` is not correctly rounded: fdiv and fsqrt are integer-only
//     (long division, bit-by-bit square root) with round-to-nearest-even.
//   * comparisons are done on the bit patterns (a subnormal compared natively may read as zero).
// Anything else (a subnormal operand or result, Inf, NaN, overflow) sets `g_inexact`: the entry point then
// marks the block in the fallback bitmask and the host recomputes its row with the CPU reference
// (src/gpu/fallback.ts). Such blocks only occur for values near the binary32 range limits (the
// 'subnormal' and 'tiny-huge' test distributions); a complete soft-float path inside the kernels would make
// SwiftShader's shader compiler take minutes per pipeline, as it inlines every call site.

const F_SIGN: u32 = 0x80000000u;
const F_ABS: u32 = 0x7fffffffu;
const F_INF: u32 = 0x7f800000u;
const F_ONE: u32 = 0x3f800000u;

// set by an operation whose operands or result leave the range handled exactly here; reset per block
var<private> g_inexact: bool;

// An opaque identity: `params.zero` is 0 at run time, which the compiler cannot know.
fn opaque(v: u32) -> u32 { return v ^ params.zero; }
// Loop bounds go through these: SwiftShader unrolls loops with constant trip counts completely, and the
// unrolled searches then take minutes to compile (a loop over `runtime_u32(32u)` stays a loop).
fn runtime_u32(n: u32) -> u32 { return n ^ params.zero; }
fn runtime_i32(n: i32) -> i32 { return n ^ i32(params.zero); }

fn f_exp(a: u32) -> u32 { return (a >> 23u) & 0xffu; }
fn f_is_nan(a: u32) -> bool { return (a & F_ABS) > F_INF; }
fn f_is_zero(a: u32) -> bool { return (a & F_ABS) == 0u; }
// a normal number (not zero, subnormal, Inf or NaN)
fn f_is_normal(a: u32) -> bool { return f_exp(a) - 1u < 254u; }
fn fneg(a: u32) -> u32 { return a ^ F_SIGN; }
fn fabs(a: u32) -> u32 { return a & F_ABS; }
// C truth value of a float (`d ? 1/d : 0`): ±0 is false, NaN is true
fn f_truthy(a: u32) -> bool { return (a & F_ABS) != 0u; }

// The helpers below avoid branches (select, non-short-circuit & and |): SwiftShader's compile time grows
// steeply with control flow inside nested loops.

// Monotonic signed key of a non-NaN value; +0 and -0 map to the same key.
fn f_key(a: u32) -> i32 {
  let m = i32(a & F_ABS);
  return select(m, -m, (a & F_SIGN) != 0u);
}
// C comparison operators: false whenever a NaN is involved
fn flt(a: u32, b: u32) -> bool { return !f_is_nan(a) & !f_is_nan(b) & (f_key(a) < f_key(b)); }
fn fgt(a: u32, b: u32) -> bool { return flt(b, a); }
fn fle(a: u32, b: u32) -> bool { return !f_is_nan(a) & !f_is_nan(b) & (f_key(a) <= f_key(b)); }
fn fge(a: u32, b: u32) -> bool { return fle(b, a); }

fn fadd(a: u32, b: u32) -> u32 {
  let ea = f_exp(a);
  let eb = f_exp(b);
  let r = opaque(bitcast<u32>(bitcast<f32>(a) + bitcast<f32>(b)));
  // normal operands below 2^126: the native sum is exact-rounded and cannot overflow; a zero or subnormal
  // result is either an exact cancellation (+0 when rounding to nearest) or possibly flushed
  let native = (ea - 1u < 253u) & (eb - 1u < 253u);
  let cancel = a == (b ^ F_SIGN);
  // 0 + b = b and a + 0 = a for finite a, b; -0 only for (-0) + (-0)
  let az = f_is_zero(a);
  let bz = f_is_zero(b);
  let zero_case = (az & (eb != 255u)) | (bz & (ea != 255u));
  let zero_sum = select(a, select(b, a & b, bz), az);
  var out = select(r, 0u, cancel);
  out = select(out, zero_sum, zero_case);
  g_inexact = g_inexact | !((native & ((f_exp(r) != 0u) | cancel)) | zero_case);
  return out;
}

fn fsub(a: u32, b: u32) -> u32 { return fadd(a, fneg(b)); }

fn fmul(a: u32, b: u32) -> u32 {
  let ea = f_exp(a);
  let eb = f_exp(b);
  let es = ea + eb;
  let r = opaque(bitcast<u32>(bitcast<f32>(a) * bitcast<f32>(b)));
  // |a*b| lies in [2^(es-254), 2^(es-252)): normal and finite for es in [129, 378]
  let native = (ea - 1u < 254u) & (eb - 1u < 254u) & (es >= 129u) & (es <= 378u);
  // a zero times a finite value: a zero with the sign of the product
  let zero_case = (f_is_zero(a) & (eb != 255u)) | (f_is_zero(b) & (ea != 255u));
  g_inexact = g_inexact | !(native | zero_case);
  return select(r, (a ^ b) & F_SIGN, zero_case);
}

// Round to nearest even and pack a normal result. `m` has its leading one at bit 31 and the value is
// m * 2^(e - 158), i.e. `e` is the biased exponent; results that are subnormal or overflow set g_inexact.
fn f_round_pack(s: u32, e: i32, m: u32) -> u32 {
  let q0 = m >> 8u;
  let rem = m & 0xffu;
  let q = q0 + select(0u, 1u, (rem > 0x80u) | ((rem == 0x80u) & ((q0 & 1u) == 1u)));
  // q has its leading one at bit 23 (bit 24 after a rounding carry, which steps into the exponent)
  let r = s | ((u32(e - 1) << 23u) + q);
  g_inexact = g_inexact | (e < 1) | (e > 254) | (f_exp(r) == 255u);
  return r;
}

// Correctly rounded division by restoring long division on the significands (normal b; a normal or 0).
fn fdiv(a: u32, b: u32) -> u32 {
  let s = (a ^ b) & F_SIGN;
  let az = f_is_zero(a);
  g_inexact = g_inexact | !f_is_normal(b) | !(f_is_normal(a) | az);
  var r = (a & 0x7fffffu) | 0x800000u;
  let mb = (b & 0x7fffffu) | 0x800000u;
  let shift = r < mb; // bring the quotient into [1, 2)
  r = select(r, r << 1u, shift);
  let e = i32(f_exp(a)) - i32(f_exp(b)) + 127 - select(0, 1, shift);
  var q = 0u;
  for (var i = 0u; i < runtime_u32(26u); i++) {
    let ge = r >= mb;
    r = select(r, r - mb, ge) << 1u;
    q = (q << 1u) | select(0u, 1u, ge);
  }
  // 0 / b is a signed zero (and must not trip the range check of the packing)
  let packed = f_round_pack(s, select(e, 127, az), (q << 6u) | select(0u, 1u, r != 0u));
  return select(packed, s, az);
}

// Correctly rounded square root, bit by bit on the integer significand.
fn fsqrt(a: u32) -> u32 {
  let az = f_is_zero(a);
  g_inexact = g_inexact | !(az | (f_is_normal(a) & ((a & F_SIGN) == 0u)));
  let odd = ((f_exp(a) - 127u) & 1u) != 0u;
  let m = select((a & 0x7fffffu) | 0x800000u, ((a & 0x7fffffu) | 0x800000u) << 1u, odd);
  let ue = i32(f_exp(a)) - 127 - select(0, 1, odd);
  // root = floor(sqrt(m * 2^27)), 26 bits, from the 26 bit pairs of the 52-bit radicand (m has 25 bits)
  var rem = 0u;
  var root = 0u;
  for (var i = 0u; i < runtime_u32(26u); i++) {
    let p = 50u - 2u * i;
    // bits p+1, p of m << 27 (the shift in the unused arm wraps harmlessly)
    let pair = select(select(0u, (m << 1u) & 3u, p == 26u), (m >> (p - 27u)) & 3u, p >= 27u);
    rem = (rem << 2u) | pair;
    let t = (root << 2u) | 1u;
    let ge = rem >= t;
    rem = select(rem, rem - t, ge);
    root = (root << 1u) | select(0u, 1u, ge);
  }
  let packed = f_round_pack(0u, select(127 + ue / 2, 127, az), (root << 6u) | select(0u, 1u, rem != 0u));
  return select(packed, a, az); // sqrt(±0) = ±0
}

// (float)i for the small C ints of the searches (|i| <= 2^24 converts exactly; +0 for 0)
fn f_from_i32(i: i32) -> u32 {
  g_inexact = g_inexact | (abs(i) > 0x1000000);
  return select(bitcast<u32>(f32(i)), 0u, i == 0);
}

fn f_from_u32(n: u32) -> u32 {
  g_inexact = g_inexact | (n > 0x1000000u);
  return select(bitcast<u32>(f32(n)), 0u, n == 0u);
}

// ggml nearest_int(): the bits of v + 1.5*2^23, masked (round half to even for |v| < 2^22, garbage above)
fn nearest_int(v: u32) -> i32 {
  let s = fadd(v, 0x4b400000u);
  return i32(s & 0x7fffffu) - 0x400000;
}

// x86 cvttss2si: truncate toward zero; NaN and |v| >= 2^31 give INT_MIN ("integer indefinite"). C float to
// int8/uint8 conversions compile to this followed by keeping the low byte.
fn f_trunc_i32(a: u32) -> i32 {
  let e = f_exp(a);
  let m = (a & 0x7fffffu) | 0x800000u;
  // the shift in the unused arm wraps harmlessly
  let v = select(m >> (150u - e), m << (e - 150u), e >= 150u);
  let t = select(i32(v), -i32(v), (a & F_SIGN) != 0u);
  return select(select(t, 0, e < 127u), i32(F_SIGN), e >= 158u);
}

// C conversion of an int to int8_t (keep the low byte, sign-extended)
fn i8_of(v: i32) -> i32 { return (v << 24u) >> 24u; }

// C roundf (half away from zero) followed by cvttss2si, as in `int8_t q = roundf(x)`
fn f_round_i32(a: u32) -> i32 {
  let e = f_exp(a);
  let m = (a & 0x7fffffu) | 0x800000u;
  let sh = 150u - e; // 1..24 when rounding applies
  let v = select((m + (1u << (sh - 1u))) >> sh, m << (e - 150u), e >= 150u);
  let t = select(i32(v), -i32(v), (a & F_SIGN) != 0u);
  return select(select(t, 0, e < 126u), i32(F_SIGN), e >= 158u);
}
