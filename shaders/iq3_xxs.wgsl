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
const IQG_D_FUDGE: u32 = 0x3f81999au;     // 1.0125f

const IQ3XXS_EPS: u32 = 0x322bcc77u;      // GROUP_MAX_EPS_IQ3_XXS = 1e-8f
const IQ3XXS_F_15: u32 = 0x41700000u;

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
  iqg_finish(o, lane);
  if (iqg_zero == 0u) {
    // group g = lane: its grid index (0 in a skipped sub-block); sub-block lane: sign codes and scale code
    let g = lane;
    put_byte(o + 2u + g, select(0u, iqg_idx[g], iqg_active[g / 8u] != 0u));
    if (lane < 8u) {
      var sas = 0u;
      for (var k = 0u; k < runtime_u32(4u); k++) { sas |= iqg_signs_of(4u * lane + k) << (7u * k); }
      put_u32(o + 66u + 4u * lane, sas | (iqg_code(lane) << 28u));
    }
  }
}
