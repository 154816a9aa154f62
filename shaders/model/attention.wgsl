// Causal grouped-query attention, softmax(q.k * scale) . v, one invocation per (token, query head); query
// head h reads KV head h / (heads / kv_heads). K and V hold F16 values (the KV cache).
// fa_f16: ggml's one-row flash-attention loop as the CPU path (src/model/llama.ts attention) computes it,
// float operation for float operation: Q rounded to F16; q.k in ggml_vec_dot_f16's order (runs of 64 into
// 64 lanes, the products exact in F32 as both sides are F16 values; lanes folded 0+2, 1+3, 0+1, then
// _mm512_reduce_add_ps; the last d mod 64 products added in float-float where the CPU uses double); the
// running max's and the weights' e^x rounded from float-float (exp_ff, as fround(Math.exp)); the V
// accumulator in F16, scaled by the max's change and fed by fused multiply-adds (fma_exact); the sum
// S = S*ms + vs unfused; the row divided by S with a correctly rounded 1/S (fdiv).
// Otherwise ('f32'): F32 Q and accumulator with the device's exp (close to, not bit for bit, the CPU's
// tiled kernel). Assembled after half.wgsl, exact-f32.wgsl and fused-f32.wgsl.
struct Params { tokens: u32, heads: u32, kv_heads: u32, head_dim: u32, zero: u32, fa_f16: u32, scale: f32, p7: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// the largest head size; the host compiles a copy with the model's own (the arrays below are per invocation)
const MAX_HEAD_DIM: u32 = 256u;

fn r16(x: f32) -> f32 { return bitcast<f32>(fp16_to_f32_bits(fp16_bits(bitcast<u32>(x)))); }

var<private> qh: array<f32, MAX_HEAD_DIM>;
var<private> acc: array<f32, MAX_HEAD_DIM>;
var<private> lanes: array<f32, 64>;

// ggml_vec_dot_f16(qh, k[ko ..]) over d values (see the top)
fn dot_f16(ko: u32, d: u32) -> f32 {
  let np = d - d % 64u;
  var sum = vec2f(0.0);
  if (np > 0u) {
    for (var j = 0u; j < 64u; j++) { lanes[j] = 0.0; }
    for (var i = 0u; i < np; i += 64u) {
      for (var j = 0u; j < 64u; j++) { lanes[j] = fx(lanes[j] + qh[i + j] * k[ko + i + j]); }
    }
    for (var p = 0u; p < 16u; p++) {
      lanes[p] = fx(lanes[p] + lanes[32u + p]);
      lanes[16u + p] = fx(lanes[16u + p] + lanes[48u + p]);
    }
    for (var p = 0u; p < 16u; p++) { lanes[p] = fx(lanes[p] + lanes[16u + p]); }
    for (var p = 0u; p < 8u; p++) { lanes[p] = fx(lanes[8u + p] + lanes[p]); }
    for (var p = 0u; p < 4u; p++) { lanes[p] = fx(lanes[4u + p] + lanes[p]); }
    sum.x = fx(fx(lanes[0] + lanes[2]) + fx(lanes[1] + lanes[3]));
  }
  for (var i = np; i < d; i++) { sum = ff_add_f(sum, fx(qh[i] * k[ko + i])); }
  return fx(sum.x + sum.y);
}

fn attend_f16(idx: u32, t: u32, kvh: u32, d: u32) {
  let qo = idx * d;
  for (var i = 0u; i < d; i++) {
    qh[i] = r16(q[qo + i]);
    acc[i] = 0.0;
  }
  var m = 0.0;
  var s_sum = 0.0;
  for (var j = 0u; j <= t; j++) {
    let ko = (j * params.kv_heads + kvh) * d;
    let s = fx(dot_f16(ko, d) * params.scale);
    var ms = 1.0;
    var vs = 1.0;
    if (j == 0u) {
      // the running max starts at -inf: e^(-inf) = 0 scales the (zero) accumulator and sum
      m = s;
      ms = 0.0;
    } else if (s > m) {
      let dm = two_sum(m, -s);
      m = s;
      ms = exp_ff(dm.x, dm.y);
      for (var i = 0u; i < d; i++) { acc[i] = r16(fx(acc[i] * ms)); }
    } else {
      let dm = two_sum(s, -m);
      vs = exp_ff(dm.x, dm.y);
    }
    for (var i = 0u; i < d; i++) { acc[i] = r16(fma_exact(v[ko + i], vs, acc[i])); }
    s_sum = fx(fx(s_sum * ms) + vs);
  }
  let inv = bitcast<f32>(fdiv(F_ONE, bitcast<u32>(s_sum)));
  for (var i = 0u; i < d; i++) { out[qo + i] = fx(acc[i] * inv); }
}

fn attend_f32(idx: u32, t: u32, kvh: u32, d: u32) {
  let qo = idx * d;
  for (var i = 0u; i < d; i++) { qh[i] = q[qo + i]; }
  var m = 0.0;
  var s_sum = 1.0;
  for (var j = 0u; j <= t; j++) {
    let ko = (j * params.kv_heads + kvh) * d;
    var s = 0.0;
    for (var i = 0u; i < d; i++) { s += qh[i] * k[ko + i]; }
    s = s * params.scale;
    if (j == 0u) {
      m = s;
      for (var i = 0u; i < d; i++) { acc[i] = v[ko + i]; }
      continue;
    }
    var ms = 1.0;
    var vs = 1.0;
    if (s > m) {
      ms = exp(m - s);
      m = s;
      for (var i = 0u; i < d; i++) { acc[i] = acc[i] * ms; }
    } else {
      vs = exp(s - m);
    }
    for (var i = 0u; i < d; i++) { acc[i] = acc[i] + v[ko + i] * vs; }
    s_sum = s_sum * ms + vs;
  }
  let inv = 1.0 / s_sum;
  for (var i = 0u; i < d; i++) { out[qo + i] = acc[i] * inv; }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  g_fzero = params.zero;
  let idx = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (idx >= params.tokens * params.heads) { return; }
  let t = idx / params.heads;
  let h = idx % params.heads;
  let kvh = h / (params.heads / params.kv_heads);
  if (params.fa_f16 != 0u) { attend_f16(idx, t, kvh, params.head_dim); } else { attend_f32(idx, t, kvh, params.head_dim); }
}
