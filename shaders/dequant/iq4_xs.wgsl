// IQ4_XS: d (fp16) @0, scales_h (u16) @2, scales_l[4] @4, qs[128] @8. Sub-block ib of 32 values:
// 6-bit ls from scales_l/scales_h, value = (d * (ls - 32)) * kvalues_iq4nl[q]
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 136u;

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  let scales_h = in_u16(o + 2u);
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    let ls = ((in_byte(o + 4u + (ib >> 1u)) >> (4u * (ib & 1u))) & 15u) | (((scales_h >> (2u * ib)) & 3u) << 4u);
    let dl = xmul(d, qf(i32(ls) - 32));
    for (var j = 0u; j < runtime_u32(16u); j++) {
      let q = in_byte(o + 8u + 16u * ib + j);
      put_value(y + 32u * ib + j, xmul(dl, iq4nl_level(q & 15u)));
      put_value(y + 32u * ib + 16u + j, xmul(dl, iq4nl_level(q >> 4u)));
    }
  }
}
