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
const IQG_D_FUDGE: u32 = 0x3f800000u;     // 1.0f: d stored as is

const IQ2XS_EPS: u32 = 0x26901d7du;       // GROUP_MAX_EPS = 1e-15f
const IQ2XS_F_5: u32 = 0x40a00000u;

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
  iqg_finish(o, lane);
  if (iqg_zero == 0u) {
    // group g = lane: grid index | sign code << 9 (0 in a skipped sub-block); the scale codes by pairs
    if (lane < 32u) { put_u16(o + 2u + 2u * lane, select(0u, iqg_idx[lane], iqg_active[lane / 2u] != 0u) | (iqg_signs_of(lane) << 9u)); }
    if (lane < 8u) { put_byte(o + 66u + lane, iqg_code_pair(lane)); }
  }
}
