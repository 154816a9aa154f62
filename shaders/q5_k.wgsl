// Q5_K: super-blocks of 256 values, 176 bytes (5.5 bits per weight): d fp16 @0, dmin fp16 @2, scales[12] @4
// (as Q4_K, lib/k-scales.wgsl), qh[32] @16, qs[128] @48. Low nibbles as Q4_K; the 5th bit of element r of
// 64-value chunk c is bit 2c (r < 32) or 2c+1 (r >= 32) of qh[r mod 32]; value = d*sc*q - dmin*m.
// Reproduces quantize_q5_K: quantize_row_q5_K_ref without imatrix (make_qkx2_quants, nmax 31, rmin -0.5,
// 15 steps), quantize_row_q5_K_impl with one (min(63, .) on the make_qp_quants codes); spec §2.4.4.
// 176-byte blocks: one block per invocation.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 176u;
const BLOCKS_PER_INVOCATION: u32 = 1u;
const SEARCH_N: u32 = 272u;

const F_MINUS_0_5: u32 = 0xbf000000u;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  k_load_block(x0);
  let dm = quantize_scale_min_block(col, 31, F_MINUS_0_5, 15, true);
  put_u16(o, dm.x);
  put_u16(o + 2u, dm.y);
  k_put_bytes(o + 4u, 12u);
  for (var l = 0u; l < 32u; l++) {
    var qh = 0u;
    for (var c = 0u; c < 4u; c++) {
      let l1 = s_L[64u * c + l];
      let l2 = s_L[64u * c + l + 32u];
      qh |= (l1 >> 4u) << (2u * c);
      qh |= (l2 >> 4u) << (2u * c + 1u);
      put_byte(o + 48u + 32u * c + l, (l1 & 15u) | ((l2 & 15u) << 4u));
    }
    put_byte(o + 16u + l, qh);
  }
}
