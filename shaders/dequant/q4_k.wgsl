// Q4_K: d (fp16) @0, dmin (fp16) @2, 8 packed 6-bit scale/min pairs @4, qs[128] @16. Per 32 values:
// (d*sc) * q - (dmin*m), each product rounded, then the difference.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 144u;

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  let dmin = in_fp16(o + 2u);
  for (var c = 0u; c < runtime_u32(4u); c++) {
    let dm1 = k_dm(o + 4u, 2u * c, d, dmin);
    let dm2 = k_dm(o + 4u, 2u * c + 1u, d, dmin);
    let q = o + 16u + 32u * c;
    let y0 = y + 64u * c;
    for (var l = 0u; l < runtime_u32(32u); l++) {
      let b = in_byte(q + l);
      put_value(y0 + l, xsub(xmul(dm1.x, qf(i32(b & 15u))), dm1.y));
      put_value(y0 + 32u + l, xsub(xmul(dm2.x, qf(i32(b >> 4u))), dm2.y));
    }
  }
}
