// IQ1_S: super-blocks of 256 values, 50 bytes: d fp16 @0, qs[32] @2, qh[8] u16 @34. Group g of 8 values
// (sub-block ib = g/4, k = g mod 4) is the 11-bit grid point qs[g] | ((qh[ib] >> 3k) & 7) << 8; qh bits
// 12..14 hold the sub-block scale code, bit 15 the sign of delta. Reproduces quantize_row_iq1_s_impl
// (imatrix required) as src/quant/iq1_s.ts does; spec §2.8.1, §3.5. Lanes mode: the workgroup's lanes
// quantize one block together; per sub-block the 1122 split candidates ((i1, i2) over the sorted values, the
// +delta table before the -delta one) are spread over the lanes, 18 each, and searched with the exact
// first-wins rounds of lib/iq1-search.wgsl, whose groups search splits each off-grid group's neighbour list.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 50u;
const BLOCKS_PER_INVOCATION: u32 = 2u;
const LANES_PER_BLOCK: u32 = 64u;

const IQ1S_EPS: u32 = 0x2b8cbcccu;        // 1e-12f
const IQ1S_FUDGE: u32 = 0x3f900000u;      // 1.125f
// candidates: 561 pairs i1 <= i2 of 0..32, two tables each, c = 2·pair + (0: +delta, 1: -delta)
const IQ1S_NCAND: u32 = 1122u;
const IQ1_SEG: u32 = 18u;                 // 64 · 18 >= 1122
const_assert IQ1_LANES * IQ1_SEG >= IQ1S_NCAND;

var<workgroup> iq1s_sumx: array<u32, 33>;
var<workgroup> iq1s_sumw: array<u32, 33>;
// the split-sum terms that depend on i1 only (A*) or on i2 only (C*), per table
var<workgroup> iq1s_ap: array<u32, 33>;
var<workgroup> iq1s_awp: array<u32, 33>;
var<workgroup> iq1s_am: array<u32, 33>;
var<workgroup> iq1s_awm: array<u32, 33>;
var<workgroup> iq1s_cp: array<u32, 33>;
var<workgroup> iq1s_cwp: array<u32, 33>;
var<workgroup> iq1s_cm: array<u32, 33>;
var<workgroup> iq1s_cwm: array<u32, 33>;

// this lane's candidates (sumqx, sumq2), computed as the sequential search computes them
fn iq1s_candidates(lane: u32) {
  let c0 = lane * IQ1_SEG;
  let pair = iq1_pair(min(c0, IQ1S_NCAND - 1u) / 2u, 33u);
  var i1 = pair.x;
  var i2 = pair.y;
  var t = c0 % 2u;
  for (var j = 0u; j < runtime_u32(IQ1_SEG); j++) {
    var qx = 0u;
    var q2 = 0u;
    if (c0 + j < IQ1S_NCAND) {
      let b = fsub(iq1s_sumx[i2], iq1s_sumx[i1]);
      let bw = fsub(iq1s_sumw[i2], iq1s_sumw[i1]);
      let p = t == 0u;
      let q1 = iq1_table(p, 1u);
      qx = fadd(fadd(select(iq1s_am[i1], iq1s_ap[i1], p), fmul(b, q1)), select(iq1s_cm[i2], iq1s_cp[i2], p));
      q2 = fadd(fadd(select(iq1s_awm[i1], iq1s_awp[i1], p), fmul(fmul(bw, q1), q1)), select(iq1s_cwm[i2], iq1s_cwp[i2], p));
      t += 1u;
      if (t == 2u) {
        t = 0u;
        i2 += 1u;
        if (i2 == 33u) { i1 += 1u; i2 = i1; }
      }
    }
    iq1_wg_cqx[c0 + j] = qx;
    iq1_wg_cq2[c0 + j] = q2;
  }
}

fn quantize_block_lanes(x0: u32, row: u32, col: u32, o: u32, lane: u32) {
  if (lane == 0u) { iq1_wg_pub[0] = iq1_sigma2(x0); }
  let sigma2 = workgroupUniformLoad(&iq1_wg_pub[0]);
  workgroupBarrier();
  var scales: array<u32, 8>;
  var minus: array<bool, 8>;  // the sub-block uses the -delta table
  var qh: array<u32, 8>;
  var max_scale = 0u;
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    let xb = x0 + 32u * ib;
    scales[ib] = 0u;
    minus[ib] = false;
    qh[ib] = 0u;
    let amax = iq1_abs_max(xb, 32u);
    if (flt(amax, IQ1S_EPS)) {
      if (lane == 0u) { for (var k = 0u; k < runtime_u32(4u); k++) { put_byte(o + 2u + 4u * ib + k, 0u); } }
      continue;
    }
    // ggml computes the weights before that test; unused for such a sub-block, so computing them here
    // gives the same bytes and keeps tiny sub-blocks off the host path
    iq1_lanes_weights_sort(xb, col + 32u * ib, 32u, sigma2, lane);
    if (lane == 0u) {
      iq1s_sumx[0] = 0u;
      iq1s_sumw[0] = 0u;
      for (var j = 0u; j < runtime_u32(32u); j++) {
        let i = iq1_wg_order[j];
        iq1s_sumx[j + 1u] = fadd(iq1s_sumx[j], fmul(iq1_wg_w[i], src[xb + i]));
        iq1s_sumw[j + 1u] = fadd(iq1s_sumw[j], iq1_wg_w[i]);
      }
    }
    workgroupBarrier();
    if (lane < 33u) {
      let i = lane;
      let a = fsub(iq1s_sumx[i], iq1s_sumx[0]);
      let aw = fsub(iq1s_sumw[i], iq1s_sumw[0]);
      let c = fsub(iq1s_sumx[32], iq1s_sumx[i]);
      let cw = fsub(iq1s_sumw[32], iq1s_sumw[i]);
      iq1s_ap[i] = fmul(a, IQ1_XP[0]); iq1s_awp[i] = fmul(fmul(aw, IQ1_XP[0]), IQ1_XP[0]);
      iq1s_am[i] = fmul(a, IQ1_XM[0]); iq1s_awm[i] = fmul(fmul(aw, IQ1_XM[0]), IQ1_XM[0]);
      iq1s_cp[i] = fmul(c, IQ1_XP[2]); iq1s_cwp[i] = fmul(fmul(cw, IQ1_XP[2]), IQ1_XP[2]);
      iq1s_cm[i] = fmul(c, IQ1_XM[2]); iq1s_cwm[i] = fmul(fmul(cw, IQ1_XM[2]), IQ1_XM[2]);
    }
    workgroupBarrier();
    iq1s_candidates(lane);
    workgroupBarrier();
    let found = iq1_lanes_scan(IQ1S_NCAND, amax, lane);
    if (found.x == IQ1_NONE) {
      if (lane == 0u) { for (var k = 0u; k < runtime_u32(4u); k++) { put_byte(o + 2u + 4u * ib + k, 0u); } }
      continue;
    }
    // even candidates use the +delta table in all four groups
    let r = iq1_lanes_settle(xb, 4u, iq1_pair(found.x / 2u, 33u), found.y, select(0u, 15u, (found.x & 1u) == 0u), lane);
    let scale = r.x;
    var h = 0u;
    for (var k = 0u; k < runtime_u32(4u); k++) {
      let gi = iq1_wg_group[k] & 0xffffu;
      if (lane == 0u) { put_byte(o + 2u + 4u * ib + k, gi & 255u); }
      h |= (gi >> 8u) << (3u * k);
    }
    qh[ib] = h;
    scales[ib] = scale;
    minus[ib] = r.y == 0u;
    if (!fgt(max_scale, scale)) { max_scale = scale; }
  }

  if (lane != 0u) { return; }
  if (!f_truthy(max_scale)) {
    put_u16(o, 0u);
    for (var ib = 0u; ib < runtime_u32(8u); ib++) { put_u16(o + 34u + 2u * ib, qh[ib]); }
    return;
  }
  let d = fdiv(max_scale, IQ1_F_15);
  put_u16(o, fp16_bits(fmul(d, IQ1S_FUDGE)));
  let id = fdiv(F_ONE, d);
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    let l = iq1_scale_code(id, scales[ib]) | select(0u, 8u, minus[ib]);
    put_u16(o + 34u + 2u * ib, qh[ib] | (l << 12u));
  }
}
