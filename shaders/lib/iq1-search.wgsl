// What IQ1_S and IQ1_M share (src/quant/iq1-search.ts; spec §2.6.4, §2.8, §3.5), in the lanes mode: the
// IQ1_LANES invocations of a workgroup quantize one block together (quantize_block_lanes). Here: the two value
// tables, sigma2, the sub-block weights and stable sort (one lane per value), the exact first-wins split search
// over candidates spread across the lanes (iq1_lanes_scan), and the weighted neighbour search of the off-grid
// groups (iq1_find_best_neighbour2; the lanes of a group split its neighbour list) over the iq1s grid in the
// type tables (src/quant/iq-grids.ts iqGridGpuTables: point keys @0, the key map @IQ1_MAP, the lists after it).
//
// Every float operation is one the CPU path performs, on the same operands: work is divided among the lanes,
// never reordered (sums stay in one lane, in index order), so the bytes and the set of flagged operations
// (g_inexact) are those of the sequential code. Values that steer control flow around a barrier reach all lanes
// through workgroupUniformLoad. The type file defines IQ1_SEG, the candidates one lane holds, and
// LANES_PER_BLOCK = 64 (the group searches split the lanes into 2 or 4 power-of-two halves / quarters).

const IQ1_LANES: u32 = LANES_PER_BLOCK;
const_assert IQ1_LANES == 64u;
const IQ1_NONE: u32 = 0xffffffffu;
const IQ1_MAP: u32 = 2048u;
const IQ1_ON_GRID: u32 = 0x80000000u;
const IQ1_FLT_MAX: u32 = 0x7f7fffffu;
const IQ1_F_HALF: u32 = 0x3f000000u;
const IQ1_F_15: u32 = 0x41700000u;
// level -> value with +delta (x_p) and with -delta (x_m)
const IQ1_XP = array<u32, 3>(0xbf600000u, 0x3e000000u, 0x3f900000u); // -0.875, 0.125, 1.125
const IQ1_XM = array<u32, 3>(0xbf900000u, 0xbe000000u, 0x3f600000u); // -1.125, -0.125, 0.875

// the sub-block being searched (at most 32 values): weights, rank of each value, value index by rank, levels
var<workgroup> iq1_wg_w: array<u32, 32>;
var<workgroup> iq1_wg_rank: array<u32, 32>;
var<workgroup> iq1_wg_order: array<u32, 32>;
var<workgroup> iq1_wg_L: array<u32, 32>;
// per group (at most 4): the 24 terms w·diff·diff, then its grid index (| 0x10000 when it was off the grid)
var<workgroup> iq1_wg_term: array<u32, 96>;
var<workgroup> iq1_wg_group: array<u32, 4>;
// one (distance, list position) per lane for the neighbour reductions
var<workgroup> iq1_wg_d2: array<u32, IQ1_LANES>;
var<workgroup> iq1_wg_pos: array<u32, IQ1_LANES>;
// values one lane hands to all (read back with workgroupUniformLoad)
var<workgroup> iq1_wg_pub: array<u32, 4>;
// IQ1_LANES − the lowest lane with a hit in a scan round, 0 for none (zero when the workgroup starts and
// after every scan)
var<workgroup> iq1_wg_hit: atomic<u32>;
// the candidates (sumqx, sumq2) of the split search; lane l computes and tests the IQ1_SEG consecutive ones
// from l·IQ1_SEG (its segment)
const IQ1_CAND: u32 = IQ1_LANES * IQ1_SEG;
var<workgroup> iq1_wg_cqx: array<u32, IQ1_CAND>;
var<workgroup> iq1_wg_cq2: array<u32, IQ1_CAND>;
// a round's sequential run covers the hit segment and the IQ1_RUN_SEGS − 1 after it
const IQ1_RUN_SEGS: u32 = 4u;

fn iq1_table(use_p: bool, l: u32) -> u32 { return select(IQ1_XM[l], IQ1_XP[l], use_p); }

// 2·(Σ x²) ÷ 256 over the super-block at src[x0 ..] (one lane: the sum runs in index order)
fn iq1_sigma2(x0: u32) -> u32 {
  var sumx2 = 0u;
  for (var j = 0u; j < runtime_u32(256u); j++) { sumx2 = fadd(sumx2, fmul(src[x0 + j], src[x0 + j])); }
  return fdiv(fmul(0x40000000u, sumx2), 0x43800000u);
}

// max |x| over n values, MAX(a, b) = a > b ? a : b from |x_0|; a NaN value flags the block. Every lane computes
// it (the same value: uniform).
fn iq1_abs_max(xb: u32, n: u32) -> u32 {
  var amax = fabs(src[xb]);
  for (var i = 0u; i < runtime_u32(n); i++) {
    let v = src[xb + i];
    if (f_is_nan(v)) { g_inexact = true; }
    amax = select(fabs(v), amax, fgt(amax, fabs(v)));
  }
  return amax;
}

// Lane i < n: iq1_wg_w[i] = imatrix[qw0 + i]·sqrt(sigma2 + x_i²) with an imatrix, else x_i²; and the stable
// sort by value (±0 equal, ties in index order): iq1_wg_rank[i] = #smaller + #equal with a lower index,
// iq1_wg_order[rank] = i.
fn iq1_lanes_weights_sort(xb: u32, qw0: u32, n: u32, sigma2: u32, lane: u32) {
  if (lane < n) {
    let v = src[xb + lane];
    let x2 = fmul(v, v);
    if (USE_IMATRIX) { iq1_wg_w[lane] = fmul(imatrix[qw0 + lane], fsqrt(fadd(sigma2, x2))); } else { iq1_wg_w[lane] = x2; }
    var r = 0u;
    for (var j = 0u; j < runtime_u32(n); j++) {
      let u = src[xb + j];
      r += select(0u, 1u, flt(u, v) | ((j < lane) & !flt(v, u) & !flt(u, v)));
    }
    iq1_wg_rank[lane] = r;
    iq1_wg_order[min(r, 31u)] = lane;
  }
  workgroupBarrier();
}

// (i1, i2) of split pair p, pairs i1 <= i2 of 0 .. m − 1 in order (row i1 holds the m − i1 pairs i2 = i1 .. m − 1;
// m = sub-block size + 1)
fn iq1_pair(p: u32, m: u32) -> vec2<u32> {
  var r = p;
  var i1 = 0u;
  for (var k = 0u; k < runtime_u32(m); k++) {
    let len = m - i1;
    if (r >= len) { r -= len; i1 += 1u; }
  }
  return vec2<u32>(i1, i1 + r);
}

// ggml's sequential split search over the candidates c = 0 .. n_cand (iq1_wg_cqx/cq2[c]):
//   if (sumq2 > 0 && sumqx² > best·sumq2) { scale = sumqx/sumq2; best = scale·sumqx; winner = c; }
// with best starting at −FLT_MAX (`found` stands for that first product, which would overflow). Exactly, in
// rounds: every lane tests the rest of its segment against the current state up to its first hit; the
// lowest lane with a hit, k, tested from the true state, so the sequential loop changes the state first
// there: lane k alone runs the loop from that candidate through segment k + IQ1_RUN_SEGS − 1 (updates come in
// runs), and its end state is the true state there; the lanes after that test again from it. The divisions
// are the sequential loop's. The flags the lanes after k raised testing against a state that was not the
// true one are dropped (lane k's run repeats those operations with the true state), so g_inexact covers
// exactly the operations of the sequential loop. Returns (winner or IQ1_NONE, scale); scale0 if none.
fn iq1_lanes_scan(n_cand: u32, scale0: u32, lane: u32) -> vec2<u32> {
  var found = false;
  var best = 0u;
  var scale = scale0;
  var winner = IQ1_NONE;
  var start = 0u;
  let s0 = lane * IQ1_SEG;
  loop {
    if (start >= n_cand) { break; }
    let saved = g_inexact;
    var first = IQ1_NONE;
    for (var j = 0u; j < runtime_u32(IQ1_SEG); j++) {
      let c = s0 + j;
      if ((first == IQ1_NONE) & (c >= start) & (c < n_cand)) {
        let qx = iq1_wg_cqx[c];
        let q2 = iq1_wg_cq2[c];
        if (fgt(q2, 0u) & (!found | fgt(fmul(qx, qx), fmul(best, q2)))) { first = c; }
      }
    }
    if (first != IQ1_NONE) { atomicMax(&iq1_wg_hit, IQ1_LANES - lane); }
    workgroupBarrier();
    if (lane == 0u) {
      let h = atomicLoad(&iq1_wg_hit);
      iq1_wg_pub[0] = select(IQ1_NONE, IQ1_LANES - h, h != 0u);
    }
    let k = workgroupUniformLoad(&iq1_wg_pub[0]);
    if (lane > k) { g_inexact = saved; }
    if (k == IQ1_NONE) { break; }
    let end = min(n_cand, (k + IQ1_RUN_SEGS) * IQ1_SEG);
    if (lane == k) {
      // the sequential loop from the first hit (which updates) to `end`
      var lf = found;
      var lb = best;
      var ls = 0u; // the first hit sets it
      var lw = IQ1_NONE;
      for (var c = first; c < end; c++) {
        let qx = iq1_wg_cqx[c];
        let q2 = iq1_wg_cq2[c];
        if (fgt(q2, 0u) & (!lf | fgt(fmul(qx, qx), fmul(lb, q2)))) {
          ls = fdiv(qx, q2);
          lb = fmul(ls, qx);
          lf = true;
          lw = c;
        }
      }
      iq1_wg_pub[1] = lw;
      iq1_wg_pub[2] = ls;
      iq1_wg_pub[3] = lb;
    }
    if (lane == 0u) { atomicStore(&iq1_wg_hit, 0u); }
    found = true;
    start = end;
    workgroupBarrier();
    // the state for the next round's tests (data only: read after the barrier, rewritten two barriers later)
    best = iq1_wg_pub[3];
  }
  if (found) {
    // the winner and its scale steer control flow: uniform
    winner = workgroupUniformLoad(&iq1_wg_pub[1]);
    scale = workgroupUniformLoad(&iq1_wg_pub[2]);
  }
  workgroupBarrier();
  return vec2<u32>(winner, scale);
}

// The ng groups of 8 values (levels iq1_wg_L[8g ..], values src[xb + 8g ..]), IQ1_LANES / ng lanes each: a group
// on the grid keeps its point; an off-grid one gets the neighbour of its key with the strictly smallest
// Σ w·diff·diff, diff = scale·table[L] − x (first in list order wins; its levels replace the group's in iq1_wg_L).
// Group g uses the +delta table when bit g of p_mask is set. Result in iq1_wg_group[g]: the grid index,
// | 0x10000 for an off-grid group. Every distance Inf/NaN flags the block (the host throws, as llama.cpp aborts).
fn iq1_lanes_groups(xb: u32, ng: u32, scale: u32, p_mask: u32, lane: u32) {
  let per = IQ1_LANES / ng;
  let g = lane / per;
  let j = lane % per;
  let l0 = 8u * g;
  var u = 0u;
  for (var i = 0u; i < runtime_u32(8u); i++) { u |= iq1_wg_L[l0 + i] << (2u * i); }
  let entry = type_tables[IQ1_MAP + u];
  let on = (entry & IQ1_ON_GRID) != 0u;
  let use_p = ((p_mask >> g) & 1u) != 0u;
  // the terms of an off-grid group, as the sequential search computes them (level l of coordinate i at 3i + l)
  if (!on) {
    for (var t = j; t < runtime_u32(24u); t += per) {
      let i = t / 3u;
      let diff = fsub(fmul(scale, iq1_table(use_p, t % 3u)), src[xb + l0 + i]);
      iq1_wg_term[24u * g + t] = fmul(fmul(iq1_wg_w[l0 + i], diff), diff);
    }
  }
  workgroupBarrier();
  var best = IQ1_FLT_MAX;
  var pos = IQ1_NONE;
  if (!on) {
    let count = entry >> 20u;
    let first = entry & 0xfffffu;
    for (var n = j; n < count; n += per) {
      let key = type_tables[type_tables[first + n]];
      var d2 = 0u;
      for (var i = 0u; i < runtime_u32(8u); i++) { d2 = fadd(d2, iq1_wg_term[24u * g + 3u * i + ((key >> (2u * i)) & 3u)]); }
      let better = flt(d2, best);
      best = select(best, d2, better);
      pos = select(pos, n, better);
    }
  }
  iq1_wg_d2[lane] = best;
  iq1_wg_pos[lane] = pos;
  workgroupBarrier();
  // lane 0 of the group: the smallest distance, the first list position among equal ones, over its lanes
  if ((j == 0u) & !on) {
    var bd = best;
    var bp = pos;
    for (var m = 1u; m < per; m++) {
      let d = iq1_wg_d2[lane + m];
      let q = iq1_wg_pos[lane + m];
      let take = flt(d, bd) | (!flt(bd, d) & (q < bp));
      bd = select(bd, d, take);
      bp = select(bp, q, take);
    }
    iq1_wg_pos[lane] = bp;
  }
  if (j == 0u) {
    if (on) {
      iq1_wg_group[g] = entry & 0xffffu;
    } else {
      let n = iq1_wg_pos[lane];
      if (n == IQ1_NONE) {
        g_inexact = true;
        iq1_wg_group[g] = 0x10000u;
      } else {
        let p = type_tables[(entry & 0xfffffu) + n];
        let key = type_tables[p];
        for (var i = 0u; i < runtime_u32(8u); i++) { iq1_wg_L[l0 + i] = (key >> (2u * i)) & 3u; }
        iq1_wg_group[g] = p | 0x10000u;
      }
    }
  }
  workgroupBarrier();
}

// The refitted scale Σ w·q·x ÷ Σ w·q·q over n values with the levels iq1_wg_L, where group k (8 values) uses
// the +delta table when bit k of p_mask is set; `scale` unchanged unless both sums are > 0. One lane (the sums
// run in index order); the result reaches every lane.
fn iq1_lanes_refit(xb: u32, n: u32, p_mask: u32, scale: u32, lane: u32) -> u32 {
  if (lane == 0u) {
    var sqx = 0u;
    var sq2 = 0u;
    for (var j = 0u; j < runtime_u32(n); j++) {
      let q = iq1_table(((p_mask >> (j / 8u)) & 1u) != 0u, iq1_wg_L[j]);
      let wq = fmul(iq1_wg_w[j], q);
      sqx = fadd(sqx, fmul(wq, src[xb + j]));
      sq2 = fadd(sq2, fmul(wq, q));
    }
    var s = scale;
    if (fgt(sqx, 0u) & fgt(sq2, 0u)) { s = fdiv(sqx, sq2); }
    iq1_wg_pub[0] = s;
  }
  let r = workgroupUniformLoad(&iq1_wg_pub[0]);
  workgroupBarrier();
  return r;
}

// The end of a sub-block's search, in every lane (uniform control flow), once iq1_lanes_scan has found the split
// `pair` (i1, i2 over the sorted order: level 0 below rank i1, 1 below i2, else 2) with `scale` and the groups'
// tables p_mask: a negative scale is negated, its levels mirrored (2 − l) and the tables swapped (the ng bits of
// p_mask inverted); then the ng groups are settled on the grid (iq1_lanes_groups: iq1_wg_group) and the scale
// refitted when one of them was off it. Returns (scale, p_mask).
fn iq1_lanes_settle(xb: u32, ng: u32, pair: vec2<u32>, scale: u32, p_mask: u32, lane: u32) -> vec2<u32> {
  let flip = flt(scale, 0u);
  if (lane < 8u * ng) {
    let r = iq1_wg_rank[lane];
    let l = select(select(2u, 1u, r < pair.y), 0u, r < pair.x);
    iq1_wg_L[lane] = select(l, 2u - l, flip);
  }
  let pm = select(p_mask, p_mask ^ ((1u << ng) - 1u), flip);
  var s = select(scale, fneg(scale), flip);
  workgroupBarrier();
  iq1_lanes_groups(xb, ng, s, pm, lane);
  var off_grid = 0u;
  for (var k = 0u; k < runtime_u32(ng); k++) { off_grid |= workgroupUniformLoad(&iq1_wg_group[k]) >> 16u; }
  if (off_grid != 0u) { s = iq1_lanes_refit(xb, 8u * ng, pm, s, lane); }
  if (!fge(s, 0u)) { g_inexact = true; } // NaN scale: the host throws as llama.cpp aborts
  return vec2<u32>(s, pm);
}

// The 3-bit code of a sub-block scale s with id = 1 ÷ d: clamp(nearest_int(0.5·(id·s − 1)), 0, 7)
fn iq1_scale_code(id: u32, s: u32) -> u32 {
  return u32(clamp(nearest_int(fmul(IQ1_F_HALF, fsub(fmul(id, s), F_ONE))), 0, 7));
}
