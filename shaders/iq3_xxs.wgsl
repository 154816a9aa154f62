// IQ3_XXS: super-blocks of 256 values, 98 bytes: d fp16 @0, qs[64] @2 (an iq3xxs grid index per 4 values),
// then per 32 values a u32 @66 with four 7-bit parity sign codes and the 4-bit scale code in bits 28..31.
// Reproduces quantize_row_iq3_xxs_impl (with or without imatrix) as src/quant/iq3_xxs.ts does; spec §2.7.4.
// A lanes kernel (shaders/README.md): 64 lanes per block, the grid search in lib/iq-grid-search.wgsl.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 98u;
const BLOCKS_PER_INVOCATION: u32 = 2u;
const LANES_PER_BLOCK: u32 = 64u;

const IQG_DIM: u32 = 4u;
const IQG_BITS: u32 = 3u;
const IQG_SUB: u32 = 32u;
const IQG_KMAXQ: u32 = 8u;
const IQG_TRIALS: u32 = 15u;
const IQG_STEP: u32 = 0x3e4ccccdu;        // 0.2f
const IQG_ONGRID_INIT: bool = true;
const IQG_RECOMPUTE: u32 = IQG_OFF_GRID;
const IQG_PARITY: bool = true;
const IQG_SIGMA2_TWICE: bool = true;
const IQG_PLAIN_BIAS: bool = false;

const IQ3XXS_EPS: u32 = 0x322bcc77u;      // GROUP_MAX_EPS_IQ3_XXS = 1e-8f
const IQ3XXS_F_15: u32 = 0x41700000u;
const IQ3XXS_F_31: u32 = 0x41f80000u;
const IQ3XXS_FUDGE: u32 = 0x3f81999au;    // 1.0125f

var<workgroup> iq3xxs_sas: array<u32, 8>;   // sign codes of each sub-block
var<workgroup> iq3xxs_sc: array<u32, 8>;    // final scale of each sub-block (0 when skipped)
var<workgroup> iq3xxs_id: u32;              // 1 / d
var<workgroup> iq3xxs_zero: u32;            // 1: max scale 0, the block is all zero bytes

fn quantize_block_lanes(x0: u32, row: u32, col: u32, o: u32, lane: u32) {
  iqg_prepare(x0, col, lane);
  if (lane < 8u) {
    let m = iqg_max[lane];
    iqg_active[lane] = select(1u, 0u, flt(m, IQ3XXS_EPS));
    iqg_denom[lane] = m;
    if (iqg_active[lane] != 0u) { iqg_scale[lane] = fdiv(m, IQ3XXS_F_15); }
  }
  workgroupBarrier();
  iqg_search(lane);
  if (lane < 8u) {
    var sas = 0u;
    var sc = 0u;
    if (iqg_active[lane] != 0u) {
      let scale = iqg_scale[lane];
      let flip = flt(scale, 0u);
      sc = select(scale, fneg(scale), flip);
      for (var k = 0u; k < runtime_u32(4u); k++) {
        let s = iqg_signs[4u * lane + k];
        sas |= select(s, ~s & 127u, flip) << (7u * k);
      }
    }
    iq3xxs_sas[lane] = sas;
    iq3xxs_sc[lane] = sc;
  }
  workgroupBarrier();
  if (lane == 0u) {
    var max_scale = 0u;
    for (var ib = 0u; ib < runtime_u32(8u); ib++) {
      if (iqg_active[ib] != 0u) { max_scale = select(iq3xxs_sc[ib], max_scale, fgt(max_scale, iq3xxs_sc[ib])); }
    }
    let zero = !f_truthy(max_scale);
    iq3xxs_zero = select(0u, 1u, zero);
    if (!zero) {
      let d = fdiv(max_scale, IQ3XXS_F_31);
      put_u16(o, fp16_bits(fmul(d, IQ3XXS_FUDGE)));
      iq3xxs_id = fdiv(F_ONE, d);
    }
  }
  workgroupBarrier();
  if (iq3xxs_zero == 0u) {
    // group g = lane: its grid index (0 in a skipped sub-block)
    let g = lane;
    put_byte(o + 2u + g, select(0u, iqg_idx[g], iqg_active[g / 8u] != 0u));
    if (lane < 8u) {
      put_u32(o + 66u + 4u * lane, iq3xxs_sas[lane] | (iqg_scale_code(iq3xxs_id, iq3xxs_sc[lane]) << 28u));
    }
  }
}
