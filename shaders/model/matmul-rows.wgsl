// out (T x m) = x (T x n) . w^T, w row-major (m x n): one invocation per output element and no workgroup
// memory, a 4-wide dot product (software adapters run this faster than the tiled matmul.wgsl).
// m: the weight rows multiplied (a row slice of the weight), written to output columns col0.. of rows
// `ldo` wide (the whole weight's rows; col0 = 0 and ldo = m for an unsliced weight).
// t: the activation rows multiplied, x rows x0.. (a token slice; output row 0 is x row x0)
struct Params { t: u32, n: u32, m: u32, col0: u32, ldo: u32, x0: u32, p6: u32, p7: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec4f>;
@group(0) @binding(1) var<storage, read> w: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) l: u32) {
  let o = wg.x * 64u + l;
  let t = wg.y;
  if (o >= p.m) { return; }
  let n4 = p.n / 4u;
  let xo = (p.x0 + t) * n4;
  let wo = o * n4;
  var acc = vec4f(0.0);
  for (var k = 0u; k < n4; k++) { acc += x[xo + k] * w[wo + k]; }
  out[t * p.ldo + p.col0 + o] = (acc.x + acc.y) + (acc.z + acc.w);
}
