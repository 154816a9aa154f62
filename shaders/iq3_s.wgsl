// IQ3_S: super-blocks of 256 values, 110 bytes: d fp16 @0, qs[64] @2 (low 8 bits of a 9-bit iq3s grid index
// per 4 values), qh[8] @66 (bit 8 of group k of sub-block ib at bit k of qh[ib]), signs[32] @74 (a bit per
// value), scales[4] @106 (a 4-bit code per 32 values). Reproduces quantize_row_iq3_s_impl (with or without
// imatrix) as src/quant/iq3_s.ts does; spec §2.7.5. ggml advances its qs and signs positions only past
// searched sub-blocks, so a skipped (all-zero) sub-block shifts the following ones down; qh is indexed by
// sub-block. A lanes kernel (shaders/README.md): 64 lanes per block, the search in lib/iq-grid-search.wgsl.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 110u;
const BLOCKS_PER_INVOCATION: u32 = 2u;
const LANES_PER_BLOCK: u32 = 64u;

const IQG_DIM: u32 = 4u;
const IQG_BITS: u32 = 3u;
const IQG_SUB: u32 = 32u;
const IQG_KMAXQ: u32 = 8u;
const IQG_TRIALS: u32 = 9u;
const IQG_STEP: u32 = 0x3e4ccccdu;        // 0.2f
const IQG_ONGRID_INIT: bool = false;
const IQG_RECOMPUTE: u32 = IQG_ALL_IF_ANY_OFF;
const IQG_PARITY: bool = false;
const IQG_SIGMA2_TWICE: bool = true;
const IQG_PLAIN_BIAS: bool = false;
const IQG_D_FUDGE: u32 = 0x3f843958u;     // 1.033f

const IQ3S_F_15: u32 = 0x41700000u;

fn quantize_block_lanes(x0: u32, row: u32, col: u32, o: u32, lane: u32) {
  iqg_prepare(x0, col, lane);
  if (lane < 8u) {
    let m = iqg_max[lane];
    iqg_active[lane] = select(0u, 1u, f_truthy(m));
    iqg_denom[lane] = m;
    if (iqg_active[lane] != 0u) { iqg_scale[lane] = fdiv(m, IQ3S_F_15); }
  }
  workgroupBarrier();
  iqg_search(lane);
  iqg_finish(o, lane);
  // group g = lane of sub-block ib: its index bytes at the sub-block's packed position, qh by sub-block
  let g = lane;
  let ib = g / 8u;
  var rank = 0u; // searched sub-blocks before ib
  for (var j = 0u; j < runtime_u32(ib); j++) { rank += iqg_active[j]; }
  if (iqg_active[ib] != 0u) {
    // pairs of groups (8 values): one lane writes the index byte of group k of the sub-block (k = g % 8 is
    // written by lane g), the even lanes' neighbours write the signs byte of their 8 values
    let k = g % 8u;
    put_byte(o + 2u + 8u * rank + k, iqg_idx[g] & 255u);
    if (k % 2u == 0u) { put_byte(o + 74u + 4u * rank + k / 2u, iqg_signs_of(g / 2u)); }
  }
  if (lane < 8u) {
    var qh = 0u;
    if (iqg_active[lane] != 0u) {
      for (var k = 0u; k < runtime_u32(8u); k++) { qh |= (iqg_idx[8u * lane + k] >> 8u) << k; }
    }
    put_byte(o + 66u + lane, qh);
  }
  if ((lane < 4u) & (iqg_zero == 0u)) { put_byte(o + 106u + lane, iqg_code_pair(lane)); }
}
