// The scale search shared by IQ4_NL and IQ4_XS (quantize_row_iq4_nl_impl with ntry 7, best_index_int8),
// spec §2.1.2, §2.5. Uses the importance weights imatrix[col ..] when USE_IMATRIX.

const IQ4_GROUP_MAX_EPS: u32 = 0x26901d7du; // 1e-15f
const IQ4_F_MINUS_127: u32 = 0xc2fe0000u;
// kvalues_iq4nl as f32 bits
const IQ4_LEVELS = array<u32, 16>(0xc2fe0000u, 0xc2d00000u, 0xc2a60000u, 0xc2820000u, 0xc2440000u,
  0xc20c0000u, 0xc1b00000u, 0xc1200000u, 0x3f800000u, 0x41500000u, 0x41c80000u, 0x42180000u, 0x42540000u,
  0x428a0000u, 0x42b20000u, 0x42e20000u);

var<private> iq4_w: array<u32, 32>;

// best_index_int8(16, kvalues_iq4nl, x): binary search, then the nearer neighbour, the upper one on ties
fn iq4_best_index(x: u32) -> u32 {
  var ml = 0u;
  var mu = 15u;
  for (var i = 0u; i < runtime_u32(4u); i++) {
    let mid = (ml + mu) >> 1u;
    let below = flt(x, IQ4_LEVELS[mid]);
    let open = mu - ml > 1u;
    mu = select(mu, mid, open & below);
    ml = select(ml, mid, open & !below);
  }
  let pick = select(mu, mu - 1u, flt(fsub(x, IQ4_LEVELS[mu - 1u]), fsub(IQ4_LEVELS[mu], x)));
  return select(select(pick, 15u, fge(x, IQ4_LEVELS[15])), 0u, fle(x, IQ4_LEVELS[0]));
}

// (Σ x²) * 2/n over n values (the factor is an exact power of two, passed as bits)
fn iq4_sigma2(x0: u32, n: u32, two_over_n: u32) -> u32 {
  var s = 0u;
  for (var j = 0u; j < runtime_u32(n); j++) { s = fadd(s, fmul(src[x0 + j], src[x0 + j])); }
  return fmul(s, two_over_n);
}

// Σ w*q*x and Σ w*q*q of one 32-block for the codes best_index(id*x)
fn iq4_fit(x0: u32, id: u32) -> vec2<u32> {
  var sumqx = 0u;
  var sumq2 = 0u;
  for (var j = 0u; j < runtime_u32(32u); j++) {
    let x = src[x0 + j];
    let q = IQ4_LEVELS[iq4_best_index(fmul(id, x))];
    let wq = fmul(iq4_w[j], q);
    sumqx = fadd(sumqx, fmul(wq, x));
    sumq2 = fadd(sumq2, fmul(wq, q));
  }
  return vec2<u32>(sumqx, sumq2);
}

// The scale of the 32-block at src[x0 ..] (weights imatrix[qw0 ..] with the super-block's sigma2):
// 0 below GROUP_MAX_EPS, else the best of the first fit and the 15 trial scales.
fn iq4_block_scale(x0: u32, qw0: u32, sigma2: u32) -> u32 {
  var amax = 0u;
  var vmax = 0u;
  for (var j = 0u; j < runtime_u32(32u); j++) {
    let v = src[x0 + j];
    if (fabs(v) > amax) { amax = fabs(v); vmax = v; }
  }
  if (flt(amax, IQ4_GROUP_MAX_EPS)) { return 0u; }
  // ggml computes the weights before this test; they are unused for such a block, so computing them
  // here gives the same bytes and keeps tiny blocks off the host path
  for (var j = 0u; j < runtime_u32(32u); j++) {
    let x = src[x0 + j];
    let x2 = fmul(x, x);
    if (USE_IMATRIX) { iq4_w[j] = fmul(imatrix[qw0 + j], fsqrt(fadd(sigma2, x2))); } else { iq4_w[j] = x2; }
  }
  var d = fdiv(fneg(vmax), IQ4_F_MINUS_127);
  var s = iq4_fit(x0, fdiv(F_ONE, d));
  d = 0u;
  if (fgt(s.y, 0u)) { d = fdiv(s.x, s.y); }
  var best = fmul(d, s.x);
  for (var t = 0u; t < runtime_u32(15u); t++) {
    s = iq4_fit(x0, fdiv(f_from_i32(i32(t) - 7 - 127), vmax));
    if (fgt(s.y, 0u)) {
      if (fgt(fmul(s.x, s.x), fmul(best, s.y))) {
        d = fdiv(s.x, s.y);
        best = fmul(d, s.x);
      }
    }
  }
  return d;
}

// Nibble-packs the codes best_index(id*x) of the 32-block at src[x0 ..] into bytes o .. o+15
fn iq4_pack_codes(x0: u32, id: u32, o: u32) {
  for (var j = 0u; j < runtime_u32(16u); j++) {
    put_byte(o + j, iq4_best_index(fmul(id, src[x0 + j])) | (iq4_best_index(fmul(id, src[x0 + 16u + j])) << 4u));
  }
}
