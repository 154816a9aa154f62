// TQ2_0: blocks of 256 ternary values, 66 bytes: qs[64] @0, d fp16 @64; byte qs[32h + m] holds at bits
// 2n..2n+1 the trit of element 128h + m + 32n; value = (t - 1)*d. Reproduces quantize_tq2_0 (the imatrix
// is ignored); spec §1.5, §2.9. 66-byte blocks: an invocation quantizes a pair (132 bytes, 33 words).
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 66u;
const BLOCKS_PER_INVOCATION: u32 = 2u;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  let id = ternary_scale(x0, o + 64u);
  for (var h = 0u; h < runtime_u32(2u); h++) {
    for (var m = 0u; m < runtime_u32(32u); m++) {
      let e = x0 + 128u * h + m;
      put_byte(o + 32u * h + m, ternary_trit(e, id) | (ternary_trit(e + 32u, id) << 2u) |
        (ternary_trit(e + 64u, id) << 4u) | (ternary_trit(e + 96u, id) << 6u));
    }
  }
}
