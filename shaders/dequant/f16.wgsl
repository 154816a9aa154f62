// F16: one value per block, widened exactly (subnormal halves kept)
const BLOCK_VALUES: u32 = 1u;
const BLOCK_BYTES: u32 = 2u;

fn dequant_block(o: u32, y: u32) { put_value(y, in_fp16(o)); }
