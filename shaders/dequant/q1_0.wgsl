// Q1_0: d (fp16) @0, 128 sign bits @2 (low bit first); value = bit ? d : -d (a sign flip on the bits)
const BLOCK_VALUES: u32 = 128u;
const BLOCK_BYTES: u32 = 18u;

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  for (var j = 0u; j < runtime_u32(128u); j++) {
    let bit = (in_byte(o + 2u + (j >> 3u)) >> (j & 7u)) & 1u;
    put_value(y + j, select(d ^ F_SIGN, d, bit == 1u));
  }
}
