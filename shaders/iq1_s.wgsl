// IQ1_S: super-blocks of 256 values, 50 bytes: d fp16 @0, qs[32] @2, qh[8] u16 @34. Group g of 8 values
// (sub-block ib = g/4, k = g mod 4) is the 11-bit grid point qs[g] | ((qh[ib] >> 3k) & 7) << 8; qh bits
// 12..14 hold the sub-block scale code, bit 15 the sign of delta. Reproduces quantize_row_iq1_s_impl
// (imatrix required) as src/quant/iq1_s.ts does; spec §2.8.1, §3.5. One invocation per block (the split
// search runs in one invocation). The grid comes from the type tables (src/quant/iq-grids.ts
// iqGridGpuTables): point keys @0, the key map @IQ1_MAP, neighbour lists after it.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 50u;
const BLOCKS_PER_INVOCATION: u32 = 2u;

const IQ1_MAP: u32 = 2048u;
const IQ1_ON_GRID: u32 = 0x80000000u;
const IQ1_EPS: u32 = 0x2b8cbcccu;        // 1e-12f
const IQ1_FUDGE: u32 = 0x3f900000u;      // 1.125f
const IQ1_F_15: u32 = 0x41700000u;
const IQ1_F_HALF: u32 = 0x3f000000u;
const IQ1_F_TWO: u32 = 0x40000000u;
const IQ1_F_256: u32 = 0x43800000u;
const IQ1_FLT_MAX: u32 = 0x7f7fffffu;
// level -> value with +delta (x_p) and with -delta (x_m)
const IQ1_XP = array<u32, 3>(0xbf600000u, 0x3e000000u, 0x3f900000u); // -0.875, 0.125, 1.125
const IQ1_XM = array<u32, 3>(0xbf900000u, 0xbe000000u, 0x3f600000u); // -1.125, -0.125, 0.875

var<private> iq1_w: array<u32, 32>;
var<private> iq1_rank: array<u32, 32>;
var<private> iq1_order: array<u32, 32>;
var<private> iq1_L: array<u32, 32>;
var<private> iq1_sumx: array<u32, 33>;
var<private> iq1_sumw: array<u32, 33>;
// the split-sum terms that depend on i1 only (A*) or on i2 only (C*), per table
var<private> iq1_ap: array<u32, 33>;
var<private> iq1_awp: array<u32, 33>;
var<private> iq1_am: array<u32, 33>;
var<private> iq1_awm: array<u32, 33>;
var<private> iq1_cp: array<u32, 33>;
var<private> iq1_cwp: array<u32, 33>;
var<private> iq1_cm: array<u32, 33>;
var<private> iq1_cwm: array<u32, 33>;
var<private> iq1_term: array<u32, 24>;

fn iq1_table(shift: i32, l: u32) -> u32 { return select(IQ1_XM[l], IQ1_XP[l], shift == 1); }

// iq1_find_best_neighbour2 for the off-grid key of group k (values x0 + 8k): the listed point with the
// strictly smallest sum of w*diff*diff (first wins); sets iq1_L of the group and returns the point's index.
fn iq1_best_neighbour(entry: u32, x0: u32, k: u32, scale: u32, shift: i32) -> u32 {
  for (var l = 0u; l < runtime_u32(3u); l++) {
    let sq = fmul(scale, iq1_table(shift, l));
    for (var i = 0u; i < runtime_u32(8u); i++) {
      let diff = fsub(sq, src[x0 + 8u * k + i]);
      iq1_term[3u * i + l] = fmul(fmul(iq1_w[8u * k + i], diff), diff);
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
  for (var i = 0u; i < runtime_u32(8u); i++) { iq1_L[8u * k + i] = (key >> (2u * i)) & 3u; }
  return best_index;
}

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  var sumx2 = 0u;
  for (var j = 0u; j < runtime_u32(256u); j++) { sumx2 = fadd(sumx2, fmul(src[x0 + j], src[x0 + j])); }
  let sigma2 = fdiv(fmul(IQ1_F_TWO, sumx2), IQ1_F_256);

  var scales: array<u32, 8>;
  var shifts: array<i32, 8>;
  var qh: array<u32, 8>;
  var max_scale = 0u;
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    let xb = x0 + 32u * ib;
    scales[ib] = 0u;
    shifts[ib] = 1;
    qh[ib] = 0u;
    var amax = fabs(src[xb]);
    for (var i = 0u; i < runtime_u32(32u); i++) {
      let v = src[xb + i];
      if (f_is_nan(v)) { g_inexact = true; }
      amax = select(fabs(v), amax, fgt(amax, fabs(v)));
    }
    if (flt(amax, IQ1_EPS)) {
      for (var k = 0u; k < runtime_u32(4u); k++) { put_byte(o + 2u + 4u * ib + k, 0u); }
      continue;
    }
    // ggml computes the weights before that test; unused for such a sub-block, so computing them here
    // gives the same bytes and keeps tiny sub-blocks off the host path
    for (var i = 0u; i < runtime_u32(32u); i++) {
      let v = src[xb + i];
      iq1_w[i] = fmul(imatrix[col + 32u * ib + i], fsqrt(fadd(sigma2, fmul(v, v))));
    }
    // stable sort by value: rank = #smaller + #equal with a lower index (±0 equal)
    for (var i = 0u; i < runtime_u32(32u); i++) {
      let v = src[xb + i];
      var r = 0u;
      for (var j = 0u; j < runtime_u32(32u); j++) {
        let u = src[xb + j];
        r += select(0u, 1u, flt(u, v) | ((j < i) & !flt(v, u) & !flt(u, v)));
      }
      iq1_rank[i] = r;
      iq1_order[r] = i;
    }
    iq1_sumx[0] = 0u;
    iq1_sumw[0] = 0u;
    for (var j = 0u; j < runtime_u32(32u); j++) {
      let i = iq1_order[j];
      iq1_sumx[j + 1u] = fadd(iq1_sumx[j], fmul(iq1_w[i], src[xb + i]));
      iq1_sumw[j + 1u] = fadd(iq1_sumw[j], iq1_w[i]);
    }
    let sx_n = iq1_sumx[32];
    let sw_n = iq1_sumw[32];
    for (var i = 0u; i < runtime_u32(33u); i++) {
      let a = fsub(iq1_sumx[i], iq1_sumx[0]);
      let aw = fsub(iq1_sumw[i], iq1_sumw[0]);
      let c = fsub(sx_n, iq1_sumx[i]);
      let cw = fsub(sw_n, iq1_sumw[i]);
      iq1_ap[i] = fmul(a, IQ1_XP[0]); iq1_awp[i] = fmul(fmul(aw, IQ1_XP[0]), IQ1_XP[0]);
      iq1_am[i] = fmul(a, IQ1_XM[0]); iq1_awm[i] = fmul(fmul(aw, IQ1_XM[0]), IQ1_XM[0]);
      iq1_cp[i] = fmul(c, IQ1_XP[2]); iq1_cwp[i] = fmul(fmul(cw, IQ1_XP[2]), IQ1_XP[2]);
      iq1_cm[i] = fmul(c, IQ1_XM[2]); iq1_cwm[i] = fmul(fmul(cw, IQ1_XM[2]), IQ1_XM[2]);
    }
    // best starts at -FLT_MAX: any sumq2 > 0 beats it (sumqx² >= 0 > -FLT_MAX·sumq2), so `found` stands
    // in for that product, which would overflow
    var found = false;
    var best = 0u;
    var scale = amax;
    var besti1 = 0u;
    var besti2 = 0u;
    var shift = 0;
    for (var i1 = 0u; i1 < runtime_u32(33u); i1++) {
      let s1 = iq1_sumx[i1];
      let w1 = iq1_sumw[i1];
      for (var i2 = i1; i2 < runtime_u32(33u); i2++) {
        let b = fsub(iq1_sumx[i2], s1);
        let bw = fsub(iq1_sumw[i2], w1);
        for (var t = 0u; t < runtime_u32(2u); t++) {
          let p = t == 0u;
          let sumqx = fadd(fadd(select(iq1_am[i1], iq1_ap[i1], p), fmul(b, select(IQ1_XM[1], IQ1_XP[1], p))), select(iq1_cm[i2], iq1_cp[i2], p));
          let q1 = select(IQ1_XM[1], IQ1_XP[1], p);
          let sumq2 = fadd(fadd(select(iq1_awm[i1], iq1_awp[i1], p), fmul(fmul(bw, q1), q1)), select(iq1_cwm[i2], iq1_cwp[i2], p));
          if (fgt(sumq2, 0u) & (!found | fgt(fmul(sumqx, sumqx), fmul(best, sumq2)))) {
            scale = fdiv(sumqx, sumq2);
            best = fmul(scale, sumqx);
            found = true;
            besti1 = i1;
            besti2 = i2;
            shift = select(-1, 1, p);
          }
        }
      }
    }
    if (!found) {
      for (var k = 0u; k < runtime_u32(4u); k++) { put_byte(o + 2u + 4u * ib + k, 0u); }
      continue;
    }
    for (var i = 0u; i < runtime_u32(32u); i++) {
      let r = iq1_rank[i];
      iq1_L[i] = select(select(2u, 1u, r < besti2), 0u, r < besti1);
    }
    if (flt(scale, 0u)) {
      for (var i = 0u; i < runtime_u32(32u); i++) { iq1_L[i] = 2u - iq1_L[i]; }
      scale = fneg(scale);
      shift = -shift;
    }
    var all_on_grid = true;
    var h = 0u;
    for (var k = 0u; k < runtime_u32(4u); k++) {
      var u = 0u;
      for (var j = 0u; j < runtime_u32(8u); j++) { u |= iq1_L[8u * k + j] << (2u * j); }
      let entry = type_tables[IQ1_MAP + u];
      var gi = entry & 0xffffu;
      if ((entry & IQ1_ON_GRID) == 0u) {
        all_on_grid = false;
        gi = iq1_best_neighbour(entry, xb, k, scale, shift);
      }
      put_byte(o + 2u + 4u * ib + k, gi & 255u);
      h |= (gi >> 8u) << (3u * k);
    }
    if (!all_on_grid) {
      var sqx = 0u;
      var sq2 = 0u;
      for (var j = 0u; j < runtime_u32(32u); j++) {
        let q = iq1_table(shift, iq1_L[j]);
        let wq = fmul(iq1_w[j], q);
        sqx = fadd(sqx, fmul(wq, src[xb + j]));
        sq2 = fadd(sq2, fmul(wq, q));
      }
      if (fgt(sqx, 0u) & fgt(sq2, 0u)) { scale = fdiv(sqx, sq2); }
    }
    if (!fge(scale, 0u)) { g_inexact = true; } // NaN scale: the host throws as llama.cpp aborts
    qh[ib] = h;
    scales[ib] = scale;
    shifts[ib] = shift;
    if (!fgt(max_scale, scale)) { max_scale = scale; }
  }

  if (!f_truthy(max_scale)) {
    put_u16(o, 0u);
    for (var ib = 0u; ib < runtime_u32(8u); ib++) { put_u16(o + 34u + 2u * ib, qh[ib]); }
    return;
  }
  let d = fdiv(max_scale, IQ1_F_15);
  put_u16(o, fp16_bits(fmul(d, IQ1_FUDGE)));
  let id = fdiv(F_ONE, d);
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    var l = u32(clamp(nearest_int(fmul(IQ1_F_HALF, fsub(fmul(id, scales[ib]), F_ONE))), 0, 7));
    l |= select(0u, 8u, shifts[ib] == -1);
    put_u16(o + 34u + 2u * ib, qh[ib] | (l << 12u));
  }
}
