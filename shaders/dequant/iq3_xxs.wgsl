// IQ3_XXS: d (fp16) @0, qs[64] @2 (an iq3xxs_grid index per 4 values), then per 32 values (ib) a u32 @66 + 4ib
// with four 7-bit sign codes (parity-completed, one per 8 values) and the scale code l in bits 28..31.
// value = ((d·(0.5 + l))·0.5)·grid, negated where the sign mask says.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 98u;
const GRID_BITS: u32 = 3u;
// iq3xxs grid levels 0..7 are the magnitudes 4, 12, ..., 52 (8l + 4), then 62 (src/quant/iq-grids.ts)
fn level_value(l: u32) -> u32 { return qf(select(i32(8u * l + 4u), 62, l == 7u)); }

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    let p = o + 66u + 4u * ib;
    let aux = in_u16(p) | (in_u16(p + 2u) << 16u);
    let db = half_plus_scale(d, aux >> 28u, 0x3f000000u);
    for (var k = 0u; k < 4u; k++) {
      let signs = ksigns((aux >> (7u * k)) & 127u);
      let g1 = in_byte(o + 2u + 8u * ib + 2u * k);
      let g2 = in_byte(o + 3u + 8u * ib + 2u * k);
      for (var j = 0u; j < 4u; j++) {
        put_value(y + 32u * ib + 8u * k + j, signed(xmul(db, grid_value(g1, j)), signs, j));
        put_value(y + 32u * ib + 8u * k + 4u + j, signed(xmul(db, grid_value(g2, j)), signs, j + 4u));
      }
    }
  }
}
