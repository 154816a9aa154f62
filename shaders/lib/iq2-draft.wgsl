// INTERIM (serial, one invocation per block): the IQ2 side of src/quant/iq-search.ts (sigma2, weights,
// signs, the grid search with its neighbour fallback, the scale codes) over the grid's type tables
// (src/quant/iq-grids.ts iqGridGpuTables: point keys @0, key map @2048, neighbour lists after it). Written
// to prove the IQ2 type files byte-identical before the lane-parallel library (shared with IQ3) replaces it.

const IQD_MAP: u32 = 2048u;
const IQD_ON_GRID: u32 = 0x80000000u;
const IQD_FLT_MAX: u32 = 0x7f7fffffu;
const IQD_F_HALF: u32 = 0x3f000000u;
const IQD_F_3: u32 = 0x40400000u;
const IQD_F_5: u32 = 0x40a00000u;
const IQD_F_256: u32 = 0x43800000u;

var<private> iq_xval: array<u32, 32>;
var<private> iq_w: array<u32, 32>;
var<private> iq_waux: array<u32, 32>;
var<private> iq_L: array<u32, 32>;
var<private> iq_Laux: array<u32, 32>;
var<private> iq_on: array<u32, 4>;
var<private> iq_on_aux: array<u32, 4>;
var<private> iq_signs: array<u32, 4>;
var<private> iq_idx: array<u32, 4>;
var<private> iq_term: array<u32, 24>;

fn iq_sigma2(x0: u32, twice: bool) -> u32 {
  var s = 0u;
  for (var j = 0u; j < runtime_u32(256u); j++) { s = fadd(s, fmul(src[x0 + j], src[x0 + j])); }
  if (twice) { s = fmul(0x40000000u, s); }
  return fdiv(s, IQD_F_256);
}

fn iq_weights(xb: u32, qw0: u32, n: u32, sigma2: u32, bias: u32) {
  for (var i = 0u; i < runtime_u32(n); i++) {
    let v = src[xb + i];
    let x2 = fmul(v, v);
    var w: u32;
    if (USE_IMATRIX) { w = fmul(imatrix[qw0 + i], fsqrt(fadd(sigma2, x2))); } else { w = fadd(bias, x2); }
    iq_w[i] = w;
    iq_waux[i] = fsqrt(w);
  }
}

fn iq_extract_signs(xb: u32, n: u32, parity: bool) -> u32 {
  for (var k = 0u; k < runtime_u32(n / 8u); k++) {
    var s = 0u;
    var nflip = 0u;
    for (var i = 0u; i < runtime_u32(8u); i++) {
      let v = src[xb + 8u * k + i];
      let pos = fge(v, 0u);
      iq_xval[8u * k + i] = select(fneg(v), v, pos);
      nflip += select(1u, 0u, pos);
      s |= select(1u << i, 0u, pos);
    }
    if (parity & ((nflip & 1u) == 1u)) {
      var imin = 0u;
      var mn = 0u;
      for (var i = 0u; i < runtime_u32(8u); i++) {
        let v = src[xb + 8u * k + i];
        let ax = fmul(fmul(iq_w[8u * k + i], v), v);
        let better = (i == 0u) | flt(ax, mn);
        mn = select(mn, ax, better);
        imin = select(imin, i, better);
      }
      iq_xval[8u * k + imin] = fneg(iq_xval[8u * k + imin]);
      s ^= 1u << imin;
    }
    iq_signs[k] = select(s, s & 127u, parity);
  }
  var mx = iq_xval[0];
  for (var i = 1u; i < runtime_u32(n); i++) { mx = select(iq_xval[i], mx, fgt(mx, iq_xval[i])); }
  return mx;
}

fn iq_group_levels(v0: u32, id: u32, keep: bool) -> u32 {
  var key = 0u;
  for (var i = 0u; i < runtime_u32(8u); i++) {
    let l = u32(clamp(nearest_int(fmul(IQD_F_HALF, fsub(fmul(id, iq_xval[v0 + i]), F_ONE))), 0, 2));
    if (keep) { iq_L[v0 + i] = l; } else { iq_Laux[v0 + i] = l; }
    key |= l << (2u * i);
  }
  return key;
}

// returns the best neighbour's index, writes its levels
fn iq_best_neighbour(entry: u32, v0: u32, scale: u32, keep: bool) -> u32 {
  let s3 = fmul(scale, IQD_F_3);
  let s5 = fmul(scale, IQD_F_5);
  for (var i = 0u; i < runtime_u32(8u); i++) {
    for (var l = 0u; l < runtime_u32(3u); l++) {
      let sq = select(select(s5, s3, l == 1u), scale, l == 0u);
      let d = fsub(sq, iq_xval[v0 + i]);
      iq_term[3u * i + l] = fmul(fmul(iq_waux[v0 + i], d), d);
    }
  }
  let count = entry >> 20u;
  let first = entry & 0xfffffu;
  var best = IQD_FLT_MAX;
  var best_index = 0xffffffffu;
  for (var n = 0u; n < count; n++) {
    let p = type_tables[first + n];
    let key = type_tables[p];
    var d2 = 0u;
    for (var i = 0u; i < runtime_u32(8u); i++) { d2 = fadd(d2, iq_term[3u * i + ((key >> (2u * i)) & 3u)]); }
    let better = flt(d2, best);
    best = select(best, d2, better);
    best_index = select(best_index, p, better);
  }
  if (best_index == 0xffffffffu) { g_inexact = true; return 0u; }
  let key = type_tables[best_index];
  for (var i = 0u; i < runtime_u32(8u); i++) {
    let l = (key >> (2u * i)) & 3u;
    if (keep) { iq_L[v0 + i] = l; } else { iq_Laux[v0 + i] = l; }
  }
  return best_index;
}

fn iq_sums(n: u32, keep: bool) -> vec2u {
  var sqx = 0u;
  var sq2 = 0u;
  for (var i = 0u; i < runtime_u32(n); i++) {
    let w = iq_w[i];
    let q = f_from_u32(2u * select(iq_Laux[i], iq_L[i], keep) + 1u);
    sqx = fadd(sqx, fmul(fmul(w, iq_xval[i]), q));
    sq2 = fadd(sq2, fmul(fmul(w, q), q));
  }
  return vec2u(sqx, sq2);
}

// recompute: 0 OffGrid, 2 Always
fn iq_grid_search(n: u32, trials: i32, denom: u32, scale_in: u32, always: bool) -> u32 {
  var scale = scale_in;
  let ng = n / 8u;
  for (var i = 0u; i < runtime_u32(n); i++) { iq_L[i] = 0u; }
  for (var k = 0u; k < runtime_u32(ng); k++) { iq_on[k] = 1u; }
  var best = 0u;
  for (var is = -trials; is <= runtime_i32(trials); is++) {
    let id = fdiv(fadd(0x40a00000u, fmul(f_from_i32(is), 0x3dcccccdu)), denom);
    let this_scale = fdiv(F_ONE, id);
    for (var k = 0u; k < runtime_u32(ng); k++) {
      let key = iq_group_levels(8u * k, id, false);
      let entry = type_tables[IQD_MAP + key];
      if ((entry & IQD_ON_GRID) != 0u) { iq_on_aux[k] = 1u; } else {
        iq_on_aux[k] = 0u;
        iq_best_neighbour(entry, 8u * k, this_scale, false);
      }
    }
    let s = iq_sums(n, false);
    if (fgt(s.y, 0u) && fgt(fmul(s.x, s.x), fmul(best, s.y))) {
      scale = fdiv(s.x, s.y);
      best = fmul(scale, s.x);
      for (var i = 0u; i < runtime_u32(n); i++) { iq_L[i] = iq_Laux[i]; }
      for (var k = 0u; k < runtime_u32(ng); k++) { iq_on[k] = iq_on_aux[k]; }
    }
  }
  var any_off = always;
  for (var k = 0u; k < runtime_u32(ng); k++) { any_off = any_off | (iq_on[k] == 0u); }
  if (any_off && fgt(scale, 0u)) {
    let id = fdiv(F_ONE, scale);
    for (var k = 0u; k < runtime_u32(ng); k++) {
      if (!always && iq_on[k] != 0u) { continue; }
      let key = iq_group_levels(8u * k, id, true);
      let entry = type_tables[IQD_MAP + key];
      if ((entry & IQD_ON_GRID) == 0u) { iq_best_neighbour(entry, 8u * k, scale, true); }
    }
    let s = iq_sums(n, true);
    if (fgt(s.y, 0u)) { scale = fdiv(s.x, s.y); }
  }
  for (var k = 0u; k < runtime_u32(ng); k++) {
    var key = 0u;
    for (var i = 0u; i < runtime_u32(8u); i++) { key |= iq_L[8u * k + i] << (2u * i); }
    let entry = type_tables[IQD_MAP + key];
    if ((entry & IQD_ON_GRID) == 0u) { g_inexact = true; }
    iq_idx[k] = entry & 0xffffu;
  }
  return scale;
}

fn iq_scale_code(id: u32, scale: u32) -> u32 {
  return u32(clamp(nearest_int(fmul(IQD_F_HALF, fsub(fmul(id, scale), F_ONE))), 0, 15));
}
