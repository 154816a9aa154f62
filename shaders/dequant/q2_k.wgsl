// Q2_K: 16 scale/min bytes @0 (low nibble scale, high nibble min), qs[64] @16, d (fp16) @80, dmin @82.
// Per 16 values: (d*sc) * q - (dmin*m), each product rounded, then the difference.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 84u;

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o + 80u);
  let dmin = in_fp16(o + 82u);
  // sub-block s = 8h + 2g + half covers values 128h + 32g + 16half + l, from bits 2g of qs[32h + 16half + l]
  for (var s = 0u; s < runtime_u32(16u); s++) {
    let h = s >> 3u;
    let g = (s >> 1u) & 3u;
    let half = s & 1u;
    let sc = in_byte(o + s);
    let dl = xmul(d, qf(i32(sc & 15u)));
    let ml = xmul(dmin, qf(i32(sc >> 4u)));
    let qb = o + 16u + 32u * h + 16u * half;
    for (var l = 0u; l < runtime_u32(16u); l++) {
      let q = (in_byte(qb + l) >> (2u * g)) & 3u;
      put_value(y + 16u * s + l, xsub(xmul(dl, qf(i32(q))), ml));
    }
  }
}
