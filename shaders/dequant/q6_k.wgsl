// Q6_K: ql[128] @0, qh[64] @128, 16 int8 scales @192, d (fp16) @208; value = (d*sc) * (q - 32)
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 210u;

fn q6_scale(o: u32, d: u32, e: u32) -> u32 { return xmul(d, qf(in_i8(o + 192u + (e >> 4u)))); }

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o + 208u);
  for (var hf = 0u; hf < runtime_u32(2u); hf++) {
    for (var l = 0u; l < runtime_u32(32u); l++) {
      let e = 128u * hf + l;
      let a = in_byte(o + 64u * hf + l);
      let c = in_byte(o + 64u * hf + 32u + l);
      let h = in_byte(o + 128u + 32u * hf + l);
      put_value(y + e, xmul(q6_scale(o, d, e), qf(i32((a & 15u) | ((h & 3u) << 4u)) - 32)));
      put_value(y + e + 32u, xmul(q6_scale(o, d, e + 32u), qf(i32((c & 15u) | (((h >> 2u) & 3u) << 4u)) - 32)));
      put_value(y + e + 64u, xmul(q6_scale(o, d, e + 64u), qf(i32((a >> 4u) | (((h >> 4u) & 3u) << 4u)) - 32)));
      put_value(y + e + 96u, xmul(q6_scale(o, d, e + 96u), qf(i32((c >> 4u) | (((h >> 6u) & 3u) << 4u)) - 32)));
    }
  }
}
