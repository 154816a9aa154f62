// F16: one binary16 per value (2 bytes, 16 bits per weight); reproduces ggml_fp32_to_fp16_row
// (the software round-to-nearest-even converter, spec §2.2.1, §3.3). Two values per invocation fill a word.
const BLOCK_VALUES: u32 = 1u;
const BLOCK_BYTES: u32 = 2u;
const BLOCKS_PER_INVOCATION: u32 = 2u;

fn quantize_block(x0: u32, row: u32, col: u32, o: u32) {
  put_u16(o, fp16_bits(src[x0]));
}
