// Q1_0: blocks of 128 values, 18 bytes: d fp16 @0, qs[16] @2; bit j%8 of qs[j/8] set = +d, clear = -d.
// Reproduces quantize_q1_0 (quantize_row_q1_0_ref; the imatrix changes nothing): d = (sequential sum of
// |x|) / 128, bit = x >= 0 (-0 included). 18-byte blocks: an invocation quantizes a pair.
const BLOCK_VALUES: u32 = 128u;
const BLOCK_BYTES: u32 = 18u;
const BLOCKS_PER_INVOCATION: u32 = 2u;

const F_128: u32 = 0x43000000u;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  var sum_abs = 0u;
  for (var j = 0u; j < runtime_u32(128u); j++) { sum_abs = fadd(sum_abs, fabs(src[x0 + j])); }
  put_u16(o, fp16_bits(fdiv(sum_abs, F_128)));
  for (var k = 0u; k < runtime_u32(16u); k++) {
    var byte = 0u;
    for (var b = 0u; b < runtime_u32(8u); b++) {
      byte |= select(0u, 1u << b, fge(src[x0 + 8u * k + b], 0u));
    }
    put_byte(o + 2u + k, byte);
  }
}
