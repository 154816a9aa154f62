// Q4_0: blocks of 32 values, 18 bytes (4.5 bits per weight): d fp16 @0, qs[16] @2 (element j in the low
// nibble of qs[j], element j+16 in the high nibble); value = d*(q - 8).
// Reproduces quantize_q4_0: quantize_row_q4_0_ref without imatrix, quantize_row_q4_0_impl with one
// (make_qx_quants, nmax 8, weights qw*sqrt(sigma2 + x*x)); spec §2.2.3.
// 18-byte blocks: an invocation quantizes a pair (36 bytes, 9 words).
const BLOCK_VALUES: u32 = 32u;
const BLOCK_BYTES: u32 = 18u;
const BLOCKS_PER_INVOCATION: u32 = 2u;
const SEARCH_N: u32 = 32u;

const F_MINUS_8: u32 = 0xc1000000u;
const F_8_5: u32 = 0x41080000u;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  if (USE_IMATRIX) {
    quantize_block_imatrix(x0, row, col, o);
    return;
  }
  // the element of largest magnitude, first one on ties (strict compare of magnitudes)
  var amax = 0u;
  var vmax = 0u;
  for (var j = 0u; j < runtime_u32(32u); j++) {
    let v = src[x0 + j];
    if (fabs(v) > amax) { amax = fabs(v); vmax = v; }
  }
  let d = fdiv(vmax, F_MINUS_8); // an all-zero block gives -0 -> 0x8000
  // behind a branch: fdiv(1, 0) would flag the block for the host path even though its result is unused
  var id = 0u;
  if (f_truthy(d)) { id = fdiv(F_ONE, d); }
  put_u16(o, fp16_bits(d));
  for (var j = 0u; j < runtime_u32(16u); j++) {
    // MIN(15, (int8_t)(x*id + 8.5f)): the sum is rounded to binary32, then truncated
    let lo = min(15, i8_of(f_trunc_i32(fadd(fmul(src[x0 + j], id), F_8_5))));
    let hi = min(15, i8_of(f_trunc_i32(fadd(fmul(src[x0 + 16u + j], id), F_8_5))));
    put_byte(o + 2u + j, u32(lo) | (u32(hi) << 4u));
  }
}

fn quantize_block_imatrix(x0: u32, row: u32, col: u32, o: u32) {
  let sigma2 = row_sigma2(row);
  for (var j = 0u; j < runtime_u32(32u); j++) {
    let x = src[x0 + j];
    s_x[j] = x;
    s_w[j] = fmul(imatrix[col + j], fsqrt(fadd(sigma2, fmul(x, x))));
  }
  let d = make_qx_quants(0u, 32u, 8);
  put_u16(o, fp16_bits(d));
  for (var j = 0u; j < runtime_u32(16u); j++) { put_byte(o + 2u + j, s_L[j] | (s_L[j + 16u] << 4u)); }
}
