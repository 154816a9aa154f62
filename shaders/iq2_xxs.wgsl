// IQ2_XXS: super-blocks of 256 values, 66 bytes: d fp16 @0, then per 32 values a pair of u32: four 8-bit
// iq2xxs grid indices, and four 7-bit parity sign codes with the 4-bit scale code in bits 28..31.
// Reproduces quantize_row_iq2_xxs_impl (imatrix required) as src/quant/iq2_xxs.ts does; spec §2.7.3.
// A workgroup of 64 lanes per super-block (the grid search runs a lane per (sub-block, trial scale)).
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 66u;
const BLOCKS_PER_INVOCATION: u32 = 2u;
const LANES_PER_BLOCK: u32 = 64u;
const SEARCH_N: u32 = 32u; // make_qp_quants scratch (lib/search.wgsl), per lane

const IQ_SUB_N: u32 = 32u;
const IQ_TRIALS: u32 = 6u;
const IQ_PARITY: bool = true;
const IQ_ALWAYS: bool = true;

fn quantize_block_lanes(x0: u32, row: u32, col: u32, o: u32, lane: u32) {
  if (lane == 0u) { wg_sigma2 = iq_sigma2(x0, false); }
  workgroupBarrier();
  let mx = iq_phase_prepare(x0, col, lane, 0u);
  if (lane < IQ_NSUB) {
    // the first scale: make_qp_quants(32, 4) on the magnitudes; eff_max = 3·scale is the trials' divisor
    var live = !flt(mx, GROUP_MAX_EPS);
    var scale = 0u;
    var eff_max = 0u;
    if (live) {
      for (var i = 0u; i < runtime_u32(32u); i++) { s_x[i] = wg_xval[32u * lane + i]; s_w[i] = wg_w[32u * lane + i]; }
      scale = make_qp_quants(0u, 32u, 4);
      eff_max = fmul(scale, IQ_F_3);
      live = !fle(eff_max, 0u);
    }
    wg_active[lane] = select(0u, 1u, live);
    wg_denom[lane] = eff_max;
    wg_scale0[lane] = scale;
  }
  workgroupBarrier();
  iq_search_lanes(lane);
  if (lane != 0u) { return; }
  var max_scale = 0u;
  for (var s = 0u; s < runtime_u32(8u); s++) {
    let scale = wg_scale[s];
    if (!fgt(max_scale, scale)) { max_scale = scale; }
  }
  // all scales zero: ggml leaves the whole block zeroed
  if (!f_truthy(max_scale)) {
    put_u16(o, 0u);
    for (var j = 0u; j < runtime_u32(16u); j++) { put_u32(o + 2u + 4u * j, 0u); }
    return;
  }
  let d = fdiv(max_scale, 0x41f80000u);
  put_u16(o, fp16_bits(d));
  let id = fdiv(F_ONE, d);
  for (var s = 0u; s < runtime_u32(8u); s++) {
    var a = 0u;
    var b = 0u;
    if (wg_active[s] != 0u) {
      for (var k = 0u; k < runtime_u32(4u); k++) {
        a |= (wg_gi[4u * s + k] & 0xffu) << (8u * k);
        b |= wg_signs[4u * s + k] << (7u * k);
      }
    }
    put_u32(o + 2u + 8u * s, a);
    put_u32(o + 6u + 8u * s, b | (iq_scale_code(id, wg_scale[s]) << 28u));
  }
}
