// Q5_1: d (fp16) @0, m (fp16) @2, qh @4, qs[16] @8; value = q * d + m (rounded after the product)
const BLOCK_VALUES: u32 = 32u;
const BLOCK_BYTES: u32 = 24u;

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  let m = in_fp16(o + 2u);
  let qh = in_u16(o + 4u) | (in_u16(o + 6u) << 16u);
  for (var j = 0u; j < runtime_u32(16u); j++) {
    let q = in_byte(o + 8u + j);
    let q0 = (q & 15u) | (((qh >> j) << 4u) & 16u);
    let q1 = (q >> 4u) | ((qh >> (j + 12u)) & 16u);
    put_value(y + j, xadd(xmul(qf(i32(q0)), d), m));
    put_value(y + 16u + j, xadd(xmul(qf(i32(q1)), d), m));
  }
}
