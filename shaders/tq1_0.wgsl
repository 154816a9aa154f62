// TQ1_0: blocks of 256 ternary values, 54 bytes: qs[48] @0, qh[4] @48, d fp16 @52. Code byte b holds five
// trits (qh bytes: four and a 0 trit) as ceil(n * 256 / 243), n their base-3 number, first trit most
// significant; value = (t - 1)*d. Reproduces quantize_tq1_0 (the imatrix is ignored); spec §1.5, §2.9.
// 54-byte blocks: an invocation quantizes a pair (108 bytes, 27 words).
const BLOCK_VALUES: u32 = 256u;
const BLOCK_BYTES: u32 = 54u;
const BLOCKS_PER_INVOCATION: u32 = 2u;

// Element of trit k of code byte b: bytes 0..31 hold m + 32k, 32..47 hold 160 + m + 16k, 48..51 240 + m + 4k.
fn tq1_element(b: u32, k: u32) -> u32 {
  return select(select(240u + (b - 48u) + 4u * k, 160u + (b - 32u) + 16u * k, b < 48u), b + 32u * k, b < 32u);
}

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  let id = ternary_scale(x0, o + 52u);
  for (var b = 0u; b < runtime_u32(52u); b++) {
    let nt = select(4u, 5u, b < 48u);
    var n = 0u;
    for (var k = 0u; k < nt; k++) { n = n * 3u + ternary_trit(x0 + tq1_element(b, k), id); }
    n = select(n * 3u, n, nt == 5u);
    put_byte(o + b, (n * 256u + 242u) / 243u);
  }
}
