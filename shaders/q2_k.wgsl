// Q2_K: super-blocks of 256 values, 84 bytes (2.625 bits per weight): scales[16] @0 (low nibble: 4-bit
// scale, high nibble: 4-bit min of each 16-value sub-block), qs[64] @16 (2-bit codes; element e, with
// h = e/128, g = (e mod 128)/32, l = e mod 32, at bits 2g..2g+1 of qs[32h + l]), d fp16 @80, dmin fp16 @82;
// value = d*sc*q - dmin*m.
// Reproduces quantize_q2_K: quantize_row_q2_K_ref without imatrix (make_qkx2_quants, |x| weights, MAD),
// quantize_row_q2_K_impl with one (sigma2 = sum(x*x)/256, make_qkx3_quants, make_qp_quants over the
// scales and the mins); spec §2.4.1. 84-byte blocks are word-aligned: one block per invocation.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 84u;
const BLOCKS_PER_INVOCATION: u32 = 1u;
const SEARCH_N: u32 = 272u;

const F_15: u32 = 0x41700000u;
const F_MINUS_0_5: u32 = 0xbf000000u;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  k_load_block(x0);
  var dm: vec2u;
  if (USE_IMATRIX) { dm = q2k_search_imatrix(col); } else { dm = q2k_search_ref(); }
  for (var j = 0u; j < 16u; j++) {
    k_sc[j] = k_bytes[j] & 15u;
    k_m[j] = k_bytes[j] >> 4u;
  }
  requant_asym(16u, 16u, fp16_to_f32_bits(dm.x), fp16_to_f32_bits(dm.y), 3);
  k_put_bytes(o, 16u);
  for (var h = 0u; h < 2u; h++) {
    for (var l = 0u; l < 32u; l++) {
      let e = 128u * h + l;
      put_byte(o + 16u + 32u * h + l, s_L[e] | (s_L[e + 32u] << 2u) | (s_L[e + 64u] << 4u) | (s_L[e + 96u] << 6u));
    }
  }
  put_u16(o + 80u, dm.x);
  put_u16(o + 82u, dm.y);
}

// scale bytes into k_bytes[0, 16), search codes into s_L; returns the fp16 bits of (d, dmin)
fn q2k_search_ref() -> vec2u {
  var scales: array<u32, 16>;
  var mins: array<u32, 16>;
  var max_scale = 0u;
  var max_min = 0u;
  for (var j = 0u; j < 16u; j++) {
    for (var i = 16u * j; i < 16u * j + 16u; i++) { s_w[i] = fabs(s_x[i]); }
    // make_qkx2_quants, which make_qkx3_quants reproduces (lib/k-search.wgsl)
    let r = make_qkx3_quants(16u * j, 16u, 3, F_MINUS_0_5, F_0_1, 15, true);
    scales[j] = r.x;
    mins[j] = r.y;
    if (fgt(r.x, max_scale)) { max_scale = r.x; }
    if (fgt(r.y, max_min)) { max_min = r.y; }
  }
  var d = 0u;
  var dmin = 0u;
  for (var j = 0u; j < 16u; j++) { k_bytes[j] = 0u; }
  if (fgt(max_scale, 0u)) {
    let iscale = fdiv(F_15, max_scale);
    for (var j = 0u; j < 16u; j++) { k_bytes[j] = u32(nearest_int(fmul(iscale, scales[j]))) & 0xffu; }
    d = fp16_bits(fdiv(max_scale, F_15));
  }
  if (fgt(max_min, 0u)) {
    let iscale = fdiv(F_15, max_min);
    for (var j = 0u; j < 16u; j++) { k_bytes[j] |= (u32(nearest_int(fmul(iscale, mins[j]))) << 4u) & 0xffu; }
    dmin = fp16_bits(fdiv(max_min, F_15));
  }
  return vec2u(d, dmin);
}

fn q2k_search_imatrix(col: u32) -> vec2u {
  var mins: array<u32, 16>;
  let sigma2 = fdiv(k_sum_x2(), F_256);
  for (var j = 0u; j < 16u; j++) {
    var sum_w = 0u;
    for (var i = 16u * j; i < 16u * j + 16u; i++) {
      let w = fmul(imatrix[col + i], fsqrt(fadd(sigma2, fmul(s_x[i], s_x[i]))));
      s_w[i] = w;
      sum_w = fadd(sum_w, w);
    }
    s_w[256u + j] = sum_w;
    let r = make_qkx3_quants(16u * j, 16u, 3, F_MINUS_0_9, F_0_05, 36, false);
    s_x[256u + j] = r.x;
    mins[j] = r.y;
  }
  let d = fp16_bits(make_qp_quants(256u, 16u, 15));
  for (var j = 0u; j < 16u; j++) { k_bytes[j] = s_L[256u + j]; s_x[256u + j] = mins[j]; }
  let dmin = fp16_bits(make_qp_quants(256u, 16u, 15));
  for (var j = 0u; j < 16u; j++) { k_bytes[j] = (k_bytes[j] | (s_L[256u + j] << 4u)) & 0xffu; }
  return vec2u(d, dmin);
}
