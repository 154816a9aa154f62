// Q4_1: blocks of 32 values, 20 bytes (5 bits per weight): d fp16 @0, m fp16 @2, qs[16] @4 (nibbles as
// Q4_0); value = d*q + m.
// Reproduces quantize_q4_1: quantize_row_q4_1_ref without imatrix, quantize_row_q4_1_impl with one
// (make_qkx3_quants, nmax 15, rmin -0.9, rdelta 0.05, 36 steps); spec §2.2.4. 20-byte blocks are
// word-aligned: one block per invocation.
const BLOCK_VALUES: u32 = 32u;
const BLOCK_BYTES: u32 = 20u;
const BLOCKS_PER_INVOCATION: u32 = 1u;
const SEARCH_N: u32 = 32u;

const F_FLT_MAX: u32 = 0x7f7fffffu;
const F_15: u32 = 0x41700000u;
const F_0_5: u32 = 0x3f000000u;
const F_MINUS_0_9: u32 = 0xbf666666u;
const F_0_05: u32 = 0x3d4ccccdu;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  if (USE_IMATRIX) {
    quantize_block_imatrix(x0, row, col, o);
    return;
  }
  var vmin = F_FLT_MAX;
  var vmax = fneg(F_FLT_MAX);
  for (var j = 0u; j < runtime_u32(32u); j++) {
    let v = src[x0 + j];
    if (flt(v, vmin)) { vmin = v; }
    if (fgt(v, vmax)) { vmax = v; }
  }
  let d = fdiv(fsub(vmax, vmin), F_15);
  // behind a branch: fdiv(1, 0) would flag the block for the host path even though its result is unused
  var id = 0u;
  if (f_truthy(d)) { id = fdiv(F_ONE, d); }
  put_u16(o, fp16_bits(d));
  put_u16(o + 2u, fp16_bits(vmin));
  for (var j = 0u; j < runtime_u32(16u); j++) {
    // MIN(15, (int8_t)((x - vmin)*id + 0.5f))
    let lo = min(15, i8_of(f_trunc_i32(fadd(fmul(fsub(src[x0 + j], vmin), id), F_0_5))));
    let hi = min(15, i8_of(f_trunc_i32(fadd(fmul(fsub(src[x0 + 16u + j], vmin), id), F_0_5))));
    put_byte(o + 4u + j, u32(lo) | (u32(hi) << 4u));
  }
}

fn quantize_block_imatrix(x0: u32, row: u32, col: u32, o: u32) {
  let sigma2 = row_sigma2(row);
  for (var j = 0u; j < runtime_u32(32u); j++) {
    let x = src[x0 + j];
    s_x[j] = x;
    s_w[j] = fmul(imatrix[col + j], fsqrt(fadd(sigma2, fmul(x, x))));
  }
  let r = make_qkx3_quants(0u, 32u, 15, F_MINUS_0_9, F_0_05, 36, false);
  put_u16(o, fp16_bits(r.x));
  put_u16(o + 2u, fp16_bits(fneg(r.y)));
  for (var j = 0u; j < runtime_u32(16u); j++) { put_byte(o + 4u + j, s_L[j] | (s_L[j + 16u] << 4u)); }
}
