// Q6_K: super-blocks of 256 values, 210 bytes (6.5625 bits per weight): ql[128] @0 (low nibbles), qh[64]
// @128 (high 2 bits), scales[16] int8 @192, d fp16 @208; value = d*scales[e/16]*(q - 32).
// Reproduces quantize_q6_K: quantize_row_q6_K_ref without imatrix (make_qx_quants with weights x*x),
// quantize_row_q6_K_impl with one (the raw imatrix values are the weights, no sigma2 term); spec §2.4.5.
// 210-byte blocks: an invocation quantizes a pair (420 bytes, 105 words).
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 210u;
const BLOCKS_PER_INVOCATION: u32 = 2u;
const SEARCH_N: u32 = 272u;

const F_MINUS_128: u32 = 0xc3000000u;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  k_load_block(x0);
  var scales: array<u32, 16>;
  var max_scale = 0u;
  var max_abs = 0u;
  for (var j = 0u; j < 16u; j++) {
    for (var i = 16u * j; i < 16u * j + 16u; i++) {
      if (USE_IMATRIX) { s_w[i] = imatrix[col + i]; } else { s_w[i] = fmul(s_x[i], s_x[i]); }
    }
    let s = make_qx_quants(16u * j, 16u, 32);
    scales[j] = s;
    if (fgt(fabs(s), max_abs)) { max_abs = fabs(s); max_scale = s; }
  }
  if (flt(max_abs, GROUP_MAX_EPS)) { return; } // the whole block stays zero
  let iscale = fdiv(F_MINUS_128, max_scale);
  let d_bits = fp16_bits(fdiv(F_ONE, iscale));
  let d = fp16_to_f32_bits(d_bits);
  for (var j = 0u; j < 16u; j++) {
    let sc = i8_of(min(127, nearest_int(fmul(iscale, scales[j])))); // int8_t store
    put_byte(o + 192u + j, u32(sc));
    // re-quantize with the stored scale; a sub-block whose d*sc is ±0 keeps its search codes
    let dd = fmul(d, f_from_i32(sc));
    if (!f_truthy(dd)) { continue; }
    for (var i = 16u * j; i < 16u * j + 16u; i++) {
      s_L[i] = u32(clamp(nearest_int(fdiv(s_x[i], dd)), -32, 31) + 32);
    }
  }
  put_u16(o + 208u, d_bits);
  for (var h = 0u; h < 2u; h++) {
    for (var l = 0u; l < 32u; l++) {
      let e = 128u * h + l;
      let a = s_L[e];
      let b = s_L[e + 32u];
      let c = s_L[e + 64u];
      let f = s_L[e + 96u];
      put_byte(o + 64u * h + l, (a & 15u) | ((c & 15u) << 4u));
      put_byte(o + 64u * h + l + 32u, (b & 15u) | ((f & 15u) << 4u));
      put_byte(o + 128u + 32u * h + l, (a >> 4u) | ((b >> 4u) << 2u) | ((c >> 4u) << 4u) | ((f >> 4u) << 6u));
    }
  }
}
