// IQ2_XXS: super-blocks of 256 values, 66 bytes: d fp16 @0, then per 32 values a pair of u32: four 8-bit
// iq2xxs grid indices, and four 7-bit parity sign codes with the 4-bit scale code in bits 28..31.
// Reproduces quantize_row_iq2_xxs_impl (imatrix required) as src/quant/iq2_xxs.ts does; spec §2.7.3.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 66u;
const BLOCKS_PER_INVOCATION: u32 = 2u;
const SEARCH_N: u32 = 32u;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  let sigma2 = iq_sigma2(x0, false);
  var scales: array<u32, 8>;
  var q2: array<u32, 16>;
  var max_scale = 0u;
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    let xb = x0 + 32u * ib;
    iq_weights(xb, col + 32u * ib, 32u, sigma2, 0u);
    let mx = iq_extract_signs(xb, 32u, true);
    scales[ib] = 0u;
    q2[2u * ib] = 0u;
    q2[2u * ib + 1u] = 0u;
    if (flt(mx, 0x26901d7du)) { continue; }
    for (var i = 0u; i < runtime_u32(32u); i++) { s_x[i] = iq_xval[i]; s_w[i] = iq_w[i]; }
    var scale = make_qp_quants(0u, 32u, 4);
    let eff_max = fmul(scale, 0x40400000u);
    if (fle(eff_max, 0u)) { continue; }
    scale = iq_grid_search(32u, 6, eff_max, scale, true);
    if (flt(scale, 0u)) {
      scale = fneg(scale);
      for (var k = 0u; k < runtime_u32(4u); k++) { iq_signs[k] = ~iq_signs[k] & 127u; }
    }
    var a = 0u;
    var b = 0u;
    for (var k = 0u; k < runtime_u32(4u); k++) {
      a |= iq_idx[k] << (8u * k);
      b |= iq_signs[k] << (7u * k);
    }
    q2[2u * ib] = a;
    q2[2u * ib + 1u] = b;
    scales[ib] = scale;
    if (!fgt(max_scale, scale)) { max_scale = scale; }
  }
  // all scales zero: ggml leaves the whole block zeroed
  if (!f_truthy(max_scale)) {
    put_u16(o, 0u);
    for (var j = 0u; j < runtime_u32(16u); j++) { put_u32(o + 2u + 4u * j, 0u); }
    return;
  }
  let d = fdiv(max_scale, 0x41f80000u);
  put_u16(o, fp16_bits(d));
  let id = fdiv(F_ONE, d);
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    put_u32(o + 2u + 8u * ib, q2[2u * ib]);
    put_u32(o + 6u + 8u * ib, q2[2u * ib + 1u] | (iq_scale_code(id, scales[ib]) << 28u));
  }
}
