// Q8_0: d (fp16) @0, qs[32] int8 @2; value = qs[j] * d
const BLOCK_VALUES: u32 = 32u;
const BLOCK_BYTES: u32 = 34u;

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  for (var j = 0u; j < runtime_u32(32u); j++) { put_value(y + j, xmul(qf(in_i8(o + 2u + j)), d)); }
}
