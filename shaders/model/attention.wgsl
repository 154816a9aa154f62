// Causal grouped-query attention, softmax(q.k * scale) . v, one invocation per (token, query head); query
// head h reads KV head h / (heads / kv_heads). K and V hold F16 values (the KV cache).
// fa_f16: ggml's one-row flash-attention loop as the CPU path (src/model/llama.ts attention) computes it,
// float operation for float operation: Q rounded to F16; q.k in ggml_vec_dot_f16's order (runs of 64 into
// 64 lanes, the products exact in F32 as both sides are F16 values; lanes folded 0+2, 1+3, 0+1, then
// _mm512_reduce_add_ps; the last d mod 64 products added in float-float where the CPU uses double); the
// running max's and the weights' e^x rounded from float-float (exp_ff, as fround(Math.exp)); the V
// accumulator in F16, scaled by the max's change and fed by fused multiply-adds (fma_exact); the sum
// S = S*ms + vs unfused; the row divided by S with a correctly rounded 1/S (fdiv).
// Otherwise ('f32'): ggml's tiled kernel, as the CPU path's tiledAttentionRow (attend_tiled).
// Assembled after half.wgsl, exact-f32.wgsl and fused-f32.wgsl.
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

// ggml-cpu's tiled flash-attention kernel (AVX-512) for one query row, as the CPU path's tiledAttentionRow:
// keys in tiles of 64 from 0; each score an F32 chain of fused multiply-adds over the head, scaled; the
// running max moves to the tile's max (accumulator and sum scaled by e^(old - new), rounded from
// float-float); the tile's weights ggml_v_expf(score - max) (0 past the query), summed 16 at a time as
// _mm512_reduce_add_ps and those sums added in float-float (the CPU: double) to S; the F32 accumulator
// takes each key's V row by fused multiply-adds, key by key.
fn attend_tiled(idx: u32, t: u32, kvh: u32, d: u32) {
  let qo = idx * d;
  for (var i = 0u; i < d; i++) { acc[i] = 0.0; }
  var m = 0.0;
  var started = false;
  var s_sum = 0.0;
  for (var ic = 0u; ic <= t; ic += 64u) {
    var tile_max = 0.0;
    var any = false;
    for (var tk = 0u; tk < 64u; tk++) {
      let j = ic + tk;
      if (j > t) { continue; }
      let ko = (j * params.kv_heads + kvh) * d;
      var s = 0.0;
      for (var i = 0u; i < d; i++) { s = fma_exact(q[qo + i], k[ko + i], s); }
      lanes[tk] = fx(s * params.scale);
      if (!any || lanes[tk] > tile_max) { tile_max = lanes[tk]; }
      any = true;
    }
    // M = max(M, tile max); the first tile scales zeros by e^-inf = 0
    if (!started || tile_max > m) {
      if (started) {
        let dm = two_sum(m, -tile_max);
        let ms = exp_ff(dm.x, dm.y);
        for (var i = 0u; i < d; i++) { acc[i] = fx(acc[i] * ms); }
        s_sum = fx(s_sum * ms);
      }
      m = tile_max;
      started = true;
    }
    for (var tk = 0u; tk < 64u; tk++) { lanes[tk] = select(0.0, v_expf(fx(lanes[tk] - m)), ic + tk <= t); }
    var sum = vec2f(0.0);
    for (var g = 0u; g < 64u; g += 16u) {
      var r: array<f32, 8>;
      for (var i = 0u; i < 8u; i++) { r[i] = fx(lanes[g + 8u + i] + lanes[g + i]); }
      let a = fx(r[4] + r[0]);
      let b = fx(r[5] + r[1]);
      let c = fx(r[6] + r[2]);
      let e = fx(r[7] + r[3]);
      sum = ff_add_f(sum, fx(fx(a + c) + fx(b + e)));
    }
    let total = ff_add_f(sum, s_sum);
    s_sum = fx(total.x + total.y);
    for (var tk = 0u; tk < 64u; tk++) {
      if (ic + tk > t) { break; }
      let vo = ((ic + tk) * params.kv_heads + kvh) * d;
      let pw = lanes[tk];
      for (var i = 0u; i < d; i++) { acc[i] = fma_exact(pw, v[vo + i], acc[i]); }
    }
  }
  var inv = 0.0;
  if (s_sum != 0.0) { inv = bitcast<f32>(fdiv(F_ONE, bitcast<u32>(s_sum))); }
  for (var i = 0u; i < d; i++) { out[qo + i] = fx(acc[i] * inv); }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  g_fzero = params.zero;
  let idx = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (idx >= params.tokens * params.heads) { return; }
  let t = idx / params.heads;
  let h = idx % params.heads;
  let kvh = h / (params.heads / params.kv_heads);
  if (params.fa_f16 != 0u) { attend_f16(idx, t, kvh, params.head_dim); } else { attend_tiled(idx, t, kvh, params.head_dim); }
}
