// Causal grouped-query attention, softmax(q.k * scale) . v, one invocation per (token, query head); query
// head h reads KV head h / (heads / kv_heads). K and V hold F16 values (the KV cache). With fa_f16 it follows
// ggml's flash-attention loop for short query runs as the CPU path does: online softmax over the keys in
// order, Q rounded to F16, the V accumulator rounded to F16 after every scale and every added row.
// Assembled after half.wgsl.
struct Params { tokens: u32, heads: u32, kv_heads: u32, head_dim: u32, zero: u32, fa_f16: u32, scale: f32, p7: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// the largest head size; the host compiles a copy with the model's own (the arrays below are per invocation)
const MAX_HEAD_DIM: u32 = 256u;

fn r16(x: f32) -> f32 { return bitcast<f32>(fp16_to_f32_bits(fp16_bits(bitcast<u32>(x)))); }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (idx >= params.tokens * params.heads) { return; }
  let t = idx / params.heads;
  let h = idx % params.heads;
  let d = params.head_dim;
  let f16 = params.fa_f16 != 0u;
  let kvh = h / (params.heads / params.kv_heads);
  var qh: array<f32, MAX_HEAD_DIM>;
  var acc: array<f32, MAX_HEAD_DIM>;
  let qo = idx * d;
  for (var i = 0u; i < d; i++) { qh[i] = select(q[qo + i], r16(q[qo + i]), f16); }
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
      for (var i = 0u; i < d; i++) { acc[i] = select(acc[i] * ms, r16(acc[i] * ms), f16); }
    } else {
      vs = exp(s - m);
    }
    for (var i = 0u; i < d; i++) {
      let a = acc[i] + v[ko + i] * vs;
      acc[i] = select(a, r16(a), f16);
    }
    s_sum = s_sum * ms + vs;
  }
  let inv = 1.0 / s_sum;
  for (var i = 0u; i < d; i++) { out[qo + i] = acc[i] * inv; }
}
