// TQ1_0: qs[48] @0 and qh[4] @48 (five trits per qs byte, four per qh byte, as ⌈n·256/243⌉), d (fp16) @52.
// Trit k (0 = most significant) of byte b is ((b·3^k mod 256)·3) >> 8; byte b < 32 holds values b + 32k,
// 32 <= b < 48 values 160 + (b - 32) + 16k, qh byte b values 240 + (b - 48) + 4k. value = (t - 1)·d.
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 54u;

fn dequant_block(o: u32, y: u32) {
  let d = in_fp16(o + 52u);
  for (var e = 0u; e < runtime_u32(256u); e++) {
    var b = e & 31u;
    var k = e >> 5u;
    if (e >= 240u) {
      b = 48u + ((e - 240u) & 3u);
      k = (e - 240u) >> 2u;
    } else if (e >= 160u) {
      b = 32u + ((e - 160u) & 15u);
      k = (e - 160u) >> 4u;
    }
    var pow3 = 1u;
    for (var i = 0u; i < k; i++) { pow3 = pow3 * 3u; }
    let q = (in_byte(o + b) * pow3) & 255u;
    put_value(y + e, xmul(qf(i32((q * 3u) >> 8u) - 1), d));
  }
}
