// IQ2_S: super-blocks of 256 values, 82 bytes: d fp16 @0, qs[64] @2 (per 8 values the low 8 bits of a
// 10-bit iq2s grid index in qs[g], the 8 sign bits in qs[32 + g]), qh[8] @66 (index bits 8..9 of group g at
// bits 2·(g mod 4) of qh[g/4]), scales[8] @74 (a 4-bit code per 16 values).
// Reproduces quantize_row_iq2_s_impl (with or without imatrix) as src/quant/iq2_s.ts does; spec §2.7.2.
// A workgroup of 64 lanes per super-block (the grid search runs a lane per (sub-block, trial scale)).
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 82u;
const BLOCKS_PER_INVOCATION: u32 = 2u;
const LANES_PER_BLOCK: u32 = 64u;

const IQ_SUB_N: u32 = 16u;
const IQ_TRIALS: u32 = 9u;
const IQ_PARITY: bool = false;
const IQ_ALWAYS: bool = false;
const IQ2S_EPS: u32 = 0x322bcc77u;   // 1e-8f
const IQ2S_FUDGE: u32 = 0x3f7ccccdu; // 0.9875f
const IQ2S_F_QUARTER: u32 = 0x3e800000u;

fn quantize_block_lanes(x0: u32, row: u32, col: u32, o: u32, lane: u32) {
  if (lane == 0u) { wg_sigma2 = iq_sigma2(x0, true); }
  workgroupBarrier();
  let mx = iq_phase_prepare(x0, col, lane, fmul(IQ2S_F_QUARTER, wg_sigma2));
  if (lane < IQ_NSUB) {
    let live = !flt(mx, IQ2S_EPS);
    wg_active[lane] = select(0u, 1u, live);
    wg_denom[lane] = mx;
    wg_scale0[lane] = 0u;
    if (live) { wg_scale0[lane] = fdiv(mx, IQ_F_5); }
  }
  workgroupBarrier();
  iq_search_lanes(lane);
  if (lane != 0u) { return; }
  var max_scale = 0u;
  for (var s = 0u; s < runtime_u32(16u); s++) {
    let scale = wg_scale[s];
    if (!fgt(max_scale, scale)) { max_scale = scale; }
  }
  // ggml stores indices and signs as it goes: they stay even when every scale is zero
  for (var g = 0u; g < runtime_u32(32u); g++) {
    let on = wg_active[g / 2u] != 0u;
    put_byte(o + 2u + g, select(0u, wg_gi[g] & 255u, on));
    put_byte(o + 34u + g, select(0u, wg_signs[g], on));
  }
  for (var j = 0u; j < runtime_u32(8u); j++) {
    var h = 0u;
    for (var k = 0u; k < runtime_u32(4u); k++) {
      let g = 4u * j + k;
      h |= select(0u, ((wg_gi[g] & 0xffffu) >> 8u) << (2u * k), wg_active[g / 2u] != 0u);
    }
    put_byte(o + 66u + j, h);
  }
  if (!f_truthy(max_scale)) {
    put_u16(o, 0u);
    for (var j = 0u; j < runtime_u32(8u); j++) { put_byte(o + 74u + j, 0u); }
    return;
  }
  let d = fdiv(max_scale, 0x41f80000u);
  put_u16(o, fp16_bits(fmul(d, IQ2S_FUDGE)));
  let id = fdiv(F_ONE, d);
  for (var j = 0u; j < runtime_u32(8u); j++) {
    put_byte(o + 74u + j, iq_scale_code(id, wg_scale[2u * j]) | (iq_scale_code(id, wg_scale[2u * j + 1u]) << 4u));
  }
}
