// Q3_K: super-blocks of 256 values, 110 bytes (3.4375 bits per weight): hmask[32] @0 (bit e/32 of
// hmask[e mod 32] = 3rd bit of element e), qs[64] @32 (low 2 bits, Q2_K order), scales[12] @96 (16 six-bit
// sub-block scales biased by 32), d fp16 @108; value = d*(s_j - 32)*(q3 - 4), j = e/16.
// Reproduces quantize_q3_K: quantize_row_q3_K_ref without imatrix (make_q3_quants), quantize_row_q3_K_impl
// with one (sigma2 = 2*sum(x*x)/256, make_qx_quants per sub-block, then over the 16 scales); spec §2.4.2.
// 110-byte blocks: an invocation quantizes a pair (220 bytes, 55 words).
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 110u;
const BLOCKS_PER_INVOCATION: u32 = 2u;
const SEARCH_N: u32 = 272u;

const F_MINUS_32: u32 = 0xc2000000u;

// the 16 biased 6-bit scale codes (0..63)
var<private> q3k_codes: array<u32, 16>;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  k_load_block(x0);
  var d: u32;
  if (USE_IMATRIX) { d = q3k_search_imatrix(col); } else { d = q3k_search_ref(); }
  let d_bits = fp16_bits(d);
  // re-quantize with the stored scale; a sub-block whose d*(s - 32) is ±0 keeps its search codes
  let d_all = fp16_to_f32_bits(d_bits);
  for (var j = 0u; j < 16u; j++) {
    let dd = fmul(d_all, f_from_i32(i32(q3k_codes[j]) - 32));
    if (!f_truthy(dd)) { continue; }
    for (var i = 16u * j; i < 16u * j + 16u; i++) {
      s_L[i] = u32(clamp(nearest_int(fdiv(s_x[i], dd)), -4, 3) + 4);
    }
  }
  for (var m = 0u; m < 32u; m++) {
    var hm = 0u;
    for (var k = 0u; k < 8u; k++) { hm |= select(0u, 1u << k, s_L[32u * k + m] > 3u); }
    put_byte(o + m, hm);
  }
  for (var h = 0u; h < 2u; h++) {
    for (var l = 0u; l < 32u; l++) {
      let e = 128u * h + l;
      let q = (s_L[e] & 3u) | ((s_L[e + 32u] & 3u) << 2u) | ((s_L[e + 64u] & 3u) << 4u) | ((s_L[e + 96u] & 3u) << 6u);
      put_byte(o + 32u + 32u * h + l, q);
    }
  }
  for (var b = 0u; b < 8u; b++) {
    put_byte(o + 96u + b, (q3k_codes[b] & 15u) | ((q3k_codes[b + 8u] & 15u) << 4u));
  }
  for (var b = 0u; b < 4u; b++) {
    var hi = 0u;
    for (var k = 0u; k < 4u; k++) { hi |= (q3k_codes[4u * k + b] >> 4u) << (2u * k); }
    put_byte(o + 104u + b, hi);
  }
  put_u16(o + 108u, d_bits);
}

// codes into q3k_codes and s_L; returns d before fp16 rounding
fn q3k_search_ref() -> u32 {
  var scales: array<u32, 16>;
  var max_scale = 0u;
  var amax = 0u;
  for (var j = 0u; j < 16u; j++) {
    let s = make_q3_quants(16u * j, 16u, 4);
    scales[j] = s;
    if (fgt(fabs(s), amax)) { amax = fabs(s); max_scale = s; }
  }
  if (!f_truthy(max_scale)) {
    for (var j = 0u; j < 16u; j++) { q3k_codes[j] = 0u; }
    return 0u;
  }
  let iscale = fdiv(F_MINUS_32, max_scale);
  for (var j = 0u; j < 16u; j++) {
    let l = i8_of(nearest_int(fmul(iscale, scales[j]))); // C stores it into an int8_t first
    q3k_codes[j] = u32(clamp(l, -32, 31) + 32);
  }
  return fdiv(F_ONE, iscale);
}

fn q3k_search_imatrix(col: u32) -> u32 {
  let sigma2 = fdiv(fmul(F_2, k_sum_x2()), F_256);
  for (var j = 0u; j < 16u; j++) {
    var sum_w = 0u;
    for (var i = 16u * j; i < 16u * j + 16u; i++) {
      let w = fmul(imatrix[col + i], fsqrt(fadd(sigma2, fmul(s_x[i], s_x[i]))));
      s_w[i] = w;
      sum_w = fadd(sum_w, w);
    }
    s_w[256u + j] = sum_w;
    s_x[256u + j] = make_qx_quants(16u * j, 16u, 4);
  }
  let d = make_qx_quants(256u, 16u, 32);
  for (var j = 0u; j < 16u; j++) { q3k_codes[j] = s_L[256u + j]; }
  return d;
}
