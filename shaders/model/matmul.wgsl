// out (T x m) = x (T x n) . w^T, w row-major (m x n): every matmul of the forward pass (src/model/gpu-matmul.ts).
// 16x16 tiles through workgroup memory. Out-of-range tile entries read as 0.
// m: the weight rows multiplied (a row slice of the weight), written to output columns col0.. of rows
// `ldo` wide (the whole weight's rows; col0 = 0 and ldo = m for an unsliced weight).
// t: the activation rows multiplied, x rows x0.. (a token slice; output row 0 is x row x0)
// mode: as in matmul-rows.wgsl (tinyBLAS's 16 lanes: column j of a tile of 16 is lane j; 1 F32 fused,
// 2 F16, 3 BF16 pairs; 4 float-float; 0 one F32 running sum). Assembled after fused-f32.wgsl.
struct Params { t: u32, n: u32, m: u32, col0: u32, ldo: u32, x0: u32, mode: u32, zero: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const TS: u32 = 16u;
var<workgroup> xs: array<array<f32, 16>, 16>;
var<workgroup> ws: array<array<f32, 16>, 16>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  g_fzero = p.zero;
  let o = wg.x * TS + l.x;
  let t = wg.y * TS + l.y;
  let ow = wg.x * TS + l.y;
  var acc = 0.0;
  var s = vec2f(0.0);
  var lanes: array<f32, 16>;
  for (var j = 0u; j < TS; j++) { lanes[j] = 0.0; }
  for (var k0 = 0u; k0 < p.n; k0 += TS) {
    let k = k0 + l.x;
    var xv = 0.0;
    if (t < p.t && k < p.n) { xv = x[(p.x0 + t) * p.n + k]; }
    var wv = 0.0;
    if (ow < p.m && k < p.n) { wv = w[ow * p.n + k]; }
    xs[l.y][l.x] = xv;
    ws[l.y][l.x] = wv;
    workgroupBarrier();
    if (p.mode == 0u) {
      for (var j = 0u; j < TS; j++) { acc += xs[l.y][j] * ws[l.x][j]; }
    } else if (p.mode == 4u) {
      for (var j = 0u; j < TS; j++) { s = ff_add(s, two_prod(xs[l.y][j], ws[l.x][j])); }
    } else if (p.mode == 1u) {
      for (var j = 0u; j < TS; j++) { lanes[j] = fma_exact(xs[l.y][j], ws[l.x][j], lanes[j]); }
    } else if (p.mode == 2u) {
      for (var j = 0u; j < TS; j++) { lanes[j] = fx(lanes[j] + xs[l.y][j] * ws[l.x][j]); }
    } else {
      // this tile is half of a run of 32: its pairs are lanes (k0 mod 32)/2 ..; odd column first
      let base = (k0 % 32u) / 2u;
      for (var j = 0u; j < TS / 2u; j++) {
        let q = base + j;
        lanes[q] = fx(fx(lanes[q] + xs[l.y][2u * j + 1u] * ws[l.x][2u * j + 1u]) + xs[l.y][2u * j] * ws[l.x][2u * j]);
      }
    }
    workgroupBarrier();
  }
  if (p.mode == 4u) {
    acc = fx(s.x + s.y);
  } else if (p.mode != 0u) {
    var t3: array<f32, 8>;
    for (var i = 0u; i < 8u; i++) { t3[i] = fx(lanes[8u + i] + lanes[i]); }
    let a = fx(t3[4] + t3[0]);
    let b = fx(t3[5] + t3[1]);
    let c = fx(t3[6] + t3[2]);
    let d = fx(t3[7] + t3[3]);
    acc = fx(fx(a + c) + fx(b + d));
  }
  if (t < p.t && o < p.m) {
    out[t * p.ldo + p.col0 + o] = acc;
  }
}
