// Q5_0: blocks of 32 values, 22 bytes (5.5 bits per weight): d fp16 @0, qh u32 @2 (bit e = 5th bit of
// element e), qs[16] @6 (low nibbles as Q4_0); value = d*(q - 16).
// Reproduces quantize_q5_0: quantize_row_q5_0_ref without imatrix, quantize_row_q5_0_impl with one
// (make_qx_quants, nmax 16); spec §2.2.5. 22-byte blocks: an invocation quantizes a pair (44 bytes).
const BLOCK_VALUES: u32 = 32u;
const BLOCK_BYTES: u32 = 22u;
const BLOCKS_PER_INVOCATION: u32 = 2u;
const SEARCH_N: u32 = 32u;

const F_MINUS_16: u32 = 0xc1800000u;
const F_16_5: u32 = 0x41840000u;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  if (USE_IMATRIX) {
    quantize_block_imatrix(x0, row, col, o);
    return;
  }
  var amax = 0u;
  var vmax = 0u;
  for (var j = 0u; j < runtime_u32(32u); j++) {
    let v = src[x0 + j];
    if (fabs(v) > amax) { amax = fabs(v); vmax = v; }
  }
  let d = fdiv(vmax, F_MINUS_16);
  // behind a branch: fdiv(1, 0) would flag the block for the host path even though its result is unused
  var id = 0u;
  if (f_truthy(d)) { id = fdiv(F_ONE, d); }
  put_u16(o, fp16_bits(d));
  var qh = 0u;
  for (var j = 0u; j < runtime_u32(16u); j++) {
    // MIN(31, (int8_t)(x*id + 16.5f)) stored as uint8_t
    let lo = u32(min(31, i8_of(f_trunc_i32(fadd(fmul(src[x0 + j], id), F_16_5))))) & 0xffu;
    let hi = u32(min(31, i8_of(f_trunc_i32(fadd(fmul(src[x0 + 16u + j], id), F_16_5))))) & 0xffu;
    put_byte(o + 6u + j, (lo & 0xfu) | ((hi & 0xfu) << 4u));
    qh |= ((lo & 0x10u) >> 4u) << j;
    qh |= ((hi & 0x10u) >> 4u) << (j + 16u);
  }
  put_u32(o + 2u, qh);
}

fn quantize_block_imatrix(x0: u32, row: u32, col: u32, o: u32) {
  let sigma2 = row_sigma2(row);
  for (var j = 0u; j < runtime_u32(32u); j++) {
    let x = src[x0 + j];
    s_x[j] = x;
    s_w[j] = fmul(imatrix[col + j], fsqrt(fadd(sigma2, fmul(x, x))));
  }
  let d = make_qx_quants(0u, 32u, 16);
  put_u16(o, fp16_bits(d));
  put_u32(o + 2u, pack_q5(o + 6u));
}

// low nibbles of s_L into qs at byte o; returns qh
fn pack_q5(o: u32) -> u32 {
  var qh = 0u;
  for (var j = 0u; j < runtime_u32(16u); j++) {
    let lo = s_L[j];
    let hi = s_L[j + 16u];
    put_byte(o + j, (lo & 0xfu) | ((hi & 0xfu) << 4u));
    qh |= ((lo & 0x10u) >> 4u) << j;
    qh |= ((hi & 0x10u) >> 4u) << (j + 16u);
  }
  return qh;
}
