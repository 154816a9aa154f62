// IQ2_XXS: d (fp16) @0, then per 32 values (ib) 8 bytes @2 + 8ib: four iq2xxs_grid indices, then a u32
// aux with four 7-bit sign codes (parity-completed) and the scale code l in bits 28..31.
// value = ((d·(0.5 + l))·0.25)·grid, negated where the sign mask says.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 66u;
const GRID_BITS: u32 = 2u;
// IQ2 grid levels 0..2 are the magnitudes 8, 25, 43 (src/quant/iq-grids.ts)
fn level_value(l: u32) -> u32 { return qf(select(select(43, 25, l == 1u), 8, l == 0u)); }

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    let p = o + 2u + 8u * ib;
    let aux = in_u16(p + 4u) | (in_u16(p + 6u) << 16u);
    let db = half_plus_scale(d, aux >> 28u, 0x3e800000u);
    for (var k = 0u; k < 4u; k++) {
      let g = in_byte(p + k);
      let signs = ksigns((aux >> (7u * k)) & 127u);
      for (var j = 0u; j < 8u; j++) {
        put_value(y + 32u * ib + 8u * k + j, signed(xmul(db, grid_value(g, j)), signs, j));
      }
    }
  }
}
