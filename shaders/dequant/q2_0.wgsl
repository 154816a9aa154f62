// Q2_0: d (fp16) @0, qs[16] @2, four 2-bit codes per byte (low bits first); value = (q - 1) * d
const BLOCK_VALUES: u32 = 64u;
const BLOCK_BYTES: u32 = 18u;

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  for (var j = 0u; j < runtime_u32(64u); j++) {
    put_value(y + j, xmul(qf(i32((in_byte(o + 2u + (j >> 2u)) >> (2u * (j & 3u))) & 3u) - 1), d));
  }
}
