// TQ2_0: qs[64] @0 (2-bit codes 0..2), d (fp16) @64; value 128h + 32n + m = (((qs[32h + m] >> 2n) & 3) - 1) * d
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 66u;

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o + 64u);
  for (var e = 0u; e < runtime_u32(256u); e++) {
    let h = e >> 7u;
    let n = (e >> 5u) & 3u;
    let m = e & 31u;
    put_value(y + e, xmul(qf(i32((in_byte(o + 32u * h + m) >> (2u * n)) & 3u) - 1), d));
  }
}
