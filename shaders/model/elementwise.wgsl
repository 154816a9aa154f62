// The forward pass's elementwise steps, one entry point each, one value (or column) per invocation:
//   add_main     out[i] += a[i]                       (residuals)
//   bias_main    out[r, i] += a[i]                    (qwen2's q/k/v bias; n = row length)
//   swiglu_main  out[i] = silu(a[i]) * b[i]           (SwiGLU: a = gate, b = up; n = row length), as
//                 ggml_vec_swiglu_f32 computes a row on x86-64 and the CPU path mirrors it: ggml_v_silu
//                 (v_expf, a correctly rounded division) on the first n - n mod 16 columns, expf on the rest
//   get_rows_main out[t, i] = a[ids[t] - offset, i]   (the token embedding, n = row length; a holds its rows
//                 offset .. offset + rows - 1, a row slice of the matrix, and fills only the tokens among them)
//   sumsq_main   out[offset + c] += sum over rows r of a[r, c]^2, rows in order, each fused (the imatrix's Σx²)
// Assembled after lib/elementwise-abi.wgsl (a, b, out, index()) and before exact-f32.wgsl and fused-f32.wgsl.
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
  g_fzero = params.zero;
  if (i < params.total) {
    let g = a[i];
    let vector = i % params.n < params.n - params.n % 16u;
    let e = select(exp_ff(-g, 0.0), v_expf(-g), vector);
    let den = fx(1.0 + e);
    // fdiv takes normal operands (a zero numerator too); 1 + e^-g is infinite only far below where silu(g) is -0
    var silu = bitcast<f32>(fdiv(bitcast<u32>(g), bitcast<u32>(den)));
    if (den > 3.0e38) { silu = bitcast<f32>(select(0u, 0x80000000u, g < 0.0)); }
    out[i] = fx(silu * b[i]);
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
  g_fzero = params.zero;
  let c = index(v);
  if (c >= params.n) { return; }
  var s = out[params.offset + c];
  // the CPU path adds each square, exact in double, to the F32 sum: one rounding (up to a double midpoint)
  for (var r = 0u; r < params.rows; r++) {
    let x = a[r * params.n + c];
    s = fma_exact(x, x, s);
  }
  out[params.offset + c] = s;
}
