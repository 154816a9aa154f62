// The i-quant dequantizers' grid access (src/gpu/dequant.ts adds this file to the module of a type whose
// descriptor declares `gpu.tables`, and binds those same tables, the quantize kernel's, at binding 3).
// The tables are `iqGridGpuTables` (src/quant/iq-grids.ts): words [0, grid size) hold each point's level
// key, GRID_BITS bits per coordinate; the type file defines GRID_BITS and `level_value(l)`, the f32 bits of
// level l's grid value (ggml-common.h's grid bytes are these values, coordinate by coordinate).
@group(0) @binding(3) var<storage, read> type_tables: array<u32>;

// coordinate i of grid point p as f32 bits
fn grid_value(p: u32, i: u32) -> u32 {
  return level_value((type_tables[p] >> (GRID_BITS * i)) & ((1u << GRID_BITS) - 1u));
}

// ksigns_iq2xs: a 7-bit sign code completed by its parity bit (bit 7 set for an odd number of ones)
fn ksigns(c: u32) -> u32 { return c | ((countOneBits(c) & 1u) << 7u); }

// `v` negated when bit j of the 8-bit mask `signs` is set (a sign-bit flip, as the CPU's negation)
fn signed(v: u32, signs: u32, j: u32) -> u32 { return v ^ (((signs >> j) & 1u) << 31u); }

// (d·(0.5 + l))·f, each product rounded: the sub-block scale of IQ2_XXS/XS/S (f = 0.25) and IQ3_XXS (f = 0.5)
fn half_plus_scale(d: u32, l: u32, f: u32) -> u32 { return xmul(xmul(d, fmul(qf(i32(2u * l + 1u)), 0x3f000000u)), f); }
