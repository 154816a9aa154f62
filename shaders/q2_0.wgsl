// Q2_0: blocks of 64 values, 18 bytes: d fp16 @0, qs[16] @2; element j is the 2-bit code at bits 2(j%4) of
// qs[j/4]; value = (q - 1)*d. Reproduces quantize_q2_0 (quantize_row_q2_0_ref; the imatrix changes nothing):
// d = max|x|, q = clamp((int)roundf(x * (1/d)) + 1, 0, 3). 18-byte blocks: an invocation quantizes a pair.
const BLOCK_VALUES: u32 = 64u;
const BLOCK_BYTES: u32 = 18u;
const BLOCKS_PER_INVOCATION: u32 = 2u;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  var amax = 0u;
  for (var j = 0u; j < runtime_u32(64u); j++) { amax = max(amax, fabs(src[x0 + j])); }
  put_u16(o, fp16_bits(amax));
  // behind a branch: fdiv(1, 0) would flag the block even though its result is unused
  var id = 0u;
  if (f_truthy(amax)) { id = fdiv(F_ONE, amax); }
  for (var k = 0u; k < runtime_u32(16u); k++) {
    var byte = 0u;
    for (var s = 0u; s < runtime_u32(4u); s++) {
      let q = clamp(f_round_i32(fmul(src[x0 + 4u * k + s], id)) + 1, 0, 3);
      byte |= u32(q) << (2u * s);
    }
    put_byte(o + 2u + k, byte);
  }
}
