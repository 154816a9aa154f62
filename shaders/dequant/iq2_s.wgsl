// IQ2_S: d (fp16) @0, qs[32] @2 (low 8 bits of a 10-bit iq2s_grid index per 8 values), signs[32] @34 (8 sign
// bits per 8 values), qh[8] @66 (index bits 8..9 of group g at bits 2(g mod 4) of qh[g/4]), scales[8] @74
// (a 4-bit code l per 16 values, low nibble first). value = ((d·(0.5 + l))·0.25)·grid, negated by the sign bit.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 82u;
const GRID_BITS: u32 = 2u;
// IQ2 grid levels 0..2 are the magnitudes 8, 25, 43 (src/quant/iq-grids.ts)
fn level_value(l: u32) -> u32 { return qf(select(select(43, 25, l == 1u), 8, l == 0u)); }

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    let sc = in_byte(o + 74u + ib);
    let qh = in_byte(o + 66u + ib);
    for (var k = 0u; k < 4u; k++) {
      let g = 4u * ib + k;
      let p = in_byte(o + 2u + g) | (((qh >> (2u * k)) & 3u) << 8u);
      let signs = in_byte(o + 34u + g);
      let l = select(sc >> 4u, sc & 15u, k < 2u);
      let db = half_plus_scale(d, l, 0x3e800000u);
      for (var j = 0u; j < 8u; j++) {
        put_value(y + 8u * g + j, signed(xmul(db, grid_value(p, j)), signs, j));
      }
    }
  }
}
