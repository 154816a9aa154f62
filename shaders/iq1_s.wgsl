// IQ1_S: super-blocks of 256 values, 50 bytes: d fp16 @0, qs[32] @2, qh[8] u16 @34. Group g of 8 values
// (sub-block ib = g/4, k = g mod 4) is the 11-bit grid point qs[g] | ((qh[ib] >> 3k) & 7) << 8; qh bits
// 12..14 hold the sub-block scale code, bit 15 the sign of delta. Reproduces quantize_row_iq1_s_impl
// (imatrix required) as src/quant/iq1_s.ts does; spec §2.8.1, §3.5. One invocation per block (the split
// search runs in one invocation); lib/iq1-search.wgsl holds the sort, weights and grid searches.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 50u;
const BLOCKS_PER_INVOCATION: u32 = 2u;

const IQ1S_EPS: u32 = 0x2b8cbcccu;        // 1e-12f
const IQ1S_FUDGE: u32 = 0x3f900000u;      // 1.125f

var<private> iq1s_sumx: array<u32, 33>;
var<private> iq1s_sumw: array<u32, 33>;
// the split-sum terms that depend on i1 only (A*) or on i2 only (C*), per table
var<private> iq1s_ap: array<u32, 33>;
var<private> iq1s_awp: array<u32, 33>;
var<private> iq1s_am: array<u32, 33>;
var<private> iq1s_awm: array<u32, 33>;
var<private> iq1s_cp: array<u32, 33>;
var<private> iq1s_cwp: array<u32, 33>;
var<private> iq1s_cm: array<u32, 33>;
var<private> iq1s_cwm: array<u32, 33>;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  let sigma2 = iq1_sigma2(x0);
  var scales: array<u32, 8>;
  var shifts: array<i32, 8>;
  var qh: array<u32, 8>;
  var max_scale = 0u;
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    let xb = x0 + 32u * ib;
    scales[ib] = 0u;
    shifts[ib] = 1;
    qh[ib] = 0u;
    let amax = iq1_abs_max(xb, 32u);
    if (flt(amax, IQ1S_EPS)) {
      for (var k = 0u; k < runtime_u32(4u); k++) { put_byte(o + 2u + 4u * ib + k, 0u); }
      continue;
    }
    // ggml computes the weights before that test; unused for such a sub-block, so computing them here
    // gives the same bytes and keeps tiny sub-blocks off the host path
    iq1_weights(xb, col + 32u * ib, 32u, sigma2);
    iq1_sort(xb, 32u);
    iq1s_sumx[0] = 0u;
    iq1s_sumw[0] = 0u;
    for (var j = 0u; j < runtime_u32(32u); j++) {
      let i = iq1_order[j];
      iq1s_sumx[j + 1u] = fadd(iq1s_sumx[j], fmul(iq1_w[i], src[xb + i]));
      iq1s_sumw[j + 1u] = fadd(iq1s_sumw[j], iq1_w[i]);
    }
    let sx_n = iq1s_sumx[32];
    let sw_n = iq1s_sumw[32];
    for (var i = 0u; i < runtime_u32(33u); i++) {
      let a = fsub(iq1s_sumx[i], iq1s_sumx[0]);
      let aw = fsub(iq1s_sumw[i], iq1s_sumw[0]);
      let c = fsub(sx_n, iq1s_sumx[i]);
      let cw = fsub(sw_n, iq1s_sumw[i]);
      iq1s_ap[i] = fmul(a, IQ1_XP[0]); iq1s_awp[i] = fmul(fmul(aw, IQ1_XP[0]), IQ1_XP[0]);
      iq1s_am[i] = fmul(a, IQ1_XM[0]); iq1s_awm[i] = fmul(fmul(aw, IQ1_XM[0]), IQ1_XM[0]);
      iq1s_cp[i] = fmul(c, IQ1_XP[2]); iq1s_cwp[i] = fmul(fmul(cw, IQ1_XP[2]), IQ1_XP[2]);
      iq1s_cm[i] = fmul(c, IQ1_XM[2]); iq1s_cwm[i] = fmul(fmul(cw, IQ1_XM[2]), IQ1_XM[2]);
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
      let s1 = iq1s_sumx[i1];
      let w1 = iq1s_sumw[i1];
      for (var i2 = i1; i2 < runtime_u32(33u); i2++) {
        let b = fsub(iq1s_sumx[i2], s1);
        let bw = fsub(iq1s_sumw[i2], w1);
        // the +delta table first, then the -delta one
        for (var t = 0u; t < runtime_u32(2u); t++) {
          let p = t == 0u;
          let q1 = iq1_table(p, 1u);
          let sumqx = fadd(fadd(select(iq1s_am[i1], iq1s_ap[i1], p), fmul(b, q1)), select(iq1s_cm[i2], iq1s_cp[i2], p));
          let sumq2 = fadd(fadd(select(iq1s_awm[i1], iq1s_awp[i1], p), fmul(fmul(bw, q1), q1)), select(iq1s_cwm[i2], iq1s_cwp[i2], p));
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
    var off_grid = 0u;
    var h = 0u;
    for (var k = 0u; k < runtime_u32(4u); k++) {
      let g = iq1_group(xb, 8u * k, scale, shift == 1);
      off_grid |= g >> 16u;
      let gi = g & 0xffffu;
      put_byte(o + 2u + 4u * ib + k, gi & 255u);
      h |= (gi >> 8u) << (3u * k);
    }
    if (off_grid != 0u) { scale = iq1_refit(xb, 32u, select(0u, 15u, shift == 1), scale); }
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
  put_u16(o, fp16_bits(fmul(d, IQ1S_FUDGE)));
  let id = fdiv(F_ONE, d);
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    var l = u32(clamp(nearest_int(fmul(IQ1_F_HALF, fsub(fmul(id, scales[ib]), F_ONE))), 0, 7));
    l |= select(0u, 8u, shifts[ib] == -1);
    put_u16(o + 34u + 2u * ib, qh[ib] | (l << 12u));
  }
}
