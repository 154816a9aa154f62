// IQ2_S: super-blocks of 256 values, 82 bytes: d fp16 @0, qs[64] @2 (per 8 values the low 8 bits of a
// 10-bit iq2s grid index in qs[g], the 8 sign bits in qs[32 + g]), qh[8] @66 (index bits 8..9 of group g at
// bits 2·(g mod 4) of qh[g/4]), scales[8] @74 (a 4-bit code per 16 values).
// Reproduces quantize_row_iq2_s_impl (with or without imatrix) as src/quant/iq2_s.ts does; spec §2.7.2.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 82u;
const BLOCKS_PER_INVOCATION: u32 = 2u;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  let sigma2 = iq_sigma2(x0, true);
  let bias = fmul(0x3e800000u, sigma2);
  var scales: array<u32, 16>;
  var qs: array<u32, 32>;
  var sg: array<u32, 32>;
  var max_scale = 0u;
  for (var ib = 0u; ib < runtime_u32(16u); ib++) {
    let xb = x0 + 16u * ib;
    iq_weights(xb, col + 16u * ib, 16u, sigma2, bias);
    let mx = iq_extract_signs(xb, 16u, false);
    scales[ib] = 0u;
    qs[2u * ib] = 0u;
    qs[2u * ib + 1u] = 0u;
    sg[2u * ib] = 0u;
    sg[2u * ib + 1u] = 0u;
    if (flt(mx, 0x322bcc77u)) { continue; }
    var scale = iq_grid_search(16u, 9, mx, fdiv(mx, 0x40a00000u), false);
    if (flt(scale, 0u)) {
      scale = fneg(scale);
      for (var k = 0u; k < runtime_u32(2u); k++) { iq_signs[k] = ~iq_signs[k] & 255u; }
    }
    for (var k = 0u; k < runtime_u32(2u); k++) {
      qs[2u * ib + k] = iq_idx[k];
      sg[2u * ib + k] = iq_signs[k];
    }
    scales[ib] = scale;
    if (!fgt(max_scale, scale)) { max_scale = scale; }
  }
  // all scales zero: ggml leaves the indices and signs it stored, with d and the scales zero
  for (var g = 0u; g < runtime_u32(32u); g++) {
    put_byte(o + 2u + g, qs[g] & 255u);
    put_byte(o + 34u + g, sg[g]);
  }
  for (var j = 0u; j < runtime_u32(8u); j++) {
    var h = 0u;
    for (var k = 0u; k < runtime_u32(4u); k++) { h |= (qs[4u * j + k] >> 8u) << (2u * k); }
    put_byte(o + 66u + j, h);
  }
  if (!f_truthy(max_scale)) {
    put_u16(o, 0u);
    for (var j = 0u; j < runtime_u32(8u); j++) { put_byte(o + 74u + j, 0u); }
    return;
  }
  let d = fdiv(max_scale, 0x41f80000u);
  put_u16(o, fp16_bits(fmul(d, 0x3f7ccccdu)));
  let id = fdiv(F_ONE, d);
  for (var j = 0u; j < runtime_u32(8u); j++) {
    put_byte(o + 74u + j, iq_scale_code(id, scales[2u * j]) | (iq_scale_code(id, scales[2u * j + 1u]) << 4u));
  }
}
