// IQ2_XS: d (fp16) @0, qs[32] (u16) @2: per 8 values a 9-bit iq2xs_grid index | 7-bit sign code << 9
// (parity-completed); scales[8] @66, a 4-bit code l per 16 values (low nibble first).
// value = ((d·(0.5 + l))·0.25)·grid, negated where the sign mask says.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 74u;
const GRID_BITS: u32 = 2u;
// IQ2 grid levels 0..2 are the magnitudes 8, 25, 43 (src/quant/iq-grids.ts)
fn level_value(l: u32) -> u32 { return qf(select(select(43, 25, l == 1u), 8, l == 0u)); }

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    let sc = in_byte(o + 66u + ib);
    for (var k = 0u; k < 4u; k++) {
      let q = in_u16(o + 2u + 8u * ib + 2u * k);
      let signs = ksigns(q >> 9u);
      let l = select(sc >> 4u, sc & 15u, k < 2u);
      let db = half_plus_scale(d, l, 0x3e800000u);
      for (var j = 0u; j < 8u; j++) {
        put_value(y + 32u * ib + 8u * k + j, signed(xmul(db, grid_value(q & 511u, j)), signs, j));
      }
    }
  }
}
