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

const IQ2XXS_F_3: u32 = 0x40400000u;
const IQ2XXS_F_31: u32 = 0x41f80000u;

var<workgroup> iq2xxs_grid: array<u32, 8>;  // per sub-block: its four grid indices (0 when skipped)
var<workgroup> iq2xxs_sas: array<u32, 8>;   // per sub-block: its four sign codes (0 when skipped)
var<workgroup> iq2xxs_sc: array<u32, 8>;    // final scale of each sub-block (0 when skipped)
var<workgroup> iq2xxs_id: u32;              // 1 / d
var<workgroup> iq2xxs_zero: u32;            // 1: max scale 0, the block is all zero bytes

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
  if (lane < 8u) {
    var grid = 0u;
    var sas = 0u;
    var sc = 0u;
    if (iqg_active[lane] != 0u) {
      let scale = iqg_scale[lane];
      let flip = flt(scale, 0u);
      sc = select(scale, fneg(scale), flip);
      for (var k = 0u; k < runtime_u32(4u); k++) {
        let s = iqg_signs[4u * lane + k];
        grid |= iqg_idx[4u * lane + k] << (8u * k);
        sas |= select(s, ~s & 127u, flip) << (7u * k);
      }
    }
    iq2xxs_grid[lane] = grid;
    iq2xxs_sas[lane] = sas;
    iq2xxs_sc[lane] = sc;
  }
  workgroupBarrier();
  if (lane == 0u) {
    var max_scale = 0u;
    for (var ib = 0u; ib < runtime_u32(8u); ib++) { max_scale = select(iq2xxs_sc[ib], max_scale, fgt(max_scale, iq2xxs_sc[ib])); }
    let zero = !f_truthy(max_scale);
    iq2xxs_zero = select(0u, 1u, zero);
    var d = 0u;
    if (!zero) {
      d = fdiv(max_scale, IQ2XXS_F_31);
      iq2xxs_id = fdiv(F_ONE, d);
    }
    put_u16(o, fp16_bits(d));
  }
  workgroupBarrier();
  if (lane < 8u) {
    var grid = 0u;
    var aux = 0u;
    if (iq2xxs_zero == 0u) {
      grid = iq2xxs_grid[lane];
      aux = iq2xxs_sas[lane] | (iqg_scale_code(iq2xxs_id, iq2xxs_sc[lane]) << 28u);
    }
    put_u32(o + 2u + 8u * lane, grid);
    put_u32(o + 6u + 8u * lane, aux);
  }
}
