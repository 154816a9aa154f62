// IQ1_S: d (fp16) @0, qs[32] @2, qh[8] (u16) @34. Sub-block ib of 32 values: qh[ib] bits 12..14 the scale
// code l, bit 15 the sign of delta; group k of 8 values is iq1s_grid point qs[4ib + k] | ((qh >> 3k) & 7) << 8.
// value = (d·(2l + 1))·(grid + delta), delta = ±0.125.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 50u;
const GRID_BITS: u32 = 2u;
// iq1s grid levels 0..2 are the values -1, 0, +1 (src/quant/iq-grids.ts)
fn level_value(l: u32) -> u32 { return qf(i32(l) - 1); }

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o);
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    let qh = in_u16(o + 34u + 2u * ib);
    let dl = xmul(d, qf(i32(2u * ((qh >> 12u) & 7u) + 1u)));
    let delta = select(0x3e000000u, 0xbe000000u, (qh & 0x8000u) != 0u);
    for (var k = 0u; k < 4u; k++) {
      let p = in_byte(o + 2u + 4u * ib + k) | (((qh >> (3u * k)) & 7u) << 8u);
      for (var j = 0u; j < 8u; j++) {
        put_value(y + 32u * ib + 8u * k + j, xmul(dl, fadd(grid_value(p, j), delta)));
      }
    }
  }
}
