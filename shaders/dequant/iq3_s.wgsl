// IQ3_S: d (fp16) @0, qs[64] @2 (low 8 bits of a 9-bit iq3s_grid index per 4 values), qh[8] @66 (index
// bit 8 of group g at bit g mod 8 of qh[g/8]), signs[32] @74 (one bit per value), scales[4] @106 (a 4-bit
// code l per 32 values, low nibble first). value = (d·(1 + 2l))·grid, negated by the sign bit.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 110u;
const GRID_BITS: u32 = 3u;
// iq3s grid levels 0..7 are the magnitudes 1, 3, ..., 15 (2l + 1) (src/quant/iq-grids.ts)
fn level_value(l: u32) -> u32 { return qf(i32(2u * l + 1u)); }

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    let sc = in_byte(o + 106u + (ib >> 1u));
    let db = xmul(d, qf(i32(1u + 2u * select(sc & 15u, sc >> 4u, (ib & 1u) != 0u))));
    let qh = in_byte(o + 66u + ib);
    for (var k = 0u; k < 4u; k++) {
      let signs = in_byte(o + 74u + 4u * ib + k);
      let g1 = in_byte(o + 2u + 8u * ib + 2u * k) | (((qh >> (2u * k)) & 1u) << 8u);
      let g2 = in_byte(o + 3u + 8u * ib + 2u * k) | (((qh >> (2u * k + 1u)) & 1u) << 8u);
      for (var j = 0u; j < 4u; j++) {
        put_value(y + 32u * ib + 8u * k + j, signed(xmul(db, grid_value(g1, j)), signs, j));
        put_value(y + 32u * ib + 8u * k + 4u + j, signed(xmul(db, grid_value(g2, j)), signs, j + 4u));
      }
    }
  }
}
