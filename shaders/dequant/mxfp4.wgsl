// MXFP4: e (E8M0) @0, qs[16] @1; value = kvalues_mxfp4[q] * 2^(e - 128), built on the bits: the levels are
// 0, ±1, ±1.5·2, ±2^k, ±1.5·2^k, so the product is exact or overflows to Inf, and it is subnormal (by at most
// two places, exactly) only for e < 2 — the integer path gives x86's result where f32 operators might flush.
const BLOCK_VALUES: u32 = 32u;
const BLOCK_BYTES: u32 = 17u;

// kvalues_mxfp4 (data of the GGUF format): the E2M1 values doubled
const KVALUES_MXFP4 = array<i32, 16>(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);

fn mxfp4_value(q: u32, e: u32) -> u32 {
  let kv = KVALUES_MXFP4[q];
  if (kv == 0) { return 0u; }
  let a = qf(abs(kv)); // normal f32 bits of |kv|
  let s = select(0u, F_SIGN, kv < 0);
  let ex = i32(f_exp(a)) + i32(e) - 128;
  if (ex >= 255) { return s | F_INF; }
  if (ex <= 0) { return s | (((a & 0x7fffffu) | 0x800000u) >> u32(1 - ex)); }
  return s | (u32(ex) << 23u) | (a & 0x7fffffu);
}

fn dequant_block(o: u32, y: u32) {
  let e = in_byte(o);
  for (var j = 0u; j < runtime_u32(16u); j++) {
    let q = in_byte(o + 1u + j);
    put_value(y + j, mxfp4_value(q & 15u, e));
    put_value(y + 16u + j, mxfp4_value(q >> 4u, e));
  }
}
