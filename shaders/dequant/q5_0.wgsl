// Q5_0: d (fp16) @0, qh (32 fifth bits) @2, qs[16] @6; value = (q - 16) * d
const BLOCK_VALUES: u32 = 32u;
const BLOCK_BYTES: u32 = 22u;

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  let qh = in_u16(o + 2u) | (in_u16(o + 4u) << 16u);
  for (var j = 0u; j < runtime_u32(16u); j++) {
    let q = in_byte(o + 6u + j);
    let q0 = (q & 15u) | (((qh >> j) << 4u) & 16u);
    let q1 = (q >> 4u) | ((qh >> (j + 12u)) & 16u);
    put_value(y + j, xmul(qf(i32(q0) - 16), d));
    put_value(y + 16u + j, xmul(qf(i32(q1) - 16), d));
  }
}
