// The binding ABI shared by every quantization kernel; shaders/README.md documents it for kernel authors.
// A type file defines BLOCK_VALUES, BLOCK_BYTES, BLOCKS_PER_INVOCATION and either
//   fn quantize_block(x0: u32, row: u32, col: u32, o: u32)                  (one invocation per block:
//       lib/abi-invocation.wgsl supplies the entry point), or
//   const LANES_PER_BLOCK: u32 = <n>u; fn quantize_block_lanes(x0: u32, row: u32, col: u32, o: u32, lane: u32)
//       (one workgroup of LANES_PER_BLOCK lanes per block: lib/abi-lanes.wgsl supplies the entry point).
// The block function reads the block's values at src[x0 ..], its imatrix weights at imatrix[col ..] and its
// row statistic with row_sigma2(row) (row-stats.wgsl), and writes its BLOCK_BYTES bytes at byte offset `o`
// of the output with put_byte/put_u16/put_u32 (put_byte is the entry point file's). The entry point maps
// invocations (or workgroups) to blocks and flags in `fallback` every block during which an exact-f32
// operation set g_inexact.

struct Params {
  n_blocks: u32,        // blocks in this chunk
  blocks_per_row: u32,  // n_per_row / BLOCK_VALUES
  n_per_row: u32,
  first_col_block: u32, // block column, within its row, of the chunk's first block (chunks that split a row)
  n_rows: u32,          // rows whose statistic row_sigma2_main computes (whole-row chunks)
  zero: u32,            // always 0, opaque to the compiler (exact-f32.wgsl)
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;               // f32 bits of the chunk's values
@group(0) @binding(2) var<storage, read> imatrix: array<u32>;           // n_per_row f32 bits (a dummy word without imatrix)
@group(0) @binding(3) var<storage, read_write> row_stats: array<u32>;   // one f32 per chunk-local row
@group(0) @binding(4) var<storage, read_write> dst: array<u32>;         // the chunk's output bytes, little-endian words
@group(0) @binding(5) var<storage, read_write> fallback: array<atomic<u32>>; // bit b: block b needs the exact host path

// Pipelines for the imatrix path are created with USE_IMATRIX = true; the other branch is compiled away.
override USE_IMATRIX: bool = false;

// Workgroup size of the per-invocation entry point and of row_sigma2_main (src/gpu/kernels.ts INVOCATION_WORKGROUP_SIZE).
const WORKGROUP_SIZE: u32 = 64u;
// BLOCK_BYTES * BLOCKS_PER_INVOCATION must be a multiple of 4 so that invocations (workgroups) never share a word.
const OUT_WORDS: u32 = (BLOCK_BYTES * BLOCKS_PER_INVOCATION + 3u) / 4u;
const_assert (BLOCK_BYTES * BLOCKS_PER_INVOCATION) % 4u == 0u;

// Bytes are OR-ed into zeroed words: each byte of a block must be written exactly once.
fn put_u16(o: u32, v: u32) { put_byte(o, v); put_byte(o + 1u, v >> 8u); }
fn put_u32(o: u32, v: u32) { put_u16(o, v); put_u16(o + 2u, v >> 16u); }

// Dispatches wider than maxComputeWorkgroupsPerDimension are folded into y: linearise (x, y).
fn workgroup_index(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.y * nwg.x + wid.x;
}
fn invocation_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return workgroup_index(wid, nwg) * WORKGROUP_SIZE + lid;
}

// Block `blk` of the chunk: its row (chunk-local) and the column of its first value within that row.
fn block_row(blk: u32) -> u32 { return (params.first_col_block + blk) / params.blocks_per_row; }
fn block_col(blk: u32) -> u32 { return ((params.first_col_block + blk) % params.blocks_per_row) * BLOCK_VALUES; }
