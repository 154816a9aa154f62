// RMSNorm of rows, then the elementwise weight (ggml_rms_norm + ggml_mul): out[r, i] = (x[r, i] * s_r) * w[i]
// with s_r = 1 / sqrt(mean(x[r]^2) + eps). One workgroup per row. ggml (and the CPU path) sums the F32
// squares in double: here in float-float (about 2^-44 relative, against the double sum's n 2^-53), whose
// mean is rounded once to F32; sqrt and 1/ correctly rounded (fsqrt, fdiv: exact-f32.wgsl), as sqrtf and the
// division are. So the scale is the CPU path's unless the mean lies within ~2^-44 of a rounding midpoint.
// Also the per-head q/k norm of qwen3 (rows = tokens x heads, n = head size).
// Assembled after exact-f32.wgsl and fused-f32.wgsl.
struct Params { rows: u32, n: u32, p2: u32, p3: u32, zero: u32, p5: u32, eps: f32, p7: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
var<workgroup> part: array<vec2f, 64>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) l: u32) {
  g_fzero = params.zero;
  let r = wg.y * nwg.x + wg.x;
  if (r >= params.rows) { return; }
  let o = r * params.n;
  var s = vec2f(0.0);
  for (var i = l; i < params.n; i += WG) { s = ff_add_f(s, fx(x[o + i] * x[o + i])); }
  part[l] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (l < k) { part[l] = ff_add(part[l], part[l + k]); }
    workgroupBarrier();
  }
  // mean = (hi + lo) / n rounded once: q0 = hi / n, then the exact remainder hi - q0 n (plus lo) corrects it
  let sum = part[0];
  let nf = f32(params.n);
  let q0 = bitcast<f32>(fdiv(bitcast<u32>(sum.x), bitcast<u32>(nf)));
  let rem = fx(fma_exact(-q0, nf, sum.x) + sum.y);
  let mean = fx(q0 + fx(rem / nf));
  let root = fsqrt(bitcast<u32>(fx(mean + params.eps)));
  let scale = bitcast<f32>(fdiv(F_ONE, root));
  for (var i = l; i < params.n; i += WG) { out[o + i] = fx(fx(x[o + i] * scale) * w[i]); }
}
