// The K-quant scale searches of ggml-quants.c (spec §2.3.2, §2.3.3-§2.3.5) that search.wgsl lacks, on the
// same per-invocation scratch (s_x values, s_w weights, s_L codes, s_aux; search.wgsl precedes this file).
// A K-quant kernel keeps its whole 256-value super-block in s_x[0, 256) and the sub-block searches work
// at offsets into it; the second-level searches over the 8 or 16 sub-block scales use [256, 272).
// Every float operation is an exact-f32 call in ggml's order.

// make_qkx2_quants / make_qkx3_quants(n, nmax, x, w, L, &the_min, Laux, rmin, rdelta, nstep, use_mad):
// codes 0..nmax in s_L; returns (scale, the_min) with value ~ scale*L - the_min.
// One function serves both: their degenerate tests (`max == min`, `max <= min`) agree because
// max >= x[0] >= min once min is clamped to <= 0, and with NaN (x[0] NaN keeps both NaN) both are false.
// An accepted trial replaces `min`, and C goes on using it in `max - min` and `x[i] - min` for the
// remaining steps, so the grid is recomputed from the current min at every step.
fn make_qkx2_quants(o: u32, n_in: u32, nmax: i32, rmin: u32, rdelta: u32, nstep_in: i32, use_mad: bool) -> vec2u {
  let n = runtime_u32(n_in);
  let nstep = runtime_i32(nstep_in);
  var mn = s_x[o];
  var mx = s_x[o];
  var sum_w = s_w[o];
  var sum_x = fmul(sum_w, s_x[o]);
  var nonneg_w = fge(sum_w, 0u);
  for (var i = 1u; i < n; i++) {
    let x = s_x[o + i];
    if (flt(x, mn)) { mn = x; }
    if (fgt(x, mx)) { mx = x; }
    let w = s_w[o + i];
    if (!fge(w, 0u)) { nonneg_w = false; }
    sum_w = fadd(sum_w, w);
    sum_x = fadd(sum_x, fmul(w, x));
  }
  if (fgt(mn, 0u)) { mn = 0u; }
  if (fle(mx, mn)) {
    for (var i = 0u; i < n; i++) { s_L[o + i] = 0u; }
    return vec2u(0u, fneg(mn));
  }
  let nmaxf = f_from_i32(nmax);
  let iscale0 = fdiv(nmaxf, fsub(mx, mn));
  var scale = fdiv(F_ONE, iscale0);
  var best = 0u;
  for (var i = 0u; i < n; i++) {
    let x = s_x[o + i];
    let l = clamp(nearest_int(fmul(iscale0, fsub(x, mn))), 0, nmax);
    s_L[o + i] = u32(l);
    let diff = fsub(fadd(fmul(scale, f_from_i32(l)), mn), x);
    best = fadd(best, fmul(s_w[o + i], select(fmul(diff, diff), fabs(diff), use_mad)));
  }
  if (nstep < 1) { return vec2u(scale, fneg(mn)); }
  var fresh = true;
  for (var is = 0; is <= nstep; is++) {
    let iscale = fdiv(fadd(fadd(rmin, fmul(rdelta, f_from_i32(is))), nmaxf), fsub(mx, mn));
    // Everything after the codes is a function of the codes alone: codes equal to the last evaluated
    // ones can neither newly pass `cur < best` nor pass it again, so such a step is skipped.
    var changed = fresh;
    for (var i = 0u; i < n; i++) {
      let l = u32(clamp(nearest_int(fmul(iscale, fsub(s_x[o + i], mn))), 0, nmax));
      if (s_aux[o + i] != l) { s_aux[o + i] = l; changed = true; }
    }
    if (!changed) { continue; }
    fresh = false;
    var sum_l = 0u;
    var sum_l2 = 0u;
    var sum_xl = 0u;
    for (var i = 0u; i < n; i++) {
      let lf = f_from_u32(s_aux[o + i]);
      let wl = fmul(s_w[o + i], lf);
      sum_l = fadd(sum_l, wl);
      sum_l2 = fadd(sum_l2, fmul(wl, lf));
      sum_xl = fadd(sum_xl, fmul(wl, s_x[o + i]));
    }
    let D = fsub(fmul(sum_w, sum_l2), fmul(sum_l, sum_l));
    if (!fgt(D, 0u)) { continue; }
    var this_scale = fdiv(fsub(fmul(sum_w, sum_xl), fmul(sum_x, sum_l)), D);
    var this_min = fdiv(fsub(fmul(sum_l2, sum_x), fmul(sum_l, sum_xl)), D);
    if (fgt(this_min, 0u)) {
      this_min = 0u;
      this_scale = fdiv(sum_xl, sum_l2);
    }
    var cur = 0u;
    for (var i = 0u; i < n; i++) {
      let diff = fsub(fadd(fmul(this_scale, f_from_u32(s_aux[o + i])), this_min), s_x[o + i]);
      cur = fadd(cur, fmul(s_w[o + i], select(fmul(diff, diff), fabs(diff), use_mad)));
      // with non-negative terms the binary32 running sum never decreases: once lost, it stays lost
      if (nonneg_w && fge(cur, best)) { break; }
    }
    if (flt(cur, best)) {
      for (var i = 0u; i < n; i++) { s_L[o + i] = s_aux[o + i]; }
      best = cur;
      scale = this_scale;
      mn = this_min;
    }
  }
  return vec2u(scale, fneg(mn));
}

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
