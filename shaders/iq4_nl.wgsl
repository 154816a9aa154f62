// IQ4_NL: blocks of 32 values, 18 bytes: d fp16 @0, qs[16] @2 (nibbles as Q4_0); value =
// d*kvalues_iq4nl[q]. Reproduces quantize_iq4_nl (quantize_row_iq4_nl_impl, super-block 32, ntry 7, with
// or without imatrix); spec §1.5, §2.5. 18-byte blocks: an invocation quantizes a pair.
const BLOCK_VALUES: u32 = 32u;
const BLOCK_BYTES: u32 = 18u;
const BLOCKS_PER_INVOCATION: u32 = 2u;

const F_TWO_OVER_32: u32 = 0x3d800000u;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  var sigma2 = 0u;
  if (USE_IMATRIX) { sigma2 = iq4_sigma2(x0, 32u, F_TWO_OVER_32); }
  let d = iq4_block_scale(x0, col, sigma2);
  put_u16(o, fp16_bits(d));
  var id = 0u;
  if (f_truthy(d)) { id = fdiv(F_ONE, d); }
  iq4_pack_codes(x0, id, o + 2u);
}
