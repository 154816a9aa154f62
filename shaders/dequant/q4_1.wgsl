// Q4_1: d (fp16) @0, m (fp16) @2, qs[16] @4; value = q * d + m (rounded after the product, not fused)
const BLOCK_VALUES: u32 = 32u;
const BLOCK_BYTES: u32 = 20u;

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  let m = in_fp16(o + 2u);
  for (var j = 0u; j < runtime_u32(16u); j++) {
    let q = in_byte(o + 4u + j);
    put_value(y + j, xadd(xmul(qf(i32(q & 15u)), d), m));
    put_value(y + 16u + j, xadd(xmul(qf(i32(q >> 4u)), d), m));
  }
}
