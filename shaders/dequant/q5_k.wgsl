// Q5_K: d (fp16) @0, dmin (fp16) @2, 8 packed 6-bit scale/min pairs @4, qh[32] @16, qs[128] @48. Per 32
// values: (d*sc) * (q + 16*high bit) - (dmin*m), each product rounded, then the difference.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 176u;

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  let dmin = in_fp16(o + 2u);
  for (var c = 0u; c < runtime_u32(4u); c++) {
    let dm1 = k_dm(o + 4u, 2u * c, d, dmin);
    let dm2 = k_dm(o + 4u, 2u * c + 1u, d, dmin);
    let ql = o + 48u + 32u * c;
    let u1 = 1u << (2u * c);
    let u2 = u1 << 1u;
    let y0 = y + 64u * c;
    for (var l = 0u; l < runtime_u32(32u); l++) {
      let b = in_byte(ql + l);
      let h = in_byte(o + 16u + l);
      let q0 = (b & 15u) + select(0u, 16u, (h & u1) != 0u);
      let q1 = (b >> 4u) + select(0u, 16u, (h & u2) != 0u);
      put_value(y0 + l, xsub(xmul(dm1.x, qf(i32(q0))), dm1.y));
      put_value(y0 + 32u + l, xsub(xmul(dm2.x, qf(i32(q1))), dm2.y));
    }
  }
}
