// x86 single-precision pieces the forward pass mirrors (src/model/cpu-simd-math.ts), from plain f32
// arithmetic, for the model kernels (shaders/model/*.wgsl):
//   fma_exact(a, b, c)  a*b + c rounded once (vfmadd). WGSL's fma() need not be fused: on SwiftShader it is
//                       a*b then +c, rounded twice (measured), so this builds it: Dekker's exact product
//                       (Veltkamp split), Knuth's exact sum, the low parts added with rounding to odd, the
//                       high part added last (Boldo & Melquiond's emulation of FMA by rounding to odd; exact
//                       while no value is subnormal or overflows, which holds for a model's activations).
//   v_expf(x)           ggml_v_expf, one AVX-512 lane (its polynomial, every step an fma_exact)
//   exp_ff(h, l)        e^(h + l) rounded to f32 (the CPU path's fround(Math.exp(x)) for an x held exactly
//                       as the float-float h + l): range reduction and a degree-13 series in float-float
//                       (relative error about 2^-44: it differs from the correctly rounded value only when
//                       e^x lies within that of the midpoint between two f32 values)
//   ff_*                float-float (unevaluated sum of two f32) helpers
// Every intermediate goes through fx(), an identity the compiler cannot see through (g_fzero is a uniform
// that is 0 at run time, copied in by the entry point), so that no product is contracted into a following
// add and no sum is reassociated.

var<private> g_fzero: u32;

fn fx(v: f32) -> f32 { return bitcast<f32>(bitcast<u32>(v) ^ g_fzero); }

// a + b = s + e exactly (Knuth)
fn two_sum(a: f32, b: f32) -> vec2f {
  let s = fx(a + b);
  let bb = fx(s - a);
  let e = fx(fx(a - fx(s - bb)) + fx(b - bb));
  return vec2f(s, e);
}

// a = hi + lo, each of at most 12 significant bits (Veltkamp, 2^12 + 1)
fn veltkamp(a: f32) -> vec2f {
  let g = fx(4097.0 * a);
  let hi = fx(g - fx(g - a));
  return vec2f(hi, fx(a - hi));
}

// a * b = p + e exactly (Dekker)
fn two_prod(a: f32, b: f32) -> vec2f {
  let p = fx(a * b);
  let sa = veltkamp(a);
  let sb = veltkamp(b);
  let e = fx(fx(fx(fx(fx(sa.x * sb.x) - p) + fx(sa.x * sb.y)) + fx(sa.y * sb.x)) + fx(sa.y * sb.y));
  return vec2f(p, e);
}

// a + b rounded to odd: the nearest-even sum, moved one step towards the exact sum when it is inexact and even
fn add_odd(a: f32, b: f32) -> f32 {
  let s = two_sum(a, b);
  let bits = bitcast<u32>(s.x);
  let inexact = (s.y != 0.0) & ((bits & 1u) == 0u);
  let away = ((bitcast<u32>(s.y) ^ bits) & 0x80000000u) == 0u; // the error has the sum's sign: step away from 0
  return select(s.x, bitcast<f32>(select(bits - 1u, bits + 1u, away)), inexact);
}

fn fma_exact(a: f32, b: f32, c: f32) -> f32 {
  let p = two_prod(a, b);
  let t = two_sum(c, p.x);
  return fx(t.x + add_odd(t.y, p.y));
}

// float-float helpers: (hi, lo) with |lo| <= ulp(hi)/2 after each operation
fn ff_add(a: vec2f, b: vec2f) -> vec2f {
  let s = two_sum(a.x, b.x);
  let t = two_sum(a.y, b.y);
  let u = two_sum(s.x, fx(s.y + t.x));
  return two_sum(u.x, fx(u.y + t.y));
}
fn ff_add_f(a: vec2f, b: f32) -> vec2f {
  let s = two_sum(a.x, b);
  return two_sum(s.x, fx(s.y + a.y));
}
fn ff_mul(a: vec2f, b: vec2f) -> vec2f {
  let p = two_prod(a.x, b.x);
  return two_sum(p.x, fx(p.y + fx(fx(a.x * b.y) + fx(a.y * b.x))));
}

const F_POS_INF: u32 = 0x7f800000u;

// ggml_v_expf (AVX-512), one lane
fn v_expf(x: f32) -> f32 {
  let z = fma_exact(x, bitcast<f32>(0x3fb8aa3bu), bitcast<f32>(0x4b400000u)); // x * log2(e) + 0x1.8p23
  let n = fx(z - bitcast<f32>(0x4b400000u));
  let b = fma_exact(-n, bitcast<f32>(0x35bfbe8eu), fma_exact(-n, bitcast<f32>(0x3f317200u), x));
  if (abs(n) > 192.0) { return select(bitcast<f32>(F_POS_INF ^ g_fzero), 0.0, n <= 0.0); }
  let u = fx(b * b);
  let j = fma_exact(fma_exact(fma_exact(bitcast<f32>(0x3c072010u), b, bitcast<f32>(0x3d2b9f17u)), u,
    fma_exact(bitcast<f32>(0x3e2aaf33u), b, bitcast<f32>(0x3efffedbu))), u, fma_exact(bitcast<f32>(0x3f7ffff6u), b, 1.0));
  return fx(ldexp(j, i32(n)));
}

// 1/k! as float-float, k = 0 .. 7 (hi, lo bit patterns)
const INV_FACT: array<vec2u, 8> = array<vec2u, 8>(
  vec2u(0x3f800000u, 0u), vec2u(0x3f800000u, 0u), vec2u(0x3f000000u, 0u), vec2u(0x3e2aaaabu, 0xb1aaaaabu),
  vec2u(0x3d2aaaabu, 0xb0aaaaabu), vec2u(0x3c088889u, 0xafeeeeefu), vec2u(0x3ab60b61u, 0xae13e93fu), vec2u(0x39500d01u, 0xac3fcbfdu));

// e^(h + l) rounded to f32 (see the top); h + l below -104 gives 0, above 89 infinity
fn exp_ff(h: f32, l: f32) -> f32 {
  if (h < -104.0) { return 0.0; }
  if (h > 89.0) { return bitcast<f32>(F_POS_INF ^ g_fzero); }
  let n = floor(fx(h * bitcast<f32>(0x3fb8aa3bu)) + 0.5);
  // r = h + l - n ln2, ln2 = L1 + L2 + L3 (L1 of 16 bits: n L1 is exact)
  var r = two_sum(h, fx(-n * bitcast<f32>(0x3f317200u)));
  r = ff_add(r, two_prod(-n, bitcast<f32>(0x35bfbe8eu)));
  r = ff_add_f(r, fx(fx(-n * bitcast<f32>(0x29778000u)) + l));
  // sum of r^k / k!: k >= 8 in f32 (below 2^-27 of the result), the rest in float-float by Horner
  let x = r.x;
  var q = fx(fx(fx(fx(fx(fx(fx(fx(fx(fx(bitcast<f32>(0x2f309231u) * x) + bitcast<f32>(0x310f76c7u)) * x) + bitcast<f32>(0x32d7322bu)) * x)
    + bitcast<f32>(0x3493f27eu)) * x) + bitcast<f32>(0x3638ef1du)) * x) + bitcast<f32>(0x37d00d01u));
  var p = vec2f(q, 0.0);
  for (var k = 7; k >= 0; k--) {
    let c = INV_FACT[k];
    p = ff_add(ff_mul(p, r), vec2f(bitcast<f32>(c.x), bitcast<f32>(c.y)));
  }
  let m = fx(p.x + p.y);
  return fx(ldexp(m, i32(n)));
}
