// Q3_K: hmask[32] @0, qs[64] @32, 12 bytes of 6-bit signed scales @96, d (fp16) @108.
// value = (d * (sc - 32)) * (q - (high bit ? 0 : 4))
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 110u;

fn q3_scale(o: u32, j: u32) -> i32 {
  let lo = select(in_byte(o + 96u + j - 8u) >> 4u, in_byte(o + 96u + j) & 15u, j < 8u);
  return i32(lo | (((in_byte(o + 104u + (j & 3u)) >> (2u * (j >> 2u))) & 3u) << 4u)) - 32;
}

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o + 108u);
  for (var hf = 0u; hf < runtime_u32(2u); hf++) {
    for (var g = 0u; g < runtime_u32(4u); g++) {
      for (var l = 0u; l < runtime_u32(32u); l++) {
        let e = 128u * hf + 32u * g + l;
        let q = (in_byte(o + 32u + 32u * hf + l) >> (2u * g)) & 3u;
        let hm = (in_byte(o + l) >> (4u * hf + g)) & 1u;
        let dl = xmul(d, qf(q3_scale(o, e >> 4u)));
        put_value(y + e, xmul(dl, qf(i32(q) - select(4, 0, hm != 0u))));
      }
    }
  }
}
