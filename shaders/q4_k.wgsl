// Q4_K: super-blocks of 256 values, 144 bytes (4.5 bits per weight): d fp16 @0, dmin fp16 @2, scales[12] @4
// (eight 6-bit scale/min pairs, lib/k-scales.wgsl), qs[128] @16 (in each 64-value chunk c, element r < 32
// is the low nibble of qs[32c + r], element r >= 32 the high nibble of qs[32c + r - 32]);
// value = d*sc*q - dmin*m.
// Reproduces quantize_q4_K: quantize_row_q4_K_ref without imatrix (make_qkx2_quants, nmax 15, rmin -1,
// 20 steps), quantize_row_q4_K_impl with one; spec §2.4.3. 144-byte blocks: one block per invocation.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 144u;
const BLOCKS_PER_INVOCATION: u32 = 1u;
const SEARCH_N: u32 = 272u;

const F_MINUS_1: u32 = 0xbf800000u;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  k_load_block(x0);
  let dm = quantize_scale_min_block(col, 15, F_MINUS_1, 20, false);
  put_u16(o, dm.x);
  put_u16(o + 2u, dm.y);
  k_put_bytes(o + 4u, 12u);
  for (var c = 0u; c < 4u; c++) {
    for (var l = 0u; l < 32u; l++) {
      let e = 64u * c + l;
      put_byte(o + 16u + 32u * c + l, s_L[e] | (s_L[e + 32u] << 4u));
    }
  }
}
