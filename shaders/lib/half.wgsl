// binary32 -> binary16 and -> bfloat16 with integer operations only (ggml_compute_fp32_to_fp16 /
// ggml_compute_fp32_to_bf16, spec §3.3). WGSL's own conversions (f16 casts, pack2x16float, quantizeToF16)
// may round to either neighbour and flush subnormals, so they are never used.

// fp16 bits (round to nearest even, subnormal halves kept, |x| >= 65520 -> Inf, NaN -> sign | 0x7E00)
fn fp16_bits(a: u32) -> u32 {
  let s = (a >> 16u) & 0x8000u;
  let x = a & 0x7fffffffu;
  if (x > 0x7f800000u) { return s | 0x7e00u; }
  if (x >= 0x477ff000u) { return s | 0x7c00u; }
  if (x < 0x38800000u) {
    // below 2^-14: h = round_half_even(|x| * 2^24) = round_half_even(m * 2^(e - 126))
    let e = max(x >> 23u, 1u);
    let m = (x & 0x7fffffu) | select(0u, 0x800000u, (x >> 23u) != 0u);
    let sh = 126u - e; // >= 14
    if (sh >= 25u) { return s; } // m * 2^-sh < 0.5
    var h = m >> sh;
    let rem = m & ((1u << sh) - 1u);
    let half = 1u << (sh - 1u);
    if (rem > half || (rem == half && (h & 1u) == 1u)) { h += 1u; }
    return s | h;
  }
  var h = (x >> 13u) - (112u << 10u);
  let r = x & 0x1fffu;
  if (r > 0x1000u || (r == 0x1000u && (h & 1u) == 1u)) { h += 1u; }
  return s | h;
}

// bf16 bits (round to nearest even, NaN quietened)
fn bf16_bits(a: u32) -> u32 {
  if ((a & 0x7fffffffu) > 0x7f800000u) { return ((a >> 16u) | 0x40u) & 0xffffu; }
  return ((a + 0x7fffu + ((a >> 16u) & 1u)) >> 16u) & 0xffffu;
}

// exact binary16 -> binary32 bits (K-quants read their stored scales back)
fn fp16_to_f32_bits(h: u32) -> u32 {
  let s = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0x1fu) { return s | 0x7f800000u | (m << 13u); }
  if (e != 0u) { return s | ((e + 112u) << 23u) | (m << 13u); }
  if (m == 0u) { return s; }
  let sh = countLeadingZeros(m) - 21u; // bring the leading one to bit 10
  return s | ((113u - sh) << 23u) | (((m << sh) & 0x3ffu) << 13u);
}
