// Scale searches of ggml-quants.c shared by the imatrix paths (spec §2.3), over per-invocation scratch
// arrays of SEARCH_N values (a type file that includes this defines SEARCH_N). Callers fill s_x (values)
// and s_w (weights) at [o, o + n) and read the codes back from s_L. Every float operation is an exact-f32
// call in ggml's order (products left to right, sums from 0 in index order).

const GROUP_MAX_EPS: u32 = 0x26901d7du; // 1e-15f
const F_0_1: u32 = 0x3dcccccdu;         // 0.1f

var<private> s_x: array<u32, SEARCH_N>;
var<private> s_w: array<u32, SEARCH_N>;
var<private> s_L: array<u32, SEARCH_N>;
var<private> s_aux: array<u32, SEARCH_N>;

// make_qx_quants(n, nmax, x, L, rmse_type = 1, qw = s_w): symmetric levels, L in [0, 2*nmax - 1]
fn make_qx_quants(o: u32, n_in: u32, nmax: i32) -> u32 {
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
  let nmaxf = f_from_i32(nmax);
  var iscale = fdiv(fneg(nmaxf), mx);
  var sumlx = 0u;
  var suml2 = 0u;
  for (var i = 0u; i < n; i++) {
    let l = clamp(nearest_int(fmul(iscale, s_x[o + i])), -nmax, nmax - 1);
    s_L[o + i] = u32(l + nmax);
    let lf = f_from_i32(l);
    let w = s_w[o + i];
    sumlx = fadd(sumlx, fmul(fmul(w, s_x[o + i]), lf));
    suml2 = fadd(suml2, fmul(fmul(w, lf), lf));
  }
  var scale = 0u;
  if (f_truthy(suml2)) { scale = fdiv(sumlx, suml2); }
  var best = fmul(scale, sumlx);
  for (var is = -9; is <= runtime_i32(9); is++) {
    if (is == 0) { continue; }
    iscale = fdiv(fneg(fadd(nmaxf, fmul(F_0_1, f_from_i32(is)))), mx);
    sumlx = 0u;
    suml2 = 0u;
    for (var i = 0u; i < n; i++) {
      let l = clamp(nearest_int(fmul(iscale, s_x[o + i])), -nmax, nmax - 1);
      let lf = f_from_i32(l);
      let w = s_w[o + i];
      sumlx = fadd(sumlx, fmul(fmul(w, s_x[o + i]), lf));
      suml2 = fadd(suml2, fmul(fmul(w, lf), lf));
    }
    if (fgt(suml2, 0u) && fgt(fmul(sumlx, sumlx), fmul(best, suml2))) {
      for (var i = 0u; i < n; i++) {
        let l = clamp(nearest_int(fmul(iscale, s_x[o + i])), -nmax, nmax - 1);
        s_L[o + i] = u32(l + nmax);
      }
      scale = fdiv(sumlx, suml2);
      best = fmul(scale, sumlx);
    }
  }
  return scale;
}

// make_qkx3_quants(n, nmax, x, weights = s_w, L, &the_min, Laux, rmin, rdelta, nstep, use_mad):
// asymmetric levels L in [0, nmax]; returns (scale, the_min) with the_min = -mn >= 0.
fn make_qkx3_quants(o: u32, n_in: u32, nmax: i32, rmin: u32, rdelta: u32, nstep_in: i32, use_mad: bool) -> vec2u {
  let n = runtime_u32(n_in);
  let nstep = runtime_i32(nstep_in);
  var mn = s_x[o];
  var mx = s_x[o];
  var sum_w = s_w[o];
  var sum_x = fmul(sum_w, s_x[o]);
  for (var i = 1u; i < n; i++) {
    let x = s_x[o + i];
    if (flt(x, mn)) { mn = x; }
    if (fgt(x, mx)) { mx = x; }
    let w = s_w[o + i];
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
    let err = select(fmul(diff, diff), fabs(diff), use_mad);
    best = fadd(best, fmul(s_w[o + i], err));
  }
  if (nstep < 1) { return vec2u(scale, fneg(mn)); }
  for (var is = 0; is <= nstep; is++) {
    // ggml replaces `min` (mn) with an accepted trial and its later steps use the new one in both places
    let range = fsub(mx, mn);
    let iscale = fdiv(fadd(fadd(rmin, fmul(rdelta, f_from_i32(is))), nmaxf), range);
    var sum_l = 0u;
    var sum_l2 = 0u;
    var sum_xl = 0u;
    for (var i = 0u; i < n; i++) {
      let l = clamp(nearest_int(fmul(iscale, fsub(s_x[o + i], mn))), 0, nmax);
      s_aux[o + i] = u32(l);
      let w = s_w[o + i];
      let wl = fmul(w, f_from_i32(l));
      sum_l = fadd(sum_l, wl);
      sum_l2 = fadd(sum_l2, fmul(wl, f_from_i32(l)));
      sum_xl = fadd(sum_xl, fmul(wl, s_x[o + i]));
    }
    let D = fsub(fmul(sum_w, sum_l2), fmul(sum_l, sum_l));
    if (fgt(D, 0u)) {
      var this_scale = fdiv(fsub(fmul(sum_w, sum_xl), fmul(sum_x, sum_l)), D);
      var this_min = fdiv(fsub(fmul(sum_l2, sum_x), fmul(sum_l, sum_xl)), D);
      if (fgt(this_min, 0u)) {
        this_min = 0u;
        this_scale = fdiv(sum_xl, sum_l2);
      }
      var mad = 0u;
      for (var i = 0u; i < n; i++) {
        let diff = fsub(fadd(fmul(this_scale, f_from_i32(i32(s_aux[o + i]))), this_min), s_x[o + i]);
        let err = select(fmul(diff, diff), fabs(diff), use_mad);
        mad = fadd(mad, fmul(s_w[o + i], err));
      }
      if (flt(mad, best)) {
        for (var i = 0u; i < n; i++) { s_L[o + i] = s_aux[o + i]; }
        best = mad;
        scale = this_scale;
        mn = this_min;
      }
    }
  }
  return vec2u(scale, fneg(mn));
}
