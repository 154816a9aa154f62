// The K-quant scale searches of ggml-quants.c (spec §2.3.2, §2.3.5) that search.wgsl lacks, on the same
// per-invocation scratch (s_x values, s_w weights, s_L codes; search.wgsl precedes this file).
// make_qkx2_quants (the reference paths of Q2_K, Q4_K, Q5_K) is search.wgsl's make_qkx3_quants: the two
// differ only in their degenerate test (`max == min` against `max <= min`), and these agree because
// max >= x[0] >= min once min is clamped to <= 0 (spec §2.3.4).
// A K-quant kernel keeps its whole 256-value super-block in s_x[0, 256) and the sub-block searches work
// at offsets into it; the second-level searches over the 8 or 16 sub-block scales use [256, 272).
// Every float operation is an exact-f32 call in ggml's order.

// make_qp_quants(n, nmax, x, L, qw = s_w): positive-only codes. L is a byte array in C: every store wraps
// modulo 256 while the sums use the signed value, and later passes read the wrapped byte back.
fn make_qp_quants(o: u32, n_in: u32, nmax: i32) -> u32 {
  let n = runtime_u32(n_in);
  var mx = 0u;
  for (var i = 0u; i < n; i++) {
    let v = s_x[o + i];
    mx = select(v, mx, fgt(mx, v)); // MAX(max, v): a NaN v replaces mx
  }
  if (flt(mx, GROUP_MAX_EPS)) {
    for (var i = 0u; i < n; i++) { s_L[o + i] = 0u; }
    return 0u;
  }
  let nmaxf = f_from_i32(nmax);
  var iscale = fdiv(nmaxf, mx);
  for (var i = 0u; i < n; i++) { s_L[o + i] = u32(nearest_int(fmul(iscale, s_x[o + i]))) & 0xffu; }
  let scale = fdiv(F_ONE, iscale);
  var best = 0u;
  for (var i = 0u; i < n; i++) {
    let diff = fsub(s_x[o + i], fmul(scale, f_from_u32(s_L[o + i])));
    best = fadd(best, fmul(fmul(s_w[o + i], diff), diff));
  }
  for (var is = -4; is <= runtime_i32(4); is++) {
    if (is == 0) { continue; }
    let iscale_is = fdiv(fadd(fmul(F_0_1, f_from_i32(is)), nmaxf), mx);
    let scale_is = fdiv(F_ONE, iscale_is);
    var mse = 0u;
    for (var i = 0u; i < n; i++) {
      let x = s_x[o + i];
      let l = min(nmax, nearest_int(fmul(iscale_is, x)));
      let diff = fsub(x, fmul(scale_is, f_from_i32(l)));
      mse = fadd(mse, fmul(fmul(s_w[o + i], diff), diff));
    }
    if (flt(mse, best)) {
      best = mse;
      iscale = iscale_is;
    }
  }
  var sumlx = 0u;
  var suml2 = 0u;
  for (var i = 0u; i < n; i++) {
    let x = s_x[o + i];
    let w = s_w[o + i];
    let l = min(nmax, nearest_int(fmul(iscale, x)));
    s_L[o + i] = u32(l) & 0xffu;
    let lf = f_from_i32(l);
    sumlx = fadd(sumlx, fmul(fmul(w, x), lf));
    suml2 = fadd(suml2, fmul(fmul(w, lf), lf));
  }
  for (var itry = 0; itry < runtime_i32(5); itry++) {
    var n_changed = 0u;
    for (var i = 0u; i < n; i++) {
      let x = s_x[o + i];
      let w = s_w[o + i];
      let li = s_L[o + i];
      let lf = f_from_u32(li);
      var slx = fsub(sumlx, fmul(fmul(w, x), lf));
      var sl2 = fsub(suml2, fmul(fmul(w, lf), lf));
      if (fgt(slx, 0u) && fgt(sl2, 0u)) {
        let new_l = min(nmax, nearest_int(fdiv(fmul(x, sl2), slx)));
        if (new_l != i32(li)) {
          let nf = f_from_i32(new_l);
          slx = fadd(slx, fmul(fmul(w, x), nf));
          sl2 = fadd(sl2, fmul(fmul(w, nf), nf));
          if (fgt(fmul(fmul(slx, slx), suml2), fmul(fmul(sumlx, sumlx), sl2))) {
            s_L[o + i] = u32(new_l) & 0xffu;
            sumlx = slx;
            suml2 = sl2;
            n_changed++;
          }
        }
      }
    }
    if (n_changed == 0u) { break; }
  }
  if (!fgt(suml2, 0u)) { return 0u; }
  return fdiv(sumlx, suml2);
}

// make_q3_quants(n <= 16, nmax, x, L, do_rmse = true) with weights x*x: codes l + nmax in s_L.
fn make_q3_quants(o: u32, n_in: u32, nmax: i32) -> u32 {
  let n = runtime_u32(n_in);
  var mx = 0u;
  var amax = 0u;
  for (var i = 0u; i < n; i++) {
    let ax = fabs(s_x[o + i]);
    if (fgt(ax, amax)) { amax = ax; mx = s_x[o + i]; }
  }
  if (flt(amax, GROUP_MAX_EPS)) {
    for (var i = 0u; i < n; i++) { s_L[o + i] = 0u; }
    return 0u;
  }
  let iscale = fdiv(f_from_i32(-nmax), mx);
  var ls: array<i32, 16>;
  var sumlx = 0u;
  var suml2 = 0u;
  for (var i = 0u; i < n; i++) {
    let x = s_x[o + i];
    let l = clamp(nearest_int(fmul(iscale, x)), -nmax, nmax - 1);
    ls[i] = l;
    let w = fmul(x, x);
    let lf = f_from_i32(l);
    sumlx = fadd(sumlx, fmul(fmul(w, x), lf));
    suml2 = fadd(suml2, fmul(fmul(w, lf), lf));
  }
  for (var itry = 0; itry < runtime_i32(5); itry++) {
    var n_changed = 0u;
    for (var i = 0u; i < n; i++) {
      let x = s_x[o + i];
      let w = fmul(x, x);
      let lf = f_from_i32(ls[i]);
      var slx = fsub(sumlx, fmul(fmul(w, x), lf));
      if (fgt(slx, 0u)) {
        var sl2 = fsub(suml2, fmul(fmul(w, lf), lf));
        let new_l = clamp(nearest_int(fdiv(fmul(x, sl2), slx)), -nmax, nmax - 1);
        if (new_l != ls[i]) {
          let nf = f_from_i32(new_l);
          slx = fadd(slx, fmul(fmul(w, x), nf));
          sl2 = fadd(sl2, fmul(fmul(w, nf), nf));
          if (fgt(sl2, 0u) && fgt(fmul(fmul(slx, slx), suml2), fmul(fmul(sumlx, sumlx), sl2))) {
            ls[i] = new_l;
            sumlx = slx;
            suml2 = sl2;
            n_changed++;
          }
        }
      }
    }
    if (n_changed == 0u) { break; }
  }
  for (var i = 0u; i < n; i++) { s_L[o + i] = u32(ls[i] + nmax); }
  if (!fgt(suml2, 0u)) { return 0u; }
  return fdiv(sumlx, suml2);
}
