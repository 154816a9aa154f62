// The forward pass's elementwise steps, one entry point each, one value (or column) per invocation:
//   add_main     out[i] += a[i]                       (residuals)
//   bias_main    out[r, i] += a[i]                    (qwen2's q/k/v bias; n = row length)
//   swiglu_main  out[i] = silu(a[i]) * b[i]           (SwiGLU: a = gate, b = up)
//   get_rows_main out[t, i] = a[ids[t] - offset, i]   (the token embedding, n = row length; a holds its rows
//                 offset .. offset + rows - 1, a row slice of the matrix, and fills only the tokens among them)
//   sumsq_main   out[offset + c] += sum over rows r of a[r, c]^2, rows in order (the imatrix's Σx²)
// Assembled after lib/elementwise-abi.wgsl (a, b, out, index()).
struct Params { total: u32, n: u32, rows: u32, offset: u32, zero: u32, p5: u32, p6: u32, p7: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read> ids: array<u32>;

@compute @workgroup_size(64)
fn add_main(v: Invocation) {
  let i = index(v);
  if (i < params.total) { out[i] = out[i] + a[i]; }
}

@compute @workgroup_size(64)
fn bias_main(v: Invocation) {
  let i = index(v);
  if (i < params.total) { out[i] = out[i] + a[i % params.n]; }
}

@compute @workgroup_size(64)
fn swiglu_main(v: Invocation) {
  let i = index(v);
  if (i < params.total) {
    let g = a[i];
    // exp(-g) would overflow below g = -88 (silu(g) is ~0 there)
    out[i] = (g / (1.0 + exp(min(-g, 88.0)))) * b[i];
  }
}

@compute @workgroup_size(64)
fn get_rows_main(v: Invocation) {
  let i = index(v);
  if (i < params.total) {
    let r = ids[i / params.n];
    if (r >= params.offset && r - params.offset < params.rows) { out[i] = a[(r - params.offset) * params.n + i % params.n]; }
  }
}

@compute @workgroup_size(64)
fn sumsq_main(v: Invocation) {
  let c = index(v);
  if (c >= params.n) { return; }
  var s = out[params.offset + c];
  for (var r = 0u; r < params.rows; r++) {
    let x = a[r * params.n + c];
    s += x * x;
  }
  out[params.offset + c] = s;
}
