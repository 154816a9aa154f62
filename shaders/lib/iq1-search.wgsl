// What IQ1_S and IQ1_M share (src/quant/iq1-search.ts; spec §2.6.4, §2.8, §3.5): the two value tables,
// sigma2, the sub-block weights, the stable sort by value, and the weighted neighbour search of an off-grid
// group (iq1_find_best_neighbour2) over the iq1s grid in the type tables (src/quant/iq-grids.ts
// iqGridGpuTables: point keys @0, the key map @IQ1_MAP, the neighbour lists after it).

const IQ1_MAP: u32 = 2048u;
const IQ1_ON_GRID: u32 = 0x80000000u;
const IQ1_FLT_MAX: u32 = 0x7f7fffffu;
const IQ1_F_HALF: u32 = 0x3f000000u;
const IQ1_F_15: u32 = 0x41700000u;
// level -> value with +delta (x_p) and with -delta (x_m)
const IQ1_XP = array<u32, 3>(0xbf600000u, 0x3e000000u, 0x3f900000u); // -0.875, 0.125, 1.125
const IQ1_XM = array<u32, 3>(0xbf900000u, 0xbe000000u, 0x3f600000u); // -1.125, -0.125, 0.875

var<private> iq1_w: array<u32, 32>;
var<private> iq1_rank: array<u32, 32>;
var<private> iq1_order: array<u32, 32>;
var<private> iq1_L: array<u32, 32>;
var<private> iq1_term: array<u32, 24>;

fn iq1_table(use_p: bool, l: u32) -> u32 { return select(IQ1_XM[l], IQ1_XP[l], use_p); }

// 2·(Σ x²) ÷ 256 over the super-block at src[x0 ..]
fn iq1_sigma2(x0: u32) -> u32 {
  var sumx2 = 0u;
  for (var j = 0u; j < runtime_u32(256u); j++) { sumx2 = fadd(sumx2, fmul(src[x0 + j], src[x0 + j])); }
  return fdiv(fmul(0x40000000u, sumx2), 0x43800000u);
}

// max |x| over n values, MAX(a, b) = a > b ? a : b from |x_0|; a NaN value flags the block
fn iq1_abs_max(xb: u32, n: u32) -> u32 {
  var amax = fabs(src[xb]);
  for (var i = 0u; i < runtime_u32(n); i++) {
    let v = src[xb + i];
    if (f_is_nan(v)) { g_inexact = true; }
    amax = select(fabs(v), amax, fgt(amax, fabs(v)));
  }
  return amax;
}

// iq1_w[0..n): imatrix[qw0 + i]·sqrt(sigma2 + x_i²) with an imatrix, else x_i²
fn iq1_weights(xb: u32, qw0: u32, n: u32, sigma2: u32) {
  for (var i = 0u; i < runtime_u32(n); i++) {
    let v = src[xb + i];
    let x2 = fmul(v, v);
    if (USE_IMATRIX) { iq1_w[i] = fmul(imatrix[qw0 + i], fsqrt(fadd(sigma2, x2))); } else { iq1_w[i] = x2; }
  }
}

// Stable sort of n values by value (±0 equal, ties in index order): iq1_rank[i] = #smaller + #equal with a
// lower index, iq1_order[rank] = i
fn iq1_sort(xb: u32, n: u32) {
  for (var i = 0u; i < runtime_u32(n); i++) {
    let v = src[xb + i];
    var r = 0u;
    for (var j = 0u; j < runtime_u32(n); j++) {
      let u = src[xb + j];
      r += select(0u, 1u, flt(u, v) | ((j < i) & !flt(v, u) & !flt(u, v)));
    }
    iq1_rank[i] = r;
    iq1_order[r] = i;
  }
}

// iq1_find_best_neighbour2 for an off-grid key (its map word `entry`) of the group of values src[xb + l0 ..]:
// the listed point with the strictly smallest Σ w·diff·diff, diff = scale·table[L] − x (first wins); sets
// iq1_L[l0 .. l0+8) to its levels and returns its index
fn iq1_best_neighbour(entry: u32, xb: u32, l0: u32, scale: u32, use_p: bool) -> u32 {
  for (var l = 0u; l < runtime_u32(3u); l++) {
    let sq = fmul(scale, iq1_table(use_p, l));
    for (var i = 0u; i < runtime_u32(8u); i++) {
      let diff = fsub(sq, src[xb + l0 + i]);
      iq1_term[3u * i + l] = fmul(fmul(iq1_w[l0 + i], diff), diff);
    }
  }
  let count = entry >> 20u;
  let first = entry & 0xfffffu;
  var best = IQ1_FLT_MAX;
  var best_index = 0xffffffffu;
  for (var n = 0u; n < count; n++) {
    let p = type_tables[first + n];
    let key = type_tables[p];
    var d2 = 0u;
    for (var i = 0u; i < runtime_u32(8u); i++) { d2 = fadd(d2, iq1_term[3u * i + ((key >> (2u * i)) & 3u)]); }
    let better = flt(d2, best);
    best = select(best, d2, better);
    best_index = select(best_index, p, better);
  }
  if (best_index == 0xffffffffu) { g_inexact = true; return 0u; } // every distance Inf/NaN: the host throws
  let key = type_tables[best_index];
  for (var i = 0u; i < runtime_u32(8u); i++) { iq1_L[l0 + i] = (key >> (2u * i)) & 3u; }
  return best_index;
}

// The grid index of the group iq1_L[l0 .. l0+8): its own point when on the grid, else the best neighbour
// (which rewrites its levels). Bit 16 of the result is set for an off-grid group.
fn iq1_group(xb: u32, l0: u32, scale: u32, use_p: bool) -> u32 {
  var u = 0u;
  for (var j = 0u; j < runtime_u32(8u); j++) { u |= iq1_L[l0 + j] << (2u * j); }
  let entry = type_tables[IQ1_MAP + u];
  if ((entry & IQ1_ON_GRID) != 0u) { return entry & 0xffffu; }
  return iq1_best_neighbour(entry, xb, l0, scale, use_p) | 0x10000u;
}

// The refitted scale Σ w·q·x ÷ Σ w·q·q over n values with the levels iq1_L, where group k (8 values) uses
// the +δ table when bit k of p_mask is set; `scale` unchanged unless both sums are > 0
fn iq1_refit(xb: u32, n: u32, p_mask: u32, scale: u32) -> u32 {
  var sqx = 0u;
  var sq2 = 0u;
  for (var j = 0u; j < runtime_u32(n); j++) {
    let q = iq1_table(((p_mask >> (j / 8u)) & 1u) != 0u, iq1_L[j]);
    let wq = fmul(iq1_w[j], q);
    sqx = fadd(sqx, fmul(wq, src[xb + j]));
    sq2 = fadd(sq2, fmul(wq, q));
  }
  if (fgt(sqx, 0u) & fgt(sq2, 0u)) { return fdiv(sqx, sq2); }
  return scale;
}
