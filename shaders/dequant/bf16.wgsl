// BF16: one value per block, the upper half of the f32 bits
const BLOCK_VALUES: u32 = 1u;
const BLOCK_BYTES: u32 = 2u;

fn dequant_block(o: u32, y: u32) { put_value(y, in_u16(o) << 16u); }
