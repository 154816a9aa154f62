// IQ2_S: super-blocks of 256 values, 82 bytes: d fp16 @0, qs[64] @2 (per 8 values the low 8 bits of a
// 10-bit iq2s grid index in qs[g], the 8 sign bits in qs[32 + g]), qh[8] @66 (index bits 8..9 of group g at
// bits 2·(g mod 4) of qh[g/4]), scales[8] @74 (a 4-bit code per 16 values, low nibble first).
// Reproduces quantize_row_iq2_s_impl (with or without imatrix) as src/quant/iq2_s.ts does; spec §2.7.2.
// A lanes kernel (shaders/README.md): 64 lanes per block, the grid search in lib/iq-grid-search.wgsl.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 82u;
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
const IQG_PARITY: bool = false;           // 8 sign bits per group
const IQG_SIGMA2_TWICE: bool = true;
const IQG_PLAIN_BIAS: bool = true;        // without imatrix w = 0.25·sigma2 + x²
const IQG_D_FUDGE: u32 = 0x3f7ccccdu;     // 0.9875f

const IQ2S_EPS: u32 = 0x322bcc77u;        // GROUP_MAX_EPS_IQ2_S = 1e-8f
const IQ2S_F_5: u32 = 0x40a00000u;

fn quantize_block_lanes(x0: u32, row: u32, col: u32, o: u32, lane: u32) {
  iqg_prepare(x0, col, lane);
  if (lane < 16u) {
    let m = iqg_max[lane];
    iqg_active[lane] = select(1u, 0u, flt(m, IQ2S_EPS));
    iqg_denom[lane] = m;
    if (iqg_active[lane] != 0u) { iqg_scale[lane] = fdiv(m, IQ2S_F_5); }
  }
  workgroupBarrier();
  iqg_search(lane);
  iqg_finish(o, lane);
  if (lane < 32u) {
    // group g = lane: index and signs are stored as ggml goes (they stay even when every scale is zero)
    put_byte(o + 2u + lane, select(0u, iqg_idx[lane] & 255u, iqg_active[lane / 2u] != 0u));
    put_byte(o + 34u + lane, iqg_signs_of(lane));
  }
  if (lane < 8u) {
    var h = 0u;
    for (var k = 0u; k < runtime_u32(4u); k++) {
      let g = 4u * lane + k;
      h |= select(0u, (iqg_idx[g] >> 8u) << (2u * k), iqg_active[g / 2u] != 0u);
    }
    put_byte(o + 66u + lane, h);
    if (iqg_zero == 0u) { put_byte(o + 74u + lane, iqg_code_pair(lane)); }
  }
}
