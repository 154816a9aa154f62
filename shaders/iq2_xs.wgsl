// IQ2_XS: super-blocks of 256 values, 74 bytes: d fp16 @0, qs[32] u16 @2 (per 8 values a 9-bit iq2xs grid
// index | 7-bit parity sign code << 9), scales[8] @66 (a 4-bit code per 16 values, low nibble first).
// Reproduces quantize_row_iq2_xs_impl (imatrix required) as src/quant/iq2_xs.ts does; spec §2.7.1.
// A lanes kernel (shaders/README.md): 64 lanes per block, the grid search in lib/iq-grid-search.wgsl.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 74u;
const BLOCKS_PER_INVOCATION: u32 = 2u;
const LANES_PER_BLOCK: u32 = 64u;

const IQG_DIM: u32 = 8u;
const IQG_BITS: u32 = 2u;
const IQG_SUB: u32 = 16u;
const IQG_KMAXQ: u32 = 3u;
const IQG_TRIALS: u32 = 9u;
const IQG_STEP: u32 = 0x3dcccccdu;        // 0.1f
const IQG_ONGRID_INIT: bool = true;
const IQG_RECOMPUTE: u32 = IQG_OFF_GRID;
const IQG_PARITY: bool = true;
const IQG_SIGMA2_TWICE: bool = false;
const IQG_PLAIN_BIAS: bool = false;

const IQ2XS_EPS: u32 = 0x26901d7du;       // GROUP_MAX_EPS = 1e-15f
const IQ2XS_F_5: u32 = 0x40a00000u;
const IQ2XS_F_31: u32 = 0x41f80000u;

var<workgroup> iq2xs_code: array<u32, 32>;  // per group: grid index | sign code << 9 (0 when skipped)
var<workgroup> iq2xs_sc: array<u32, 16>;    // final scale of each sub-block (0 when skipped)
var<workgroup> iq2xs_id: u32;               // 1 / d
var<workgroup> iq2xs_zero: u32;             // 1: max scale 0, the block is all zero bytes

fn quantize_block_lanes(x0: u32, row: u32, col: u32, o: u32, lane: u32) {
  iqg_prepare(x0, col, lane);
  if (lane < 16u) {
    let m = iqg_max[lane];
    iqg_active[lane] = select(1u, 0u, flt(m, IQ2XS_EPS));
    iqg_denom[lane] = m;
    if (iqg_active[lane] != 0u) { iqg_scale[lane] = fdiv(m, IQ2XS_F_5); }
  }
  workgroupBarrier();
  iqg_search(lane);
  if (lane < 32u) {
    // group g = lane; a negative scale flips its sub-block's scale and sign codes
    let sb = lane / 2u;
    var code = 0u;
    var sc = 0u;
    if (iqg_active[sb] != 0u) {
      let scale = iqg_scale[sb];
      let flip = flt(scale, 0u);
      sc = select(scale, fneg(scale), flip);
      let s = iqg_signs[lane];
      code = iqg_idx[lane] | (select(s, ~s & 127u, flip) << 9u);
    }
    iq2xs_code[lane] = code;
    if (lane % 2u == 0u) { iq2xs_sc[sb] = sc; }
  }
  workgroupBarrier();
  if (lane == 0u) {
    var max_scale = 0u;
    for (var ib = 0u; ib < runtime_u32(16u); ib++) { max_scale = select(iq2xs_sc[ib], max_scale, fgt(max_scale, iq2xs_sc[ib])); }
    let zero = !f_truthy(max_scale);
    iq2xs_zero = select(0u, 1u, zero);
    var d = 0u;
    if (!zero) {
      d = fdiv(max_scale, IQ2XS_F_31);
      iq2xs_id = fdiv(F_ONE, d);
    }
    put_u16(o, fp16_bits(d));
  }
  workgroupBarrier();
  let zero = iq2xs_zero != 0u;
  if (lane < 32u) { put_u16(o + 2u + 2u * lane, select(iq2xs_code[lane], 0u, zero)); }
  if (lane < 8u) {
    var both = 0u;
    if (!zero) { both = iqg_scale_code(iq2xs_id, iq2xs_sc[2u * lane]) | (iqg_scale_code(iq2xs_id, iq2xs_sc[2u * lane + 1u]) << 4u); }
    put_byte(o + 66u + lane, both);
  }
}
