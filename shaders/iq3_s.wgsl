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

const IQ3S_F_15: u32 = 0x41700000u;
const IQ3S_F_31: u32 = 0x41f80000u;
const IQ3S_FUDGE: u32 = 0x3f843958u;      // 1.033f

var<workgroup> iq3s_flip: array<u32, 8>;  // 1: the sub-block's scale came out negative (signs inverted)
var<workgroup> iq3s_sc: array<u32, 8>;    // final scale of each sub-block (0 when skipped)

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
  if (lane < 8u) {
    var sc = 0u;
    var flip = false;
    if (iqg_active[lane] != 0u) {
      let scale = iqg_scale[lane];
      flip = flt(scale, 0u);
      sc = select(scale, fneg(scale), flip);
    }
    iq3s_flip[lane] = select(0u, 1u, flip);
    iq3s_sc[lane] = sc;
  }
  workgroupBarrier();
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
    if (k % 2u == 0u) {
      let s = iqg_signs[g / 2u];
      put_byte(o + 74u + 4u * rank + k / 2u, select(s, ~s & 255u, iq3s_flip[ib] != 0u));
    }
  }
  if (lane < 8u) {
    var qh = 0u;
    if (iqg_active[lane] != 0u) {
      for (var k = 0u; k < runtime_u32(8u); k++) { qh |= (iqg_idx[8u * lane + k] >> 8u) << k; }
    }
    put_byte(o + 66u + lane, qh);
  }
  if (lane == 0u) {
    var max_scale = 0u;
    for (var j = 0u; j < runtime_u32(8u); j++) {
      if (iqg_active[j] != 0u) { max_scale = select(iq3s_sc[j], max_scale, fgt(max_scale, iq3s_sc[j])); }
    }
    if (f_truthy(max_scale)) {
      let d = fdiv(max_scale, IQ3S_F_31);
      put_u16(o, fp16_bits(fmul(d, IQ3S_FUDGE)));
      let id = fdiv(F_ONE, d);
      for (var j = 0u; j < runtime_u32(4u); j++) {
        put_byte(o + 106u + j, iqg_scale_code(id, iq3s_sc[2u * j]) | (iqg_scale_code(id, iq3s_sc[2u * j + 1u]) << 4u));
      }
    }
  }
}
