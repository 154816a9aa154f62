// Q4_0: d (fp16) @0, qs[16] @2 (low nibbles: values 0-15, high: 16-31); value = (q - 8) * d
const BLOCK_VALUES: u32 = 32u;
const BLOCK_BYTES: u32 = 18u;

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  for (var j = 0u; j < runtime_u32(16u); j++) {
    let q = in_byte(o + 2u + j);
    put_value(y + j, xmul(qf(i32(q & 15u) - 8), d));
    put_value(y + 16u + j, xmul(qf(i32(q >> 4u) - 8), d));
  }
}
