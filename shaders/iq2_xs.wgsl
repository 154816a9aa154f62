// IQ2_XS: super-blocks of 256 values, 74 bytes: d fp16 @0, qs[32] u16 @2 (per 8 values a 9-bit iq2xs grid
// index | 7-bit parity sign code << 9), scales[8] @66 (a 4-bit code per 16 values, low nibble first).
// Reproduces quantize_row_iq2_xs_impl (imatrix required) as src/quant/iq2_xs.ts does; spec §2.7.1.
// A workgroup of 64 lanes per super-block (the grid search runs a lane per (sub-block, trial scale)).
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 74u;
const BLOCKS_PER_INVOCATION: u32 = 2u;
const LANES_PER_BLOCK: u32 = 64u;

const IQ_SUB_N: u32 = 16u;
const IQ_TRIALS: u32 = 9u;
const IQ_PARITY: bool = true;
const IQ_ALWAYS: bool = false;
const IQ2XS_EPS: u32 = 0x26901d7du; // GROUP_MAX_EPS = 1e-15f

fn quantize_block_lanes(x0: u32, row: u32, col: u32, o: u32, lane: u32) {
  if (lane == 0u) { wg_sigma2 = iq_sigma2(x0, false); }
  workgroupBarrier();
  let mx = iq_phase_prepare(x0, col, lane, 0u);
  if (lane < IQ_NSUB) {
    let live = !flt(mx, IQ2XS_EPS);
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
  // all scales zero: ggml leaves the whole block zeroed
  let zero = !f_truthy(max_scale);
  for (var g = 0u; g < runtime_u32(32u); g++) {
    let on = (wg_active[g / 2u] != 0u) & !zero;
    put_u16(o + 2u + 2u * g, select(0u, (wg_gi[g] & 0xffffu) | (wg_signs[g] << 9u), on));
  }
  if (zero) {
    put_u16(o, 0u);
    for (var j = 0u; j < runtime_u32(8u); j++) { put_byte(o + 66u + j, 0u); }
    return;
  }
  let d = fdiv(max_scale, 0x41f80000u);
  put_u16(o, fp16_bits(d));
  let id = fdiv(F_ONE, d);
  for (var j = 0u; j < runtime_u32(8u); j++) {
    put_byte(o + 66u + j, iq_scale_code(id, wg_scale[2u * j]) | (iq_scale_code(id, wg_scale[2u * j + 1u]) << 4u));
  }
}
