// IQ1_M: super-blocks of 256 values, 56 bytes: qs[32] @0, qh[16] @32, scales[8] @48 read as four u16
// sc[0..3] whose top nibbles hold the fp16 bits of d. 16 sub-blocks of 16 values, each two groups of 8:
// group 2t+h is the grid point qs[2t+h] | ((qh[t] >> 4h) & 7) << 8, bit 3+4h of qh[t] the sign of its delta;
// the 3-bit scale code of t is bits 3(t mod 4).. of sc[t/4]. Reproduces quantize_row_iq1_m_impl (v0.5.0's
// prefix-sum search, imatrix optional) as src/quant/iq1_m.ts does; spec §2.8.2, §3.5. Lanes mode: the
// workgroup's lanes quantize one block together; per sub-block the 612 split candidates ((i1, i2) over the
// sorted values, four table patterns each) are spread over the lanes, 10 each, and searched with the exact
// first-wins rounds of lib/iq1-search.wgsl; 32 lanes split each off-grid group's neighbour list.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 56u;
const BLOCKS_PER_INVOCATION: u32 = 1u;
const LANES_PER_BLOCK: u32 = 64u;

const IQ1M_EPS: u32 = 0x33d6bf95u;    // 1e-7f
const IQ1M_FUDGE: u32 = 0x3f8e6666u;  // 1.1125f
// c?1 = x[0]² − x[1]², c?2 = x[1]² − x[2]² of the +delta (P) and −delta (M) tables
const IQ1M_CP1: u32 = 0x3f400000u;
const IQ1M_CP2: u32 = 0xbfa00000u;
const IQ1M_CM1: u32 = 0x3fa00000u;
const IQ1M_CM2: u32 = 0xbf400000u;
// candidates: 153 pairs i1 <= i2 of 0..16, four patterns each, c = 4·pair + k
const IQ1M_NCAND: u32 = 612u;
const IQ1_SEG: u32 = 10u;             // 64 · 10 >= 612
const_assert IQ1_LANES * IQ1_SEG >= IQ1M_NCAND;

// prefix sums per half h of the sub-block (values 0..7 and 8..15) over the sorted order
var<workgroup> iq1m_px0: array<u32, 17>;
var<workgroup> iq1m_px1: array<u32, 17>;
var<workgroup> iq1m_pw0: array<u32, 17>;
var<workgroup> iq1m_pw1: array<u32, 17>;
// pw[h][i]·c?2, the q2 terms that depend on i2 only
var<workgroup> iq1m_wp0: array<u32, 17>;
var<workgroup> iq1m_wm0: array<u32, 17>;
var<workgroup> iq1m_wp1: array<u32, 17>;
var<workgroup> iq1m_wm1: array<u32, 17>;
// the final refit of d: w·q·x and w·q·q of every value
var<workgroup> iq1m_fx: array<u32, 256>;
var<workgroup> iq1m_f2: array<u32, 256>;

// pattern k: group 0 uses the +delta table for k < 2, group 1 for even k (bit g of the result: group g)
fn iq1m_p_mask(k: u32) -> u32 { return select(0u, 1u, k < 2u) | select(0u, 2u, (k & 1u) == 0u); }

// this lane's candidates (sumqx, sumq2), computed as the sequential search computes them (the totals
// t?? are the sub-block's, uniform)
fn iq1m_candidates(lane: u32, txp0: u32, txm0: u32, txp1: u32, txm1: u32, twp0: u32, twm0: u32, twp1: u32, twm1: u32) {
  let c0 = lane * IQ1_SEG;
  let pair = iq1_pair(min(c0, IQ1M_NCAND - 1u) / 4u, 17u);
  var i1 = pair.x;
  var i2 = pair.y;
  var k = c0 % 4u;
  for (var j = 0u; j < runtime_u32(IQ1_SEG); j++) {
    var qx = 0u;
    var q2 = 0u;
    if (c0 + j < IQ1M_NCAND) {
      let g0p = k < 2u;
      let g1p = (k & 1u) == 0u;
      // group 0's and group 1's parts with the table the pattern picks
      let a0 = select(fadd(twm0, fmul(iq1m_pw0[i1], IQ1M_CM1)), fadd(twp0, fmul(iq1m_pw0[i1], IQ1M_CP1)), g0p);
      let a1 = select(fadd(twm1, fmul(iq1m_pw1[i1], IQ1M_CM1)), fadd(twp1, fmul(iq1m_pw1[i1], IQ1M_CP1)), g1p);
      let sx0 = fadd(iq1m_px0[i1], iq1m_px0[i2]);
      let sx1 = fadd(iq1m_px1[i1], iq1m_px1[i2]);
      let qx0 = fsub(select(txm0, txp0, g0p), sx0);
      let qx1 = fsub(select(txm1, txp1, g1p), sx1);
      let q20 = fadd(a0, select(iq1m_wm0[i2], iq1m_wp0[i2], g0p));
      let q21 = fadd(a1, select(iq1m_wm1[i2], iq1m_wp1[i2], g1p));
      qx = fadd(qx0, qx1);
      q2 = fadd(q20, q21);
      k += 1u;
      if (k == 4u) {
        k = 0u;
        i2 += 1u;
        if (i2 == 17u) { i1 += 1u; i2 = i1; }
      }
    }
    iq1_wg_cqx[c0 + j] = qx;
    iq1_wg_cq2[c0 + j] = q2;
  }
}

fn quantize_block_lanes(x0: u32, row: u32, col: u32, o: u32, lane: u32) {
  var sigma2 = 0u;
  if (USE_IMATRIX) {
    if (lane == 0u) { iq1_wg_pub[0] = iq1_sigma2(x0); }
    sigma2 = workgroupUniformLoad(&iq1_wg_pub[0]);
    workgroupBarrier();
  }
  var scales: array<u32, 16>;
  var masks: array<u32, 16>;  // the groups' tables (iq1m_p_mask)
  var qh: array<u32, 16>;
  var index: array<u32, 32>;
  var max_scale = 0u;
  for (var ib = 0u; ib < runtime_u32(16u); ib++) {
    let xb = x0 + 16u * ib;
    scales[ib] = 0u;
    masks[ib] = 3u;
    qh[ib] = 0u;
    index[2u * ib] = 0u;
    index[2u * ib + 1u] = 0u;
    let amax = iq1_abs_max(xb, 16u);
    if (flt(amax, IQ1M_EPS)) { continue; }
    iq1_lanes_weights_sort(xb, col + 16u * ib, 16u, sigma2, lane);
    if (lane == 0u) {
      iq1m_px0[0] = 0u; iq1m_px1[0] = 0u;
      iq1m_pw0[0] = 0u; iq1m_pw1[0] = 0u;
      for (var j = 0u; j < runtime_u32(16u); j++) {
        let i = iq1_wg_order[j];
        let lo = i < 8u;
        let wx = fmul(iq1_wg_w[i], src[xb + i]);
        iq1m_px0[j + 1u] = select(iq1m_px0[j], fadd(iq1m_px0[j], wx), lo);
        iq1m_px1[j + 1u] = select(fadd(iq1m_px1[j], wx), iq1m_px1[j], lo);
        iq1m_pw0[j + 1u] = select(iq1m_pw0[j], fadd(iq1m_pw0[j], iq1_wg_w[i]), lo);
        iq1m_pw1[j + 1u] = select(fadd(iq1m_pw1[j], iq1_wg_w[i]), iq1m_pw1[j], lo);
      }
    }
    workgroupBarrier();
    let p2 = IQ1_XP[2];
    let m2 = IQ1_XM[2];
    // the sub-block totals: every lane reads and computes them
    let tx0 = iq1m_px0[16];
    let tx1 = iq1m_px1[16];
    let tw0 = iq1m_pw0[16];
    let tw1 = iq1m_pw1[16];
    let txp0 = fmul(tx0, p2); let txm0 = fmul(tx0, m2);
    let txp1 = fmul(tx1, p2); let txm1 = fmul(tx1, m2);
    let twp0 = fmul(fmul(tw0, p2), p2); let twm0 = fmul(fmul(tw0, m2), m2);
    let twp1 = fmul(fmul(tw1, p2), p2); let twm1 = fmul(fmul(tw1, m2), m2);
    if (lane < 17u) {
      let i = lane;
      iq1m_wp0[i] = fmul(iq1m_pw0[i], IQ1M_CP2); iq1m_wm0[i] = fmul(iq1m_pw0[i], IQ1M_CM2);
      iq1m_wp1[i] = fmul(iq1m_pw1[i], IQ1M_CP2); iq1m_wm1[i] = fmul(iq1m_pw1[i], IQ1M_CM2);
    }
    workgroupBarrier();
    iq1m_candidates(lane, txp0, txm0, txp1, txm1, twp0, twm0, twp1, twm1);
    workgroupBarrier();
    let found = iq1_lanes_scan(IQ1M_NCAND, amax, lane);
    if (found.x == IQ1_NONE) { continue; }
    let r = iq1_lanes_settle(xb, 2u, iq1_pair(found.x / 4u, 17u), found.y, iq1m_p_mask(found.x % 4u), lane);
    let scale = r.x;
    index[2u * ib] = iq1_wg_group[0] & 0xffffu;
    index[2u * ib + 1u] = iq1_wg_group[1] & 0xffffu;
    qh[ib] = (index[2u * ib] >> 8u) | ((index[2u * ib + 1u] >> 8u) << 4u);
    scales[ib] = scale;
    masks[ib] = r.y;
    if (!fgt(max_scale, scale)) { max_scale = scale; }
  }

  if (lane == 0u) { for (var j = 0u; j < runtime_u32(32u); j++) { put_byte(o + j, index[j] & 255u); } }
  if (!f_truthy(max_scale)) {
    if (lane == 0u) {
      for (var ib = 0u; ib < runtime_u32(16u); ib++) { put_byte(o + 32u + ib, qh[ib]); }
      put_u32(o + 48u, 0u);
      put_u32(o + 52u, 0u);
    }
    return;
  }
  var sc: array<u32, 4>;
  var d = fdiv(max_scale, IQ1_F_15);
  let id = fdiv(F_ONE, d);
  // every value's w·q·x and w·q·q, four per lane (the weights as the sub-block search computed them, for
  // every sub-block), then the two sums in index order in one lane
  for (var m = 0u; m < runtime_u32(4u); m++) {
    let j = lane + IQ1_LANES * m;
    let ib = j / 16u;
    let l = iq1_scale_code(id, scales[ib]);
    let pm = masks[ib];
    let xj = src[x0 + j];
    let x2 = fmul(xj, xj);
    var w = x2;
    if (USE_IMATRIX) { w = fmul(imatrix[col + j], fsqrt(fadd(sigma2, x2))); }
    let h = (j / 8u) & 1u;
    let key = type_tables[index[2u * ib + h]];
    let q = fmul(iq1_table(((pm >> h) & 1u) != 0u, (key >> (2u * (j & 7u))) & 3u), f_from_i32(i32(2u * l + 1u)));
    let wq = fmul(w, q);
    iq1m_fx[j] = fmul(wq, xj);
    iq1m_f2[j] = fmul(wq, q);
  }
  workgroupBarrier();
  if (lane != 0u) { return; }
  var sumqx = 0u;
  var sumq2 = 0u;
  for (var j = 0u; j < runtime_u32(256u); j++) {
    sumqx = fadd(sumqx, iq1m_fx[j]);
    sumq2 = fadd(sumq2, iq1m_f2[j]);
  }
  for (var ib = 0u; ib < runtime_u32(16u); ib++) {
    sc[ib >> 2u] |= iq1_scale_code(id, scales[ib]) << (3u * (ib & 3u));
    // MASKS: the delta sign of group 0 at bit 3, of group 1 at bit 7 (set where the group uses −delta)
    let pm = masks[ib];
    put_byte(o + 32u + ib, qh[ib] | select(0x08u, 0u, (pm & 1u) != 0u) | select(0x80u, 0u, (pm & 2u) != 0u));
  }
  if (fgt(sumq2, 0u)) { d = fdiv(sumqx, sumq2); }
  let s = fp16_bits(fmul(d, IQ1M_FUDGE));
  sc[0] |= (s & 0x000fu) << 12u;
  sc[1] |= (s & 0x00f0u) << 8u;
  sc[2] |= (s & 0x0f00u) << 4u;
  sc[3] |= s & 0xf000u;
  for (var i = 0u; i < runtime_u32(4u); i++) { put_u16(o + 48u + 2u * i, sc[i]); }
}
