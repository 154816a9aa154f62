// IQ1_M: qs[32] @0, qh[16] @32, scales[8] @48 (four u16 sc). d (fp16) is the top nibbles of sc[0..3]
// (sc[0] >> 12 lowest); group of 16 values t has the 3-bit scale code (sc[t/4] >> 3(t mod 4)) & 7, and its
// halves h the iq1s_grid points qs[2t + h] | ((qh[t] >> 4h) & 7) << 8, delta negative when qh[t] bit 3 + 4h
// is set. value = (d·(2l + 1))·(grid + delta), delta = ±0.125.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 56u;
const GRID_BITS: u32 = 2u;
// iq1s grid levels 0..2 are the values -1, 0, +1 (src/quant/iq-grids.ts)
fn level_value(l: u32) -> u32 { return qf(i32(l) - 1); }

fn dequant_block(o: u32, y: u32) {
  let sc0 = in_u16(o + 48u);
  let sc1 = in_u16(o + 50u);
  let sc2 = in_u16(o + 52u);
  let sc3 = in_u16(o + 54u);
  let d = fp16_value((sc0 >> 12u) | ((sc1 >> 8u) & 0xf0u) | ((sc2 >> 4u) & 0xf00u) | (sc3 & 0xf000u));
  for (var t = 0u; t < runtime_u32(16u); t++) {
    let sc = in_u16(o + 48u + 2u * (t >> 2u));
    let dl = xmul(d, qf(i32(2u * ((sc >> (3u * (t & 3u))) & 7u) + 1u)));
    let qh = in_byte(o + 32u + t);
    for (var h = 0u; h < 2u; h++) {
      let p = in_byte(o + 2u * t + h) | (((qh >> (4u * h)) & 7u) << 8u);
      let delta = select(0x3e000000u, 0xbe000000u, (qh & (0x08u << (4u * h))) != 0u);
      for (var j = 0u; j < 8u; j++) {
        put_value(y + 16u * t + 8u * h + j, xmul(dl, fadd(grid_value(p, j), delta)));
      }
    }
  }
}
