// MXFP4: blocks of 32 values, 17 bytes: e (E8M0) @0, qs[16] @1 (element j low nibble, j+16 high nibble of
// qs[j]); value = kvalues_mxfp4[q] * 2^(e - 128). Reproduces quantize_mxfp4 (quantize_row_mxfp4_ref, the
// imatrix is ignored): e = (uint8_t)(floorf(log2f(amax)) - 2 + 127), each code the first index nearest
// to x. 17-byte blocks: an invocation quantizes four (68 bytes, 17 words).
const BLOCK_VALUES: u32 = 32u;
const BLOCK_BYTES: u32 = 17u;
const BLOCKS_PER_INVOCATION: u32 = 4u;

// kvalues_mxfp4 (e2m1 values doubled) as f32 bits
const MXFP4_LEVELS = array<u32, 16>(0x00000000u, 0x3f800000u, 0x40000000u, 0x40400000u, 0x40800000u,
  0x40c00000u, 0x41000000u, 0x41400000u, 0x00000000u, 0xbf800000u, 0xc0000000u, 0xc0400000u, 0xc0800000u,
  0xc0c00000u, 0xc1000000u, 0xc1400000u);
// How many of the largest significands below 2^T have a binary32 log2f that rounds up to the integer T,
// by p = floor(log2|T|) (one less when T > 0 is a power of two): ceil(2^p * ln 2) - 1 for p = 0..6.
const MXFP4_LOG2_UP = array<u32, 7>(0u, 1u, 2u, 5u, 11u, 22u, 44u);

// floorf(log2f(a)) for a normal a, with log2f correctly rounded to binary32.
fn mxfp4_floor_log2(a: u32) -> i32 {
  let k = i32(f_exp(a)) - 127; // floor of the exact log2
  let t = k + 1;
  let at = u32(abs(t));
  let p = i32(firstLeadingBit(at)) - select(0, 1, (t > 0) & ((at & (at - 1u)) == 0u));
  let n = 0x800000u - (a & 0x7fffffu); // a = 2^t - n ulps
  let up = (at != 0u) & (p >= 0) & (n <= MXFP4_LOG2_UP[u32(clamp(p, 0, 6))]);
  return select(k, t, up);
}

// GGML_E8M0_TO_FP32_HALF: 2^(e - 128) (subnormal for e < 2; the unused arm's shift wraps harmlessly)
fn e8m0_half(e: u32) -> u32 { return select((e - 1u) << 23u, 0x00200000u << e, e < 2u); }

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  var amax = 0u;
  for (var j = 0u; j < runtime_u32(32u); j++) { amax = max(amax, fabs(src[x0 + j])); }
  // all ±0: e = 0 and every code 0 (level 0 is exact and comes first); the bytes are already zero
  if (amax == 0u) { return; }
  // a subnormal amax is left to the host path
  g_inexact = g_inexact | ((amax != 0u) & !f_is_normal(amax));
  let e = u32(mxfp4_floor_log2(amax) + 125) & 0xffu;
  put_byte(o, e);
  let d = e8m0_half(e);
  g_inexact = g_inexact | !f_is_normal(d);
  var level: array<u32, 16>;
  for (var i = 0u; i < runtime_u32(16u); i++) { level[i] = fmul(MXFP4_LEVELS[i], d); }
  for (var j = 0u; j < runtime_u32(16u); j++) {
    put_byte(o + 1u + j, mxfp4_best_index(src[x0 + j], &level) | (mxfp4_best_index(src[x0 + 16u + j], &level) << 4u));
  }
}

// best_index_mxfp4: the first code whose level k*d is nearest to x (|k*d - x| compared strictly)
fn mxfp4_best_index(x: u32, level: ptr<function, array<u32, 16>>) -> u32 {
  var best = 0u;
  var best_err = fabs(fsub((*level)[0], x));
  for (var i = 1u; i < runtime_u32(16u); i++) {
    let err = fabs(fsub((*level)[i], x));
    let better = flt(err, best_err);
    best = select(best, i, better);
    best_err = select(best_err, err, better);
  }
  return best;
}
