// INTERIM (lanes): the IQ2 side of src/quant/iq-search.ts for lanes kernels (LANES_PER_BLOCK lanes per
// super-block): sigma2, weights, signs, the grid search with its neighbour fallback, the scale codes, over
// the grid's type tables (src/quant/iq-grids.ts iqGridGpuTables: point keys @0, key map @2048, neighbour
// lists after it). To be replaced by the shared lane-parallel i-quant library.
//
// The type file defines IQ_SUB_N (values per sub-block: 16 or 32), IQ_TRIALS (trial scales -T..T),
// IQ_PARITY (7-bit parity sign codes), IQ_ALWAYS (Recompute.Always: all groups are re-searched at the kept
// scale; else only the kept trial's off-grid groups), and calls the phases in order:
//   iq_phase_prepare (per sub-block weights, signs, max; the type file then sets wg_scale0/wg_denom/wg_active),
//   iq_phase_trials, iq_phase_replay, iq_phase_recompute, iq_phase_refit; the results are wg_gi (grid index
// per group), wg_signs (per group), wg_scale (per sub-block, >= 0, 0 for skipped sub-blocks).

const IQ_MAP: u32 = 2048u;
const IQ_ON_GRID: u32 = 0x80000000u;
const IQ_FLT_MAX: u32 = 0x7f7fffffu;
const IQ_F_HALF: u32 = 0x3f000000u;
const IQ_F_3: u32 = 0x40400000u;
const IQ_F_5: u32 = 0x40a00000u;
const IQ_F_0_1: u32 = 0x3dcccccdu;
const IQ_F_256: u32 = 0x43800000u;

const IQ_NSUB: u32 = 256u / IQ_SUB_N;            // sub-blocks per super-block
const IQ_NG: u32 = IQ_SUB_N / 8u;                // groups of 8 per sub-block
const IQ_NT: u32 = 2u * IQ_TRIALS + 1u;          // trial scales per sub-block
const IQ_ITEMS: u32 = IQ_NSUB * IQ_NT;           // (sub-block, trial) pairs

var<workgroup> wg_sigma2: u32;
var<workgroup> wg_xval: array<u32, 256>;
var<workgroup> wg_w: array<u32, 256>;
var<workgroup> wg_waux: array<u32, 256>;
var<workgroup> wg_signs: array<u32, 32>;
var<workgroup> wg_gi: array<u32, 32>;            // per group: the grid index (kept, then final)
var<workgroup> wg_redo: array<u32, 32>;          // per group: re-search at the kept scale
var<workgroup> wg_scale0: array<u32, 16>;        // per sub-block: the scale before any trial is kept
var<workgroup> wg_denom: array<u32, 16>;
var<workgroup> wg_active: array<u32, 16>;
var<workgroup> wg_scale: array<u32, 16>;
var<workgroup> wg_item_gi: array<u32, 608>;      // per (item, group): grid index | IQ_ON_GRID when on the grid
var<workgroup> wg_item_sqx: array<u32, 304>;
var<workgroup> wg_item_sq2: array<u32, 304>;

var<private> iq_term: array<u32, 24>;

// sigma2 = Σx²/256 (twice: 2·Σx²/256) over the super-block, by lane 0
fn iq_sigma2(x0: u32, twice: bool) -> u32 {
  var s = 0u;
  for (var j = 0u; j < runtime_u32(256u); j++) { s = fadd(s, fmul(src[x0 + j], src[x0 + j])); }
  if (twice) { s = fmul(0x40000000u, s); }
  return fdiv(s, IQ_F_256);
}

// Lane s < IQ_NSUB: the weights, xval and signs of sub-block s; returns its max (0 for other lanes).
fn iq_phase_prepare(x0: u32, col: u32, lane: u32, bias: u32) -> u32 {
  if (lane >= IQ_NSUB) { return 0u; }
  let v0 = lane * IQ_SUB_N;
  let sigma2 = wg_sigma2;
  for (var i = 0u; i < runtime_u32(IQ_SUB_N); i++) {
    let v = src[x0 + v0 + i];
    let x2 = fmul(v, v);
    var w: u32;
    if (USE_IMATRIX) { w = fmul(imatrix[col + v0 + i], fsqrt(fadd(sigma2, x2))); } else { w = fadd(bias, x2); }
    wg_w[v0 + i] = w;
    wg_waux[v0 + i] = fsqrt(w);
  }
  for (var k = 0u; k < runtime_u32(IQ_NG); k++) {
    let g0 = v0 + 8u * k;
    var s = 0u;
    var nflip = 0u;
    for (var i = 0u; i < runtime_u32(8u); i++) {
      let v = src[x0 + g0 + i];
      let pos = fge(v, 0u);
      wg_xval[g0 + i] = select(fneg(v), v, pos);
      nflip += select(1u, 0u, pos);
      s |= select(1u << i, 0u, pos);
    }
    if (IQ_PARITY & ((nflip & 1u) == 1u)) {
      var imin = 0u;
      var mn = 0u;
      for (var i = 0u; i < runtime_u32(8u); i++) {
        let v = src[x0 + g0 + i];
        let ax = fmul(fmul(wg_w[g0 + i], v), v);
        let better = (i == 0u) | flt(ax, mn);
        mn = select(mn, ax, better);
        imin = select(imin, i, better);
      }
      wg_xval[g0 + imin] = fneg(wg_xval[g0 + imin]);
      s ^= 1u << imin;
    }
    wg_signs[lane * IQ_NG + k] = select(s, s & 127u, IQ_PARITY);
  }
  var mx = wg_xval[v0];
  for (var i = 1u; i < runtime_u32(IQ_SUB_N); i++) { mx = select(wg_xval[v0 + i], mx, fgt(mx, wg_xval[v0 + i])); }
  return mx;
}

// The levels of group g (values g*8 ..) at inverse scale id, as a key
fn iq_group_key(g: u32, id: u32) -> u32 {
  var key = 0u;
  for (var i = 0u; i < runtime_u32(8u); i++) {
    let l = clamp(nearest_int(fmul(IQ_F_HALF, fsub(fmul(id, wg_xval[8u * g + i]), F_ONE))), 0, 2);
    key |= u32(l) << (2u * i);
  }
  return key;
}

// The grid index of group g's key at `scale`: its own point, or the first listed neighbour with the
// strictly smallest Σ waux·(scale·p − x)² (iq2_find_best_neighbour); IQ_ON_GRID set for an on-grid key.
fn iq_group_point(g: u32, key: u32, scale: u32) -> u32 {
  let entry = type_tables[IQ_MAP + key];
  if ((entry & IQ_ON_GRID) != 0u) { return IQ_ON_GRID | (entry & 0xffffu); }
  let s3 = fmul(scale, IQ_F_3);
  let s5 = fmul(scale, IQ_F_5);
  for (var i = 0u; i < runtime_u32(8u); i++) {
    for (var l = 0u; l < runtime_u32(3u); l++) {
      let d = fsub(select(select(s5, s3, l == 1u), scale, l == 0u), wg_xval[8u * g + i]);
      iq_term[3u * i + l] = fmul(fmul(wg_waux[8u * g + i], d), d);
    }
  }
  let count = entry >> 20u;
  let first = entry & 0xfffffu;
  var best = IQ_FLT_MAX;
  var best_index = 0xffffffffu;
  for (var n = 0u; n < count; n++) {
    let p = type_tables[first + n];
    let pk = type_tables[p];
    var d2 = 0u;
    for (var i = 0u; i < runtime_u32(8u); i++) { d2 = fadd(d2, iq_term[3u * i + ((pk >> (2u * i)) & 3u)]); }
    let better = flt(d2, best);
    best = select(best, d2, better);
    best_index = select(best_index, p, better);
  }
  if (best_index == 0xffffffffu) { g_inexact = true; return 0u; } // no finite distance: the host throws
  return best_index;
}

// Σ w·xval·q and Σ w·q·q over sub-block s with the levels of the grid points gi(k)
fn iq_sums(s: u32, item: u32, final_gi: bool) -> vec2u {
  var sqx = 0u;
  var sq2 = 0u;
  for (var k = 0u; k < runtime_u32(IQ_NG); k++) {
    let gi = select(wg_item_gi[item * IQ_NG + k], wg_gi[s * IQ_NG + k], final_gi) & 0xffffu;
    let key = type_tables[gi];
    for (var i = 0u; i < runtime_u32(8u); i++) {
      let v = s * IQ_SUB_N + 8u * k + i;
      let w = wg_w[v];
      let q = f_from_u32(2u * ((key >> (2u * i)) & 3u) + 1u);
      sqx = fadd(sqx, fmul(fmul(w, wg_xval[v]), q));
      sq2 = fadd(sq2, fmul(fmul(w, q), q));
    }
  }
  return vec2u(sqx, sq2);
}

// A lane per (sub-block, trial) item: the trial's levels snapped to the grid, and its sums
fn iq_phase_trials(lane: u32) {
  for (var item = lane; item < IQ_ITEMS; item += LANES_PER_BLOCK) {
    let s = item / IQ_NT;
    if (wg_active[s] == 0u) { continue; }
    let is = i32(item % IQ_NT) - i32(IQ_TRIALS);
    let id = fdiv(fadd(IQ_F_5, fmul(f_from_i32(is), IQ_F_0_1)), wg_denom[s]);
    let this_scale = fdiv(F_ONE, id);
    for (var k = 0u; k < runtime_u32(IQ_NG); k++) {
      let g = s * IQ_NG + k;
      wg_item_gi[item * IQ_NG + k] = iq_group_point(g, iq_group_key(g, id), this_scale);
    }
    let sums = iq_sums(s, item, false);
    wg_item_sqx[item] = sums.x;
    wg_item_sq2[item] = sums.y;
  }
}

// Lane s < IQ_NSUB: ggml's sequential keep-best over the trials; the kept trial's points (all on the grid's
// point of key 0 when none is kept) and which groups to re-search at the kept scale.
fn iq_phase_replay(lane: u32) {
  if (lane >= IQ_NSUB) { return; }
  let s = lane;
  let origin = type_tables[IQ_MAP] & 0xffffu; // levels all 0 (on every IQ2 grid)
  var scale = wg_scale0[s];
  var kept = 0xffffffffu;
  if (wg_active[s] != 0u) {
    var best = 0u;
    for (var t = 0u; t < runtime_u32(IQ_NT); t++) {
      let sqx = wg_item_sqx[s * IQ_NT + t];
      let sq2 = wg_item_sq2[s * IQ_NT + t];
      if (fgt(sq2, 0u) && fgt(fmul(sqx, sqx), fmul(best, sq2))) {
        scale = fdiv(sqx, sq2);
        best = fmul(scale, sqx);
        kept = t;
      }
    }
  }
  let none = kept == 0xffffffffu;
  let kept_item = s * IQ_NT + select(kept, 0u, none);
  var any_off = IQ_ALWAYS;
  for (var k = 0u; k < runtime_u32(IQ_NG); k++) {
    let e = select(wg_item_gi[kept_item * IQ_NG + k], IQ_ON_GRID | origin, none);
    wg_gi[s * IQ_NG + k] = e;
    any_off = any_off | ((e & IQ_ON_GRID) == 0u);
  }
  let redo = (wg_active[s] != 0u) & any_off & fgt(scale, 0u);
  for (var k = 0u; k < runtime_u32(IQ_NG); k++) {
    wg_redo[s * IQ_NG + k] = select(0u, 1u, redo & (IQ_ALWAYS | ((wg_gi[s * IQ_NG + k] & IQ_ON_GRID) == 0u)));
  }
  wg_scale[s] = scale;
}

// Lane g < 32: re-search group g at its sub-block's kept scale where the replay asked for it
fn iq_phase_recompute(lane: u32) {
  if (lane >= 32u) { return; }
  if (wg_redo[lane] == 0u) { return; }
  let scale = wg_scale[lane / IQ_NG];
  wg_gi[lane] = iq_group_point(lane, iq_group_key(lane, fdiv(F_ONE, scale)), scale);
}

// Lane s < IQ_NSUB: the refit after a re-search, and the sign flip of a negative scale (IQ2 sign codes:
// 7 bits with parity, else 8)
fn iq_phase_refit(lane: u32) {
  if (lane >= IQ_NSUB) { return; }
  let s = lane;
  var scale = wg_scale[s];
  if (wg_active[s] == 0u) { wg_scale[s] = 0u; return; }
  var redone = false;
  for (var k = 0u; k < runtime_u32(IQ_NG); k++) { redone = redone | (wg_redo[s * IQ_NG + k] != 0u); }
  if (redone) {
    let sums = iq_sums(s, 0u, true);
    if (fgt(sums.y, 0u)) { scale = fdiv(sums.x, sums.y); }
  }
  if (flt(scale, 0u)) {
    scale = fneg(scale);
    for (var k = 0u; k < runtime_u32(IQ_NG); k++) {
      wg_signs[s * IQ_NG + k] = ~wg_signs[s * IQ_NG + k] & select(255u, 127u, IQ_PARITY);
    }
  }
  wg_scale[s] = scale;
}

// The whole search: every lane calls this from uniform control flow after the type file's prepare step
fn iq_search_lanes(lane: u32) {
  iq_phase_trials(lane);
  workgroupBarrier();
  iq_phase_replay(lane);
  workgroupBarrier();
  iq_phase_recompute(lane);
  workgroupBarrier();
  iq_phase_refit(lane);
  workgroupBarrier();
}

fn iq_scale_code(id: u32, scale: u32) -> u32 {
  return u32(clamp(nearest_int(fmul(IQ_F_HALF, fsub(fmul(id, scale), F_ONE))), 0, 15));
}
