// IQ4_XS: super-blocks of 256 values, 136 bytes: d fp16 @0, scales_h u16 @2, scales_l[4] @4, qs[128] @8;
// eight 32-blocks with 6-bit scales ls (stored + 32); value = d*(ls - 32)*kvalues_iq4nl[q]. Reproduces
// quantize_iq4_xs (quantize_row_iq4_nl_impl, super-block 256, ntry 7, with or without imatrix); spec §1.5,
// §2.5. 136 bytes are whole words: one block per invocation.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 136u;
const BLOCKS_PER_INVOCATION: u32 = 1u;

const F_TWO_OVER_256: u32 = 0x3c000000u;
const F_32: u32 = 0x42000000u;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  var sigma2 = 0u;
  if (USE_IMATRIX) { sigma2 = iq4_sigma2(x0, 256u, F_TWO_OVER_256); }
  var scales: array<u32, 8>;
  var amax_scale = 0u;
  var max_scale = 0u;
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    let s = iq4_block_scale(x0 + 32u * ib, col + 32u * ib, sigma2);
    scales[ib] = s;
    if (fabs(s) > amax_scale) { amax_scale = fabs(s); max_scale = s; }
  }
  let d = fdiv(fneg(max_scale), F_32); // an all-zero super-block gives -0 -> 0x8000
  put_u16(o, fp16_bits(d));
  var id = 0u;
  if (f_truthy(d)) { id = fdiv(F_ONE, d); }
  var scales_h = 0u;
  var scales_l = 0u;
  for (var ib = 0u; ib < runtime_u32(8u); ib++) {
    let l = clamp(nearest_int(fmul(id, scales[ib])), -32, 31);
    let dl = fmul(d, f_from_i32(l));
    var idl = 0u;
    if (f_truthy(dl)) { idl = fdiv(F_ONE, dl); }
    iq4_pack_codes(x0 + 32u * ib, idl, o + 8u + 16u * ib);
    let code = u32(l + 32);
    scales_l |= (code & 15u) << (4u * ib);
    scales_h |= (code >> 4u) << (2u * ib);
  }
  put_u16(o + 2u, scales_h);
  put_u32(o + 4u, scales_l);
}
