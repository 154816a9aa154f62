// IQ2_XS: super-blocks of 256 values, 74 bytes: d fp16 @0, qs[32] u16 @2 (per 8 values a 9-bit iq2xs grid
// index | 7-bit parity sign code << 9), scales[8] @66 (a 4-bit code per 16 values, low nibble first).
// Reproduces quantize_row_iq2_xs_impl (imatrix required) as src/quant/iq2_xs.ts does; spec §2.7.1.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 74u;
const BLOCKS_PER_INVOCATION: u32 = 2u;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  let sigma2 = iq_sigma2(x0, false);
  var scales: array<u32, 16>;
  var q2: array<u32, 32>;
  var max_scale = 0u;
  for (var ib = 0u; ib < runtime_u32(16u); ib++) {
    let xb = x0 + 16u * ib;
    iq_weights(xb, col + 16u * ib, 16u, sigma2, 0u);
    let mx = iq_extract_signs(xb, 16u, true);
    scales[ib] = 0u;
    q2[2u * ib] = 0u;
    q2[2u * ib + 1u] = 0u;
    if (flt(mx, 0x26901d7du)) { continue; }
    var scale = iq_grid_search(16u, 9, mx, fdiv(mx, 0x40a00000u), false);
    if (flt(scale, 0u)) {
      scale = fneg(scale);
      for (var k = 0u; k < runtime_u32(2u); k++) { iq_signs[k] = ~iq_signs[k] & 127u; }
    }
    for (var k = 0u; k < runtime_u32(2u); k++) { q2[2u * ib + k] = iq_idx[k] | (iq_signs[k] << 9u); }
    scales[ib] = scale;
    if (!fgt(max_scale, scale)) { max_scale = scale; }
  }
  // all scales zero: ggml leaves the whole block zeroed
  let zero = !f_truthy(max_scale);
  for (var j = 0u; j < runtime_u32(32u); j++) { put_u16(o + 2u + 2u * j, select(q2[j], 0u, zero)); }
  if (zero) {
    put_u16(o, 0u);
    for (var j = 0u; j < runtime_u32(8u); j++) { put_byte(o + 66u + j, 0u); }
    return;
  }
  let d = fdiv(max_scale, 0x41f80000u);
  put_u16(o, fp16_bits(d));
  let id = fdiv(F_ONE, d);
  for (var j = 0u; j < runtime_u32(8u); j++) {
    put_byte(o + 66u + j, iq_scale_code(id, scales[2u * j]) | (iq_scale_code(id, scales[2u * j + 1u]) << 4u));
  }
}
