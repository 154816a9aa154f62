// RMSNorm of rows, then the elementwise weight (ggml_rms_norm + ggml_mul): out[r, i] = (x[r, i] * s_r) * w[i]
// with s_r = 1 / sqrt(mean(x[r]^2) + eps). One workgroup per row; the sum of squares in f32 (ggml: double).
// Also the per-head q/k norm of qwen3 (rows = tokens x heads, n = head size).
struct Params { rows: u32, n: u32, p2: u32, p3: u32, zero: u32, p5: u32, eps: f32, p7: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) l: u32) {
  let r = wg.y * nwg.x + wg.x;
  if (r >= params.rows) { return; }
  let o = r * params.n;
  var s = 0.0;
  for (var i = l; i < params.n; i += WG) { s += x[o + i] * x[o + i]; }
  part[l] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (l < k) { part[l] += part[l + k]; }
    workgroupBarrier();
  }
  let scale = 1.0 / sqrt(part[0] / f32(params.n) + params.eps);
  for (var i = l; i < params.n; i += WG) { out[o + i] = (x[o + i] * scale) * w[i]; }
}
