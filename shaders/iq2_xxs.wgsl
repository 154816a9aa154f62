// IQ2_XXS: super-blocks of 256 values, 66 bytes: d fp16 @0, then per 32 values a pair of u32: four 8-bit
// iq2xxs grid indices, and four 7-bit parity sign codes with the 4-bit scale code in bits 28..31.
// Reproduces quantize_row_iq2_xxs_impl (imatrix required) as src/quant/iq2_xxs.ts does; spec §2.7.3.
// A lanes kernel (shaders/README.md): 64 lanes per block, the grid search in lib/iq-grid-search.wgsl; the
// first scale of each sub-block is make_qp_quants (lib/k-search.wgsl) on the lane's private scratch.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 66u;
const BLOCKS_PER_INVOCATION: u32 = 2u;
const LANES_PER_BLOCK: u32 = 64u;
const SEARCH_N: u32 = 32u;                // lib/search.wgsl scratch per lane, for make_qp_quants

const IQG_DIM: u32 = 8u;
const IQG_BITS: u32 = 2u;
const IQG_SUB: u32 = 32u;
const IQG_KMAXQ: u32 = 3u;
const IQG_TRIALS: u32 = 6u;
const IQG_STEP: u32 = 0x3dcccccdu;        // 0.1f
const IQG_ONGRID_INIT: bool = true;
const IQG_RECOMPUTE: u32 = IQG_ALWAYS;
const IQG_PARITY: bool = true;
const IQG_SIGMA2_TWICE: bool = false;
const IQG_PLAIN_BIAS: bool = false;
const IQG_D_FUDGE: u32 = 0x3f800000u;     // 1.0f: d stored as is

const IQ2XXS_F_3: u32 = 0x40400000u;

fn quantize_block_lanes(x0: u32, row: u32, col: u32, o: u32, lane: u32) {
  iqg_prepare(x0, col, lane);
  if (lane < 8u) {
    // the scale before any trial: make_qp_quants(32, 4) on the magnitudes; 3·scale divides the trials
    let m = iqg_max[lane];
    var live = !flt(m, GROUP_MAX_EPS);
    if (live) {
      for (var i = 0u; i < runtime_u32(32u); i++) {
        s_x[i] = iqg_xval[32u * lane + i];
        s_w[i] = iqg_w[32u * lane + i];
      }
      let scale = make_qp_quants(0u, 32u, 4);
      let eff_max = fmul(scale, IQ2XXS_F_3);
      live = !fle(eff_max, 0u); // ggml skips the sub-block when eff_max <= 0
      iqg_scale[lane] = scale;
      iqg_denom[lane] = eff_max;
    }
    iqg_active[lane] = select(0u, 1u, live);
  }
  workgroupBarrier();
  iqg_search(lane);
  iqg_finish(o, lane);
  if ((lane < 8u) & (iqg_zero == 0u)) {
    // sub-block lane: its four grid indices (0 when skipped), four sign codes and the scale code
    var grid = 0u;
    var aux = iqg_code(lane) << 28u;
    for (var k = 0u; k < runtime_u32(4u); k++) {
      grid |= select(0u, iqg_idx[4u * lane + k], iqg_active[lane] != 0u) << (8u * k);
      aux |= iqg_signs_of(4u * lane + k) << (7u * k);
    }
    put_u32(o + 2u + 8u * lane, grid);
    put_u32(o + 6u + 8u * lane, aux);
  }
}
