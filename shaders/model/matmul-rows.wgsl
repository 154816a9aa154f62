// out (T x m) = x (T x n) . w^T, w row-major (m x n): one invocation per output element and no workgroup
// memory, 4-wide loads (software adapters run this faster than the tiled matmul.wgsl).
// m: the weight rows multiplied (a row slice of the weight), written to output columns col0.. of rows
// `ldo` wide (the whole weight's rows; col0 = 0 and ldo = m for an unsliced weight).
// t: the activation rows multiplied, x rows x0.. (a token slice; output row 0 is x row x0)
// mode: how the sum is taken (src/model/llama.ts matmulLanes16, the order of llamafile's tinyBLAS on
// AVX-512, which the CPU path follows for F32/F16/BF16 weights): 16 lanes, lane p the products of columns
// p, p+16, ... in order, then the lanes added as _mm512_reduce_add_ps adds them;
//   1 F32 activations: each product fused into its lane (fma_exact, shaders/lib/fused-f32.wgsl)
//   2 F16 activations and weights: the products are exact in F32, so a plain add is the fused one
//   3 BF16: lane p takes columns 2p+1 then 2p of each run of 32 (vdpbf16ps; the products exact in F32)
//   4 F32/F16/BF16 where tinyBLAS does not take the matmul: the exact products summed in float-float, rounded
//     once (the CPU's double sum: the same unless the sum lies within ~2^-44 of a rounding midpoint)
//   0 anything else (quantized weights): four partial sums, not the CPU's double sum
// Assembled after fused-f32.wgsl.
struct Params { t: u32, n: u32, m: u32, col0: u32, ldo: u32, x0: u32, mode: u32, zero: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec4f>;
@group(0) @binding(1) var<storage, read> w: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn fx4(v: vec4f) -> vec4f { return bitcast<vec4f>(bitcast<vec4u>(v) ^ vec4u(g_fzero)); }
fn fma4(a: vec4f, b: vec4f, c: vec4f) -> vec4f {
  return vec4f(fma_exact(a.x, b.x, c.x), fma_exact(a.y, b.y, c.y), fma_exact(a.z, b.z, c.z), fma_exact(a.w, b.w, c.w));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) l: u32) {
  g_fzero = p.zero;
  let o = wg.x * 64u + l;
  let t = wg.y;
  if (o >= p.m) { return; }
  let n4 = p.n / 4u;
  let xo = (p.x0 + t) * n4;
  let wo = o * n4;
  var r = 0.0;
  if (p.mode == 0u) {
    var acc = vec4f(0.0);
    for (var k = 0u; k < n4; k++) { acc += x[xo + k] * w[wo + k]; }
    r = (acc.x + acc.y) + (acc.z + acc.w);
  } else if (p.mode == 4u) {
    var s = vec2f(0.0);
    for (var k = 0u; k < n4; k++) {
      let a = x[xo + k];
      let b = w[wo + k];
      s = ff_add(s, two_prod(a.x, b.x));
      s = ff_add(s, two_prod(a.y, b.y));
      s = ff_add(s, two_prod(a.z, b.z));
      s = ff_add(s, two_prod(a.w, b.w));
    }
    r = fx(s.x + s.y);
  } else {
    // lanes 0-3, 4-7, 8-11, 12-15
    var l0 = vec4f(0.0);
    var l1 = vec4f(0.0);
    var l2 = vec4f(0.0);
    var l3 = vec4f(0.0);
    if (p.mode == 1u) {
      for (var k = 0u; k < n4; k += 4u) {
        l0 = fma4(x[xo + k], w[wo + k], l0);
        l1 = fma4(x[xo + k + 1u], w[wo + k + 1u], l1);
        l2 = fma4(x[xo + k + 2u], w[wo + k + 2u], l2);
        l3 = fma4(x[xo + k + 3u], w[wo + k + 3u], l3);
      }
    } else if (p.mode == 2u) {
      for (var k = 0u; k < n4; k += 4u) {
        l0 = fx4(l0 + x[xo + k] * w[wo + k]);
        l1 = fx4(l1 + x[xo + k + 1u] * w[wo + k + 1u]);
        l2 = fx4(l2 + x[xo + k + 2u] * w[wo + k + 2u]);
        l3 = fx4(l3 + x[xo + k + 3u] * w[wo + k + 3u]);
      }
    } else {
      // a run of 32 columns is 8 vec4: vec4 2i holds the pairs of lanes 4i, 4i+1, vec4 2i+1 those of 4i+2, 4i+3
      for (var k = 0u; k < n4; k += 8u) {
        var pr: array<vec4f, 8>;
        for (var j = 0u; j < 8u; j++) { pr[j] = x[xo + k + j] * w[wo + k + j]; }
        l0 = fx4(fx4(l0 + vec4f(pr[0].y, pr[0].w, pr[1].y, pr[1].w)) + vec4f(pr[0].x, pr[0].z, pr[1].x, pr[1].z));
        l1 = fx4(fx4(l1 + vec4f(pr[2].y, pr[2].w, pr[3].y, pr[3].w)) + vec4f(pr[2].x, pr[2].z, pr[3].x, pr[3].z));
        l2 = fx4(fx4(l2 + vec4f(pr[4].y, pr[4].w, pr[5].y, pr[5].w)) + vec4f(pr[4].x, pr[4].z, pr[5].x, pr[5].z));
        l3 = fx4(fx4(l3 + vec4f(pr[6].y, pr[6].w, pr[7].y, pr[7].w)) + vec4f(pr[6].x, pr[6].z, pr[7].x, pr[7].z));
      }
    }
    // _mm512_reduce_add_ps: lanes i + (i + 8), then + (i + 4), then (0 + 2) + (1 + 3)
    let t6 = fx4(fx4(l3 + l1) + fx4(l2 + l0));
    r = fx(fx(t6.x + t6.z) + fx(t6.y + t6.w));
  }
  out[t * p.ldo + p.col0 + o] = r;
}
