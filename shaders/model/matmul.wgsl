// out (T x m) = x (T x n) . w^T, w row-major (m x n): every matmul of the forward pass (src/model/gpu-matmul.ts).
// 16x16 tiles through workgroup memory; F32 accumulation. Out-of-range tile entries read as 0.
// m: the weight rows multiplied (a row slice of the weight), written to output columns col0.. of rows
// `ldo` wide (the whole weight's rows; col0 = 0 and ldo = m for an unsliced weight).
// t: the activation rows multiplied, x rows x0.. (a token slice; output row 0 is x row x0)
struct Params { t: u32, n: u32, m: u32, col0: u32, ldo: u32, x0: u32, p6: u32, p7: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const TS: u32 = 16u;
var<workgroup> xs: array<array<f32, 16>, 16>;
var<workgroup> ws: array<array<f32, 16>, 16>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let o = wg.x * TS + l.x;
  let t = wg.y * TS + l.y;
  let ow = wg.x * TS + l.y;
  var acc = 0.0;
  for (var k0 = 0u; k0 < p.n; k0 += TS) {
    let k = k0 + l.x;
    var xv = 0.0;
    if (t < p.t && k < p.n) { xv = x[(p.x0 + t) * p.n + k]; }
    var wv = 0.0;
    if (ow < p.m && k < p.n) { wv = w[ow * p.n + k]; }
    xs[l.y][l.x] = xv;
    ws[l.y][l.x] = wv;
    workgroupBarrier();
    for (var j = 0u; j < TS; j++) {
      acc += xs[l.y][j] * ws[l.x][j];
    }
    workgroupBarrier();
  }
  if (t < p.t && o < p.m) {
    out[t * p.ldo + p.col0 + o] = acc;
  }
}
