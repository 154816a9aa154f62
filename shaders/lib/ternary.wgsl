// What TQ1_0 and TQ2_0 share (quantize_row_tq1_0_ref / _tq2_0_ref, spec §2.9): d = max|x| over the
// 256-value block, stored as fp16, and the trit lroundf(x * (1/d)) + 1 of each value. lroundf and
// f_round_i32 agree for |v| < 2^31, which every unflagged block satisfies (|x * (1/d)| <= 1 + 1 ulp).

// Stores fp16(d) at byte offset dOff and returns 1/d (0 for an all-zero block).
fn ternary_scale(x0: u32, d_off: u32) -> u32 {
  // MAX(amax, fabsf(v)): magnitudes compare as unsigned bit patterns
  var amax = 0u;
  for (var j = 0u; j < runtime_u32(256u); j++) { amax = max(amax, fabs(src[x0 + j])); }
  put_u16(d_off, fp16_bits(amax));
  // behind a branch: fdiv(1, 0) would flag the block even though its result is unused
  var id = 0u;
  if (f_truthy(amax)) { id = fdiv(F_ONE, amax); }
  return id;
}

// The trit (0, 1, 2) of value src[i].
fn ternary_trit(i: u32, id: u32) -> u32 {
  return u32(f_round_i32(fmul(src[i], id)) + 1);
}
