// The lane-parallel grid search of the IQ2/IQ3 quantizers, for lanes kernels (shaders/README.md "Lanes
// kernels"): the WGSL counterpart of superBlockSigma2, imatrixWeights/plainWeights, extractSigns,
// gridSearch and scaleCode in src/quant/iq-search.ts (spec §2.6.3, §2.6.5, §2.7), same bytes.
//
// The type file defines (all read here at module scope):
//   IQG_DIM: u32           coordinates per grid point, 4 (IQ3 grids) or 8 (IQ2 grids)
//   IQG_BITS: u32          bits per level in a key, 3 or 2
//   IQG_SUB: u32           values per sub-block (32 or 16); 256 / IQG_SUB sub-blocks per block
//   IQG_KMAXQ: u32         number of levels, 8 (IQ3) or 3 (IQ2)
//   IQG_TRIALS: u32        trial scales is = -IQG_TRIALS .. IQG_TRIALS
//   IQG_STEP: u32          f32 bits of the trial step (0.2f IQ3, 0.1f IQ2)
//   IQG_ONGRID_INIT: bool  the on-grid flags before any trial is kept
//   IQG_RECOMPUTE: u32     IQG_OFF_GRID (IQ2_XS, IQ2_S, IQ3_XXS), IQG_ALL_IF_ANY_OFF (IQ3_S), IQG_ALWAYS (IQ2_XXS)
//   IQG_PARITY: bool       extractSigns' parity trick (IQ2_XXS, IQ2_XS, IQ3_XXS)
//   IQG_SIGMA2_TWICE: bool superBlockSigma2's `twice`
//   IQG_PLAIN_BIAS: bool   without imatrix w = 0.25·sigma2 + x² (IQ2_S), else w = x²
//   IQG_D_FUDGE: u32       f32 bits of the factor on the stored d (1.0f: d as is; IQ2_S 0.9875f, IQ3 1.0125f/1.033f)
// and the grid's type tables (binding 6, src/quant/iq-grids.ts iqGridGpuTables): point keys @0, the key
// map @IQG_MAP (bit 31: on the grid, bits 0..15 the index; else count << 20 | offset of the neighbour list).
//
// A block, with LANES_PER_BLOCK lanes (every call from uniform control flow, in every lane):
//   iqg_prepare(x0, col, lane)   sigma2, weights, |x| + signs per 8 values, max per sub-block (iqg_max)
//   -- the type file sets iqg_active[sb], iqg_denom[sb], iqg_scale[sb] (the scale before any trial) for
//      sb < IQG_NSUB, then calls workgroupBarrier() --
//   iqg_search(lane)             iqg_scale[sb] = the sub-block's final scale (may be negative),
//                                iqg_idx[g] = grid index of group g (block-wide)
//   iqg_finish(o, lane)          iqg_sc[sb] = |final scale| (0 when skipped), the max of them, d = max ÷ 31
//                                stored as fp16(d·IQG_D_FUDGE) at byte o (nothing when max is 0: the block's
//                                words start zeroed), iqg_id = 1 ÷ d and iqg_zero; then the type file writes
//                                its layout with iqg_idx, iqg_signs_of(k) (sign code, flipped with a negative
//                                scale), iqg_code(sb) / iqg_code_pair(j) (4-bit scale codes, only if !zero)
// Parallel plan: each lane evaluates (sub-block, trial) pairs (levels, on-grid map, neighbour search,
// Σw·x·q, Σw·q²), stored per pair; one lane per sub-block then replays ggml's sequential keep-best over the
// trials in order (`sumq2 > 0 && sumqx² > best·sumq2`, first wins); one lane per group recomputes the
// winning trial's levels (deterministic, so nothing but two sums is stored per trial) and settles the
// groups per IQG_RECOMPUTE; one lane per sub-block refits. Inactive sub-blocks compute nothing (as ggml
// skips them), so no exact-f32 flag is raised that the CPU path would not meet. A group whose neighbours
// all have non-finite distances (GridSearchOverflowError on the CPU) flags the block for the host path.

const IQG_OFF_GRID: u32 = 0u;
const IQG_ALL_IF_ANY_OFF: u32 = 1u;
const IQG_ALWAYS: u32 = 2u;

const IQG_MAP: u32 = 2048u;            // src/quant/iq-grids.ts IQ_GPU_TABLE_MAP
const IQG_ON_GRID: u32 = 0x80000000u;  // IQ_GPU_ON_GRID
const IQG_FLT_MAX: u32 = 0x7f7fffffu;
const IQG_F_HALF: u32 = 0x3f000000u;
const IQG_F_QK: u32 = 0x43800000u;     // 256.0f
const IQG_F_TWO: u32 = 0x40000000u;
const IQG_F_QUARTER: u32 = 0x3e800000u;
const IQG_F_31: u32 = 0x41f80000u;     // d = max scale ÷ 31 (every IQ2/IQ3 type)

const IQG_N: u32 = 256u;
const IQG_NSUB: u32 = IQG_N / IQG_SUB;
const IQG_NG: u32 = IQG_N / IQG_DIM;          // groups per block
const IQG_GPS: u32 = IQG_SUB / IQG_DIM;       // groups per sub-block
const IQG_NTRIAL: u32 = 2u * IQG_TRIALS + 1u;
const IQG_PAIRS: u32 = IQG_NSUB * IQG_NTRIAL;
const IQG_LMASK: u32 = (1u << IQG_BITS) - 1u;
const IQG_NO_TRIAL: u32 = 0xffffffffu;
const_assert IQG_N % IQG_SUB == 0u;
const_assert IQG_SUB % 8u == 0u;
const_assert IQG_SUB % IQG_DIM == 0u;

// positions p = 2L + 1 as f32 bits, by level
const IQG_POS = array<u32, 8>(0x3f800000u, 0x40400000u, 0x40a00000u, 0x40e00000u,
                              0x41100000u, 0x41300000u, 0x41500000u, 0x41700000u);

var<workgroup> iqg_sigma2: u32;
var<workgroup> iqg_w: array<u32, IQG_N>;
var<workgroup> iqg_waux: array<u32, IQG_N>;
var<workgroup> iqg_xval: array<u32, IQG_N>;
var<workgroup> iqg_L: array<u32, IQG_N>;
var<workgroup> iqg_signs: array<u32, IQG_N / 8u>;   // per 8 values: the sign code (7 bits with parity)
var<workgroup> iqg_max: array<u32, IQG_NSUB>;
var<workgroup> iqg_active: array<u32, IQG_NSUB>;    // set by the type file: 1 = search this sub-block
var<workgroup> iqg_denom: array<u32, IQG_NSUB>;     // set by the type file: id = (2·kMaxQ − 1 + is·step) ÷ denom
var<workgroup> iqg_scale: array<u32, IQG_NSUB>;     // in: the scale before any trial; out: the final scale
var<workgroup> iqg_win: array<u32, IQG_NSUB>;       // the kept trial, or IQG_NO_TRIAL
var<workgroup> iqg_redo: array<u32, IQG_NSUB>;      // 1: the groups are settled again at 1 / scale
var<workgroup> iqg_on: array<u32, IQG_NG>;
var<workgroup> iqg_idx: array<u32, IQG_NG>;
var<workgroup> iqg_sc: array<u32, IQG_NSUB>;        // iqg_finish: |final scale| (0 when skipped)
var<workgroup> iqg_flip: array<u32, IQG_NSUB>;      // iqg_finish: 1 when the final scale was negative
var<workgroup> iqg_id: u32;                         // iqg_finish: 1 / d (set only when iqg_zero == 0)
var<workgroup> iqg_zero: u32;                       // iqg_finish: 1 when the max scale is 0 (d = 0)
var<workgroup> iqg_sqx: array<u32, IQG_PAIRS>;
var<workgroup> iqg_sq2: array<u32, IQG_PAIRS>;
// a lane's neighbour-distance terms by (coordinate, level): iqg_best_neighbour
var<private> iqg_term: array<u32, 32>;
const_assert IQG_DIM * IQG_KMAXQ <= 32u;

// the level of |x| (or the flipped value) at inverse scale id: clamp(nearest_int(0.5·(id·x − 1)), 0, kMaxQ − 1)
fn iqg_level(id: u32, xv: u32) -> u32 {
  let l = nearest_int(fmul(IQG_F_HALF, fsub(fmul(id, xv), F_ONE)));
  return u32(clamp(l, 0, i32(IQG_KMAXQ) - 1));
}

// The 4-bit code of a sub-block scale with id = 1 ÷ d: clamp(nearest_int(0.5·(id·s − 1)), 0, 15)
fn iqg_scale_code(id: u32, s: u32) -> u32 {
  let l = nearest_int(fmul(IQG_F_HALF, fsub(fmul(id, s), F_ONE)));
  return u32(clamp(l, 0, 15));
}

fn iqg_key_level(key: u32, i: u32) -> u32 { return (key >> (IQG_BITS * i)) & IQG_LMASK; }

// Trial t (0-based, is = t − IQG_TRIALS) of sub-block sb: id = (2·kMaxQ − 1 + is·step) ÷ denom
fn iqg_trial_id(sb: u32, t: u32) -> u32 {
  let is = i32(t) - i32(IQG_TRIALS);
  let base = f_from_u32(2u * IQG_KMAXQ - 1u);
  return fdiv(fadd(base, fmul(f_from_i32(is), IQG_STEP)), iqg_denom[sb]);
}

// iq2/iq3_find_best_neighbour over the list `entry` (map word of an off-grid key) for the group whose
// first value is v0: the point with the strictly smallest Σ waux·diff², diff = scale·p − xval (index
// order, first wins). Returns its key; flags the block when none is finite (the CPU path throws).
// Each term waux_i·diff·diff depends only on the coordinate i and its level, so the DIM·KMAXQ terms are
// formed once (the same binary32 operations ggml performs per candidate) and a candidate costs DIM adds:
// the IQ2 lists run to 292 points.
fn iqg_best_neighbour(entry: u32, v0: u32, scale: u32) -> u32 {
  for (var i = 0u; i < runtime_u32(IQG_DIM); i++) {
    for (var l = 0u; l < runtime_u32(IQG_KMAXQ); l++) {
      let d = fsub(fmul(scale, IQG_POS[l]), iqg_xval[v0 + i]);
      iqg_term[i * IQG_KMAXQ + l] = fmul(fmul(iqg_waux[v0 + i], d), d);
    }
  }
  let count = entry >> 20u;
  let first = entry & 0xfffffu;
  var best = IQG_FLT_MAX;
  var best_key = 0xffffffffu;
  for (var n = 0u; n < count; n++) {
    let key = type_tables[type_tables[first + n]];
    var d2 = 0u;
    for (var i = 0u; i < runtime_u32(IQG_DIM); i++) { d2 = fadd(d2, iqg_term[i * IQG_KMAXQ + iqg_key_level(key, i)]); }
    let better = flt(d2, best);
    best = select(best, d2, better);
    best_key = select(best_key, key, better);
  }
  if (best_key == 0xffffffffu) { g_inexact = true; return 0u; }
  return best_key;
}

// The key of group g's levels at inverse scale id; bit 31 set when it is off the grid (then the key is the
// best neighbour's at `scale`)
fn iqg_group_key(g: u32, id: u32, scale: u32) -> u32 {
  let v0 = g * IQG_DIM;
  var key = 0u;
  for (var i = 0u; i < runtime_u32(IQG_DIM); i++) { key |= iqg_level(id, iqg_xval[v0 + i]) << (IQG_BITS * i); }
  let entry = type_tables[IQG_MAP + key];
  if ((entry & IQG_ON_GRID) != 0u) { return key; }
  return iqg_best_neighbour(entry, v0, scale) | 0x80000000u;
}

// sigma2, weights, |x| with the sign codes, and the max |x| of each sub-block
fn iqg_prepare(x0: u32, col: u32, lane: u32) {
  let need_sigma2 = USE_IMATRIX | IQG_PLAIN_BIAS;
  if (need_sigma2 & (lane == 0u)) {
    var s = 0u;
    for (var i = 0u; i < runtime_u32(IQG_N); i++) { s = fadd(s, fmul(src[x0 + i], src[x0 + i])); }
    iqg_sigma2 = fdiv(select(s, fmul(IQG_F_TWO, s), IQG_SIGMA2_TWICE), IQG_F_QK);
  }
  workgroupBarrier();
  let sigma2 = iqg_sigma2;
  for (var i = lane; i < runtime_u32(IQG_N); i += LANES_PER_BLOCK) {
    let v = src[x0 + i];
    var w: u32;
    if (USE_IMATRIX) {
      w = fmul(imatrix[col + i], fsqrt(fadd(sigma2, fmul(v, v))));
    } else if (IQG_PLAIN_BIAS) {
      w = fadd(fmul(IQG_F_QUARTER, sigma2), fmul(v, v));
    } else {
      w = fmul(v, v);
    }
    iqg_w[i] = w;
    iqg_waux[i] = fsqrt(w);
  }
  workgroupBarrier();
  // per 8 values: |x| (x >= 0 keeps x, -0 included), the sign bits; with parity an odd count of negatives
  // flips back the least important value (argmin w·x·x, first wins) and keeps 7 bits
  for (var k = lane; k < runtime_u32(IQG_N / 8u); k += LANES_PER_BLOCK) {
    var s = 0u;
    var nflip = 0u;
    var imin = 0u;
    var vmin = 0u;
    for (var i = 0u; i < runtime_u32(8u); i++) {
      let j = 8u * k + i;
      let v = src[x0 + j];
      let neg = !fge(v, 0u);
      iqg_xval[j] = select(v, fneg(v), neg);
      nflip += select(0u, 1u, neg);
      s |= select(0u, 1u << i, neg);
    }
    if (IQG_PARITY && (nflip & 1u) == 1u) {
      for (var i = 0u; i < runtime_u32(8u); i++) {
        let v = src[x0 + 8u * k + i];
        let ax = fmul(fmul(iqg_w[8u * k + i], v), v);
        let lower = (i == 0u) | flt(ax, vmin);
        vmin = select(vmin, ax, lower);
        imin = select(imin, i, lower);
      }
      iqg_xval[8u * k + imin] = fneg(iqg_xval[8u * k + imin]);
      s ^= 1u << imin;
    }
    iqg_signs[k] = select(s, s & 127u, IQG_PARITY);
  }
  workgroupBarrier();
  for (var sb = lane; sb < runtime_u32(IQG_NSUB); sb += LANES_PER_BLOCK) {
    var m = iqg_xval[sb * IQG_SUB];
    for (var i = 1u; i < runtime_u32(IQG_SUB); i++) {
      let v = iqg_xval[sb * IQG_SUB + i];
      m = select(v, m, fgt(m, v));
    }
    iqg_max[sb] = m;
  }
  workgroupBarrier();
}

// Σ w·xval·q and Σ w·q·q, q = 2L + 1, of one group's values added to the running sums (index order)
fn iqg_add_sums(v0: u32, key: u32, sums: vec2u) -> vec2u {
  var sqx = sums.x;
  var sq2 = sums.y;
  for (var i = 0u; i < runtime_u32(IQG_DIM); i++) {
    let w = iqg_w[v0 + i];
    let q = IQG_POS[iqg_key_level(key, i)];
    sqx = fadd(sqx, fmul(fmul(w, iqg_xval[v0 + i]), q));
    sq2 = fadd(sq2, fmul(fmul(w, q), q));
  }
  return vec2u(sqx, sq2);
}

fn iqg_set_levels(g: u32, key: u32) {
  for (var i = 0u; i < runtime_u32(IQG_DIM); i++) { iqg_L[g * IQG_DIM + i] = iqg_key_level(key, i); }
}

fn iqg_search(lane: u32) {
  // 1. every active (sub-block, trial) pair: the trial's levels snapped to the grid, and its two sums
  for (var p = lane; p < runtime_u32(IQG_PAIRS); p += LANES_PER_BLOCK) {
    let sb = p / IQG_NTRIAL;
    if (iqg_active[sb] == 0u) { continue; }
    let id = iqg_trial_id(sb, p % IQG_NTRIAL);
    let this_scale = fdiv(F_ONE, id);
    var sums = vec2u(0u, 0u);
    for (var k = 0u; k < runtime_u32(IQG_GPS); k++) {
      let g = sb * IQG_GPS + k;
      sums = iqg_add_sums(g * IQG_DIM, iqg_group_key(g, id, this_scale) & 0x7fffffffu, sums);
    }
    iqg_sqx[p] = sums.x;
    iqg_sq2[p] = sums.y;
  }
  workgroupBarrier();
  // 2. ggml's keep-best over the trials in order, one lane per sub-block
  for (var sb = lane; sb < runtime_u32(IQG_NSUB); sb += LANES_PER_BLOCK) {
    var win = IQG_NO_TRIAL;
    if (iqg_active[sb] != 0u) {
      var best = 0u;
      var scale = iqg_scale[sb];
      for (var t = 0u; t < runtime_u32(IQG_NTRIAL); t++) {
        let sqx = iqg_sqx[sb * IQG_NTRIAL + t];
        let sq2 = iqg_sq2[sb * IQG_NTRIAL + t];
        if (fgt(sq2, 0u)) {
          if (fgt(fmul(sqx, sqx), fmul(best, sq2))) {
            scale = fdiv(sqx, sq2);
            best = fmul(scale, sqx);
            win = t;
          }
        }
      }
      iqg_scale[sb] = scale;
    }
    iqg_win[sb] = win;
  }
  workgroupBarrier();
  // 3. one lane per group: the kept trial's levels (all 0 and IQG_ONGRID_INIT when none was kept)
  for (var g = lane; g < runtime_u32(IQG_NG); g += LANES_PER_BLOCK) {
    let sb = g / IQG_GPS;
    var key = 0u;
    var on = IQG_ONGRID_INIT;
    if ((iqg_active[sb] != 0u) & (iqg_win[sb] != IQG_NO_TRIAL)) {
      let id = iqg_trial_id(sb, iqg_win[sb]);
      let k = iqg_group_key(g, id, fdiv(F_ONE, id));
      key = k & 0x7fffffffu;
      on = (k & 0x80000000u) == 0u;
    }
    iqg_set_levels(g, key);
    iqg_on[g] = select(0u, 1u, on);
  }
  workgroupBarrier();
  // 4. settle the groups again at 1 / scale when the rule says so (one lane per group)
  for (var g = lane; g < runtime_u32(IQG_NG); g += LANES_PER_BLOCK) {
    let sb = g / IQG_GPS;
    var any_off = IQG_RECOMPUTE == IQG_ALWAYS;
    for (var k = 0u; k < runtime_u32(IQG_GPS); k++) { any_off = any_off | (iqg_on[sb * IQG_GPS + k] == 0u); }
    let scale = iqg_scale[sb];
    let redo = (iqg_active[sb] != 0u) & any_off & fgt(scale, 0u);
    if (g % IQG_GPS == 0u) { iqg_redo[sb] = select(0u, 1u, redo); }
    if (redo & !((IQG_RECOMPUTE == IQG_OFF_GRID) & (iqg_on[g] != 0u))) {
      iqg_set_levels(g, iqg_group_key(g, fdiv(F_ONE, scale), scale) & 0x7fffffffu);
    }
  }
  workgroupBarrier();
  // 5. the refit, one lane per sub-block
  for (var sb = lane; sb < runtime_u32(IQG_NSUB); sb += LANES_PER_BLOCK) {
    if (iqg_redo[sb] != 0u) {
      var sqx = 0u;
      var sq2 = 0u;
      for (var i = 0u; i < runtime_u32(IQG_SUB); i++) {
        let j = sb * IQG_SUB + i;
        let w = iqg_w[j];
        let q = IQG_POS[iqg_L[j]];
        sqx = fadd(sqx, fmul(fmul(w, iqg_xval[j]), q));
        sq2 = fadd(sq2, fmul(fmul(w, q), q));
      }
      if (fgt(sq2, 0u)) { iqg_scale[sb] = fdiv(sqx, sq2); }
    }
  }
  // 6. the grid index of every group (every active sub-block's groups end on the grid)
  for (var g = lane; g < runtime_u32(IQG_NG); g += LANES_PER_BLOCK) {
    var key = 0u;
    for (var i = 0u; i < runtime_u32(IQG_DIM); i++) { key |= iqg_L[g * IQG_DIM + i] << (IQG_BITS * i); }
    let entry = type_tables[IQG_MAP + key];
    let on = (entry & IQG_ON_GRID) != 0u;
    if (!on & (iqg_active[g / IQG_GPS] != 0u)) { g_inexact = true; } // a bug: the CPU path throws
    iqg_idx[g] = entry & 0xffffu;
  }
  workgroupBarrier();
}

// After iqg_search: a negative final scale flips to its magnitude (its sub-block's signs flip with it,
// iqg_signs_of), the max over the searched sub-blocks gives d = max ÷ 31, stored as fp16(d·IQG_D_FUDGE) at
// byte o unless the max is 0 (then d and every scale code stay 0), and iqg_id = 1 ÷ d for the scale codes
fn iqg_finish(o: u32, lane: u32) {
  if (lane < IQG_NSUB) {
    var sc = 0u;
    var flip = false;
    if (iqg_active[lane] != 0u) {
      let scale = iqg_scale[lane];
      flip = flt(scale, 0u);
      sc = select(scale, fneg(scale), flip);
    }
    iqg_sc[lane] = sc;
    iqg_flip[lane] = select(0u, 1u, flip);
  }
  workgroupBarrier();
  if (lane == 0u) {
    var max_scale = 0u;
    for (var sb = 0u; sb < runtime_u32(IQG_NSUB); sb++) {
      if (iqg_active[sb] != 0u) { max_scale = select(iqg_sc[sb], max_scale, fgt(max_scale, iqg_sc[sb])); }
    }
    let zero = !f_truthy(max_scale);
    iqg_zero = select(0u, 1u, zero);
    if (!zero) {
      let d = fdiv(max_scale, IQG_F_31);
      var stored = d;
      if (IQG_D_FUDGE != F_ONE) { stored = fmul(d, IQG_D_FUDGE); }
      put_u16(o, fp16_bits(stored));
      iqg_id = fdiv(F_ONE, d);
    }
  }
  workgroupBarrier();
}

// The sign code of values 8k .. 8k + 7 as stored: inverted (7 bits with parity, else 8) when its
// sub-block's scale came out negative; 0 in a skipped sub-block
fn iqg_signs_of(k: u32) -> u32 {
  let sb = (8u * k) / IQG_SUB;
  let s = iqg_signs[k];
  let mask = select(255u, 127u, IQG_PARITY);
  return select(0u, select(s, ~s & mask, iqg_flip[sb] != 0u), iqg_active[sb] != 0u);
}

// The 4-bit code of sub-block sb's scale (after iqg_finish, only when iqg_zero == 0)
fn iqg_code(sb: u32) -> u32 { return iqg_scale_code(iqg_id, iqg_sc[sb]); }

// Sub-blocks 2j and 2j + 1's codes in one byte, low nibble first
fn iqg_code_pair(j: u32) -> u32 { return iqg_code(2u * j) | (iqg_code(2u * j + 1u) << 4u); }
