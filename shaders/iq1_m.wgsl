// IQ1_M: super-blocks of 256 values, 56 bytes: qs[32] @0, qh[16] @32, scales[8] @48 read as four u16
// sc[0..3] whose top nibbles hold the fp16 bits of d. 16 sub-blocks of 16 values, each two groups of 8:
// group 2t+h is the grid point qs[2t+h] | ((qh[t] >> 4h) & 7) << 8, bit 3+4h of qh[t] the sign of its delta;
// the 3-bit scale code of t is bits 3(t mod 4).. of sc[t/4]. Reproduces quantize_row_iq1_m_impl (v0.5.0's
// prefix-sum search, imatrix optional) as src/quant/iq1_m.ts does; spec §2.8.2, §3.5. One invocation per
// block; lib/iq1-search.wgsl holds the sort, weights and grid searches.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 56u;
const BLOCKS_PER_INVOCATION: u32 = 1u;

const IQ1M_EPS: u32 = 0x33d6bf95u;    // 1e-7f
const IQ1M_FUDGE: u32 = 0x3f8e6666u;  // 1.1125f
// c?1 = x[0]² − x[1]², c?2 = x[1]² − x[2]² of the +delta (P) and −delta (M) tables
const IQ1M_CP1: u32 = 0x3f400000u;
const IQ1M_CP2: u32 = 0xbfa00000u;
const IQ1M_CM1: u32 = 0x3fa00000u;
const IQ1M_CM2: u32 = 0xbf400000u;

// prefix sums per half h of the sub-block (values 0..7 and 8..15) over the sorted order
var<private> iq1m_px0: array<u32, 17>;
var<private> iq1m_px1: array<u32, 17>;
var<private> iq1m_pw0: array<u32, 17>;
var<private> iq1m_pw1: array<u32, 17>;
// pw[h][i]·c?2, the q2 terms that depend on i2 only
var<private> iq1m_wp0: array<u32, 17>;
var<private> iq1m_wm0: array<u32, 17>;
var<private> iq1m_wp1: array<u32, 17>;
var<private> iq1m_wm1: array<u32, 17>;

// pattern k: group 0 uses the +delta table for k < 2, group 1 for even k (bit g of the result: group g)
fn iq1m_p_mask(k: u32) -> u32 { return select(0u, 1u, k < 2u) | select(0u, 2u, (k & 1u) == 0u); }

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  var sigma2 = 0u;
  if (USE_IMATRIX) { sigma2 = iq1_sigma2(x0); }
  var scales: array<u32, 16>;
  var shifts: array<u32, 16>;
  var qh: array<u32, 16>;
  var index: array<u32, 32>;
  var max_scale = 0u;
  for (var ib = 0u; ib < runtime_u32(16u); ib++) {
    let xb = x0 + 16u * ib;
    scales[ib] = 0u;
    shifts[ib] = 0u;
    qh[ib] = 0u;
    index[2u * ib] = 0u;
    index[2u * ib + 1u] = 0u;
    let amax = iq1_abs_max(xb, 16u);
    if (flt(amax, IQ1M_EPS)) { continue; }
    iq1_weights(xb, col + 16u * ib, 16u, sigma2);
    iq1_sort(xb, 16u);
    iq1m_px0[0] = 0u; iq1m_px1[0] = 0u;
    iq1m_pw0[0] = 0u; iq1m_pw1[0] = 0u;
    for (var j = 0u; j < runtime_u32(16u); j++) {
      let i = iq1_order[j];
      let lo = i < 8u;
      let wx = fmul(iq1_w[i], src[xb + i]);
      iq1m_px0[j + 1u] = select(iq1m_px0[j], fadd(iq1m_px0[j], wx), lo);
      iq1m_px1[j + 1u] = select(fadd(iq1m_px1[j], wx), iq1m_px1[j], lo);
      iq1m_pw0[j + 1u] = select(iq1m_pw0[j], fadd(iq1m_pw0[j], iq1_w[i]), lo);
      iq1m_pw1[j + 1u] = select(fadd(iq1m_pw1[j], iq1_w[i]), iq1m_pw1[j], lo);
    }
    let p2 = IQ1_XP[2];
    let m2 = IQ1_XM[2];
    let tx0 = iq1m_px0[16];
    let tx1 = iq1m_px1[16];
    let tw0 = iq1m_pw0[16];
    let tw1 = iq1m_pw1[16];
    let txp0 = fmul(tx0, p2); let txm0 = fmul(tx0, m2);
    let txp1 = fmul(tx1, p2); let txm1 = fmul(tx1, m2);
    let twp0 = fmul(fmul(tw0, p2), p2); let twm0 = fmul(fmul(tw0, m2), m2);
    let twp1 = fmul(fmul(tw1, p2), p2); let twm1 = fmul(fmul(tw1, m2), m2);
    for (var i = 0u; i < runtime_u32(17u); i++) {
      iq1m_wp0[i] = fmul(iq1m_pw0[i], IQ1M_CP2); iq1m_wm0[i] = fmul(iq1m_pw0[i], IQ1M_CM2);
      iq1m_wp1[i] = fmul(iq1m_pw1[i], IQ1M_CP2); iq1m_wm1[i] = fmul(iq1m_pw1[i], IQ1M_CM2);
    }
    // best starts at -FLT_MAX: any sumq2 > 0 beats it, so `found` stands in for that overflowing product
    var found = false;
    var best = 0u;
    var scale = amax;
    var besti1 = 0u;
    var besti2 = 0u;
    var best_k = 0u;
    for (var i1 = 0u; i1 < runtime_u32(17u); i1++) {
      let px0i1 = iq1m_px0[i1];
      let px1i1 = iq1m_px1[i1];
      let ap0 = fadd(twp0, fmul(iq1m_pw0[i1], IQ1M_CP1));
      let am0 = fadd(twm0, fmul(iq1m_pw0[i1], IQ1M_CM1));
      let ap1 = fadd(twp1, fmul(iq1m_pw1[i1], IQ1M_CP1));
      let am1 = fadd(twm1, fmul(iq1m_pw1[i1], IQ1M_CM1));
      for (var i2 = i1; i2 < runtime_u32(17u); i2++) {
        let sx0 = fadd(px0i1, iq1m_px0[i2]);
        let sx1 = fadd(px1i1, iq1m_px1[i2]);
        let qxp0 = fsub(txp0, sx0); let qxm0 = fsub(txm0, sx0);
        let qxp1 = fsub(txp1, sx1); let qxm1 = fsub(txm1, sx1);
        let q2p0 = fadd(ap0, iq1m_wp0[i2]);
        let q2m0 = fadd(am0, iq1m_wm0[i2]);
        let q2p1 = fadd(ap1, iq1m_wp1[i2]);
        let q2m1 = fadd(am1, iq1m_wm1[i2]);
        // the four table patterns k = 0 (p,p), 1 (p,m), 2 (m,p), 3 (m,m), in this order
        for (var k = 0u; k < runtime_u32(4u); k++) {
          let g0p = k < 2u;
          let g1p = (k & 1u) == 0u;
          let sumqx = fadd(select(qxm0, qxp0, g0p), select(qxm1, qxp1, g1p));
          let sumq2 = fadd(select(q2m0, q2p0, g0p), select(q2m1, q2p1, g1p));
          if (fgt(sumq2, 0u) & (!found | fgt(fmul(sumqx, sumqx), fmul(best, sumq2)))) {
            scale = fdiv(sumqx, sumq2);
            best = fmul(scale, sumqx);
            found = true;
            besti1 = i1;
            besti2 = i2;
            best_k = k;
          }
        }
      }
    }
    if (!found) { continue; }
    for (var i = 0u; i < runtime_u32(16u); i++) {
      let r = iq1_rank[i];
      iq1_L[i] = select(select(2u, 1u, r < besti2), 0u, r < besti1);
    }
    if (flt(scale, 0u)) {
      for (var i = 0u; i < runtime_u32(16u); i++) { iq1_L[i] = 2u - iq1_L[i]; }
      scale = fneg(scale);
      best_k = 3u - best_k;
    }
    let pm = iq1m_p_mask(best_k);
    let g0 = iq1_group(xb, 0u, scale, (pm & 1u) != 0u);
    let g1 = iq1_group(xb, 8u, scale, (pm & 2u) != 0u);
    if (((g0 | g1) >> 16u) != 0u) { scale = iq1_refit(xb, 16u, pm, scale); }
    if (!fge(scale, 0u)) { g_inexact = true; } // NaN scale: the host throws as llama.cpp aborts
    index[2u * ib] = g0 & 0xffffu;
    index[2u * ib + 1u] = g1 & 0xffffu;
    qh[ib] = (index[2u * ib] >> 8u) | ((index[2u * ib + 1u] >> 8u) << 4u);
    scales[ib] = scale;
    shifts[ib] = best_k;
    if (!fgt(max_scale, scale)) { max_scale = scale; }
  }

  for (var j = 0u; j < runtime_u32(32u); j++) { put_byte(o + j, index[j] & 255u); }
  if (!f_truthy(max_scale)) {
    for (var ib = 0u; ib < runtime_u32(16u); ib++) { put_byte(o + 32u + ib, qh[ib]); }
    put_u32(o + 48u, 0u);
    put_u32(o + 52u, 0u);
    return;
  }
  var sc: array<u32, 4>;
  var d = fdiv(max_scale, IQ1_F_15);
  let id = fdiv(F_ONE, d);
  var sumqx = 0u;
  var sumq2 = 0u;
  for (var ib = 0u; ib < runtime_u32(16u); ib++) {
    let l = u32(clamp(nearest_int(fmul(IQ1_F_HALF, fsub(fmul(id, scales[ib]), F_ONE))), 0, 7));
    sc[ib >> 2u] |= l << (3u * (ib & 3u));
    // MASKS: the delta sign of group 0 at bit 3, of group 1 at bit 7 (set where the group uses −delta)
    let pm = iq1m_p_mask(shifts[ib]);
    put_byte(o + 32u + ib, qh[ib] | select(0x08u, 0u, (pm & 1u) != 0u) | select(0x80u, 0u, (pm & 2u) != 0u));
    let xb = x0 + 16u * ib;
    iq1_weights(xb, col + 16u * ib, 16u, sigma2);
    let m = f_from_i32(i32(2u * l + 1u));
    for (var j = 0u; j < runtime_u32(16u); j++) {
      let key = type_tables[index[2u * ib + j / 8u]];
      let q = fmul(iq1_table(((pm >> (j / 8u)) & 1u) != 0u, (key >> (2u * (j & 7u))) & 3u), m);
      let wq = fmul(iq1_w[j], q);
      sumqx = fadd(sumqx, fmul(wq, src[xb + j]));
      sumq2 = fadd(sumq2, fmul(wq, q));
    }
  }
  if (fgt(sumq2, 0u)) { d = fdiv(sumqx, sumq2); }
  let s = fp16_bits(fmul(d, IQ1M_FUDGE));
  sc[0] |= (s & 0x000fu) << 12u;
  sc[1] |= (s & 0x00f0u) << 8u;
  sc[2] |= (s & 0x0f00u) << 4u;
  sc[3] |= s & 0xf000u;
  for (var i = 0u; i < runtime_u32(4u); i++) { put_u16(o + 48u + 2u * i, sc[i]); }
}
