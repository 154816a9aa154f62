// What the asymmetric K-quants share (spec §1.4, §2.4.1, §2.4.3, §2.4.4): loading a super-block into s_x,
// the re-quantization with the stored fp16 scales (Q2_K, Q4_K, Q5_K), the 12-byte packing of eight 6-bit
// scale/min pairs (get_scale_min_k4 and its inverse) and the sub-block scale/min search of Q4_K and Q5_K.
// Needs search.wgsl and k-search.wgsl before it. The type files only pack the final codes.

const F_0_05: u32 = 0x3d4ccccdu;      // 0.05f
const F_MINUS_0_9: u32 = 0xbf666666u; // -0.9f
const F_2: u32 = 0x40000000u;
const F_32: u32 = 0x42000000u;
const F_63: u32 = 0x427c0000u;
const F_256: u32 = 0x43800000u;

// sub-block scale and min codes read back from the stored bytes, for requant_asym
var<private> k_sc: array<u32, 16>;
var<private> k_m: array<u32, 16>;
// the block's scale bytes, assembled here because put_byte may write each output byte only once
var<private> k_bytes: array<u32, 16>;

fn k_load_block(x0: u32) {
  for (var i = 0u; i < runtime_u32(256u); i++) { s_x[i] = src[x0 + i]; }
}

// sum of x*x over the super-block, sequential from 0 (the imatrix paths' sigma2)
fn k_sum_x2() -> u32 {
  var s = 0u;
  for (var i = 0u; i < runtime_u32(256u); i++) { s = fadd(s, fmul(s_x[i], s_x[i])); }
  return s;
}

fn k_put_bytes(o: u32, n: u32) {
  for (var j = 0u; j < n; j++) { put_byte(o + j, k_bytes[j]); }
}

// Codes clamp(ni((x + dm) / d), 0, nmax) with d = d_all*sc_j, dm = dmin_all*m_j (the stored fp16 values
// read back); a sub-block whose d is ±0 keeps its search codes (C's `if (!d)`; NaN does not skip).
fn requant_asym(nsub: u32, sub_len: u32, d_all: u32, dmin_all: u32, nmax: i32) {
  for (var j = 0u; j < nsub; j++) {
    let d = fmul(d_all, f_from_u32(k_sc[j]));
    if (!f_truthy(d)) { continue; }
    let dm = fmul(dmin_all, f_from_u32(k_m[j]));
    for (var i = j * sub_len; i < (j + 1u) * sub_len; i++) {
      s_L[i] = u32(clamp(nearest_int(fdiv(fadd(s_x[i], dm), d)), 0, nmax));
    }
  }
}

// Eight (scale, min) byte codes into k_bytes[0, 12) in ggml's store order, then read back as 6-bit codes
// into k_sc/k_m. The Q4_K imatrix path can hand over a wrapped byte above 63: C stores it whole for j < 4
// and byte stores drop the rest, which the masks reproduce.
fn pack_scale_min6(ls: array<u32, 8>, lm: array<u32, 8>) {
  for (var j = 0u; j < 4u; j++) {
    k_bytes[j] = ls[j];
    k_bytes[j + 4u] = lm[j];
  }
  for (var j = 4u; j < 8u; j++) {
    k_bytes[j + 4u] = (ls[j] & 15u) | ((lm[j] & 15u) << 4u);
    k_bytes[j - 4u] |= ((ls[j] >> 4u) << 6u) & 0xffu;
    k_bytes[j] |= ((lm[j] >> 4u) << 6u) & 0xffu;
  }
  for (var j = 0u; j < 4u; j++) {
    k_sc[j] = k_bytes[j] & 63u;
    k_m[j] = k_bytes[j + 4u] & 63u;
  }
  for (var j = 4u; j < 8u; j++) {
    k_sc[j] = (k_bytes[j + 4u] & 15u) | ((k_bytes[j - 4u] >> 6u) << 4u);
    k_m[j] = (k_bytes[j + 4u] >> 4u) | ((k_bytes[j] >> 6u) << 4u);
  }
}

// One Q4_K/Q5_K super-block (in s_x) up to its final codes: returns the fp16 bits of (d, dmin), leaves the
// 12 scale bytes in k_bytes and the codes 0..nmax in s_L[0, 256). Reference path: make_qkx2_quants with
// weights av + |x|; imatrix path (USE_IMATRIX, weights imatrix[col ..]): make_qkx3_quants, then
// make_qp_quants over the 8 scales and over the 8 mins. Q5_K applies min(63, .) to the latter codes.
fn quantize_scale_min_block(col: u32, nmax: i32, rmin: u32, nstep: i32, clamp_qp_codes: bool) -> vec2u {
  var ls: array<u32, 8>;
  var lm: array<u32, 8>;
  var mins: array<u32, 8>;
  var d: u32;
  var dmin: u32;
  if (USE_IMATRIX) {
    let sigma2 = fdiv(fmul(F_2, k_sum_x2()), F_256);
    for (var j = 0u; j < 8u; j++) {
      var sum_w = 0u;
      for (var i = 32u * j; i < 32u * j + 32u; i++) {
        let w = fmul(imatrix[col + i], fsqrt(fadd(sigma2, fmul(s_x[i], s_x[i]))));
        s_w[i] = w;
        sum_w = fadd(sum_w, w);
      }
      s_w[256u + j] = sum_w;
      let r = make_qkx3_quants(32u * j, 32u, nmax, F_MINUS_0_9, F_0_05, 36, false);
      s_x[256u + j] = r.x;
      mins[j] = r.y;
    }
    d = make_qp_quants(256u, 8u, 63);
    for (var j = 0u; j < 8u; j++) { ls[j] = s_L[256u + j]; s_x[256u + j] = mins[j]; }
    dmin = make_qp_quants(256u, 8u, 63);
    for (var j = 0u; j < 8u; j++) { lm[j] = s_L[256u + j]; }
    if (clamp_qp_codes) {
      for (var j = 0u; j < 8u; j++) { ls[j] = min(ls[j], 63u); lm[j] = min(lm[j], 63u); }
    }
  } else {
    var scales: array<u32, 8>;
    var max_scale = 0u;
    var max_min = 0u;
    for (var j = 0u; j < 8u; j++) {
      var sum_x2 = 0u;
      for (var i = 32u * j; i < 32u * j + 32u; i++) { sum_x2 = fadd(sum_x2, fmul(s_x[i], s_x[i])); }
      let av = fsqrt(fdiv(sum_x2, F_32));
      for (var i = 32u * j; i < 32u * j + 32u; i++) { s_w[i] = fadd(av, fabs(s_x[i])); }
      // make_qkx2_quants, which make_qkx3_quants reproduces (k-search.wgsl)
      let r = make_qkx3_quants(32u * j, 32u, nmax, rmin, F_0_1, nstep, false);
      scales[j] = r.x;
      mins[j] = r.y;
      if (fgt(r.x, max_scale)) { max_scale = r.x; }
      if (fgt(r.y, max_min)) { max_min = r.y; }
    }
    // branches, not select: a division by 0 would flag the block for the host path
    var inv_scale = 0u;
    var inv_min = 0u;
    if (fgt(max_scale, 0u)) { inv_scale = fdiv(F_63, max_scale); }
    if (fgt(max_min, 0u)) { inv_min = fdiv(F_63, max_min); }
    for (var j = 0u; j < 8u; j++) {
      // C stores nearest_int's result into a uint8_t first, then takes MIN(63, .)
      ls[j] = min(u32(nearest_int(fmul(inv_scale, scales[j]))) & 0xffu, 63u);
      lm[j] = min(u32(nearest_int(fmul(inv_min, mins[j]))) & 0xffu, 63u);
    }
    d = fdiv(max_scale, F_63);
    dmin = fdiv(max_min, F_63);
  }
  let d_bits = fp16_bits(d);
  let dmin_bits = fp16_bits(dmin);
  pack_scale_min6(ls, lm);
  requant_asym(8u, 32u, fp16_to_f32_bits(d_bits), fp16_to_f32_bits(dmin_bits), nmax);
  return vec2u(d_bits, dmin_bits);
}
