// The mixture-of-experts steps of the forward pass (llama.cpp's build_moe_ffn as the llama graph uses it;
// src/model/llama.ts routeTokens / moeFfn are the CPU reference). Every expert's matmuls run over all T
// tokens (the existing matmul kernels); these entry points route, keep what each token's experts give,
// and sum it:
//   route_main    one token per invocation: softmax of its n router logits (a), the k most probable experts
//                 (ties to the lower index) into sel[t*k + s], their probabilities over their sum (clamped
//                 below at 2^-14) into out[t*k + s]; as routeTokens computes them: e^x as fround(Math.exp)
//                 (exp_ff), their sum in float-float where it uses double, 1/sum from it, divisions
//                 correctly rounded (fdiv)
// Assembled before exact-f32.wgsl and fused-f32.wgsl.
//   combine_main  one (token, column) per invocation, for expert `expert`: out[(t*k + s)*n + c] = a[t*n + c] * b[t*k + s]
//                 for the slot s whose sel is that expert (a = the expert's down projection, b = the weights)
//   sum_main      one (token, column) per invocation: out[t*n + c] = sum over slots s in order of a[(t*k + s)*n + c]
//   sumsq_main    one column per invocation (plus one for the count), for expert `expert`: out[offset + c] +=
//                 sum over the tokens routed to it of a[t*n + c]^2 (slot by slot, as routeTokens' rows are gathered;
//                 each square fused); invocation c = n adds their number at out[offset + n]
// Assembled after lib/elementwise-abi.wgsl (a, b, out, index()); slot(t, s) is t*k + s.
struct Params { total: u32, n: u32, k: u32, expert: u32, rows: u32, offset: u32, p6: u32, zero: u32 }

const MAX_EXPERT: u32 = 256u;
/** the smallest normal F16, ggml's clamp of the weights' sum */
const MIN_SUM: f32 = 6.103515625e-5;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read> sel_in: array<u32>;
@group(0) @binding(5) var<storage, read_write> sel_out: array<u32>;

fn slot(t: u32, s: u32) -> u32 { return t * params.k + s; }

@compute @workgroup_size(64)
fn route_main(v: Invocation) {
  let t = index(v);
  if (t >= params.rows) { return; }
  let n = params.n;
  let k = params.k;
  g_fzero = params.zero;
  var p: array<f32, MAX_EXPERT>;
  var mx = a[t * n];
  for (var e = 1u; e < n; e++) { mx = max(mx, a[t * n + e]); }
  var sum = vec2f(0.0);
  for (var e = 0u; e < n; e++) {
    p[e] = exp_ff(fx(a[t * n + e] - mx), 0.0);
    sum = ff_add_f(sum, p[e]);
  }
  // 1 / (hi + lo) rounded once: q0 = 1 / hi, corrected by the exact remainder 1 - q0 hi (less q0 lo)
  let q0 = bitcast<f32>(fdiv(F_ONE, bitcast<u32>(sum.x)));
  let rem = fx(fma_exact(-q0, sum.x, 1.0) - fx(q0 * sum.y));
  let inv = fx(q0 + fx(rem * q0));
  for (var e = 0u; e < n; e++) { p[e] = fx(p[e] * inv); }
  var wsum = 0.0;
  for (var s = 0u; s < k; s++) {
    var best = 0u;
    var bp = -1.0;
    for (var e = 0u; e < n; e++) {
      if (p[e] > bp) { best = e; bp = p[e]; }
    }
    sel_out[slot(t, s)] = best;
    out[slot(t, s)] = bp;
    wsum = fx(wsum + bp);
    p[best] = -2.0; // taken (probabilities are >= 0)
  }
  wsum = max(wsum, MIN_SUM);
  for (var s = 0u; s < k; s++) { out[slot(t, s)] = bitcast<f32>(fdiv(bitcast<u32>(out[slot(t, s)]), bitcast<u32>(wsum))); }
}

@compute @workgroup_size(64)
fn combine_main(v: Invocation) {
  let i = index(v);
  if (i >= params.total) { return; }
  let t = i / params.n;
  for (var s = 0u; s < params.k; s++) {
    if (sel_in[slot(t, s)] == params.expert) { out[slot(t, s) * params.n + i % params.n] = a[i] * b[slot(t, s)]; }
  }
}

@compute @workgroup_size(64)
fn sum_main(v: Invocation) {
  let i = index(v);
  if (i >= params.total) { return; }
  let t = i / params.n;
  let c = i % params.n;
  var acc = a[slot(t, 0u) * params.n + c];
  for (var s = 1u; s < params.k; s++) { acc += a[slot(t, s) * params.n + c]; }
  out[i] = acc;
}

@compute @workgroup_size(64)
fn sumsq_main(v: Invocation) {
  let c = index(v);
  let n = params.n;
  let k = params.k;
  if (c > n) { return; }
  g_fzero = params.zero;
  var acc = out[params.offset + c];
  // in the order the CPU path gathers the expert's rows: slot by slot, the tokens in order within each
  for (var s = 0u; s < k; s++) {
    for (var t = 0u; t < params.rows; t++) {
      if (sel_in[slot(t, s)] == params.expert) {
        if (c == n) { acc += 1.0; } else { let x = a[t * n + c]; acc = fma_exact(x, x, acc); }
      }
    }
  }
  out[params.offset + c] = acc;
}
