// The binding ABI shared by every quantization kernel; shaders/README.md documents it for kernel authors.
// A type file defines BLOCK_VALUES, BLOCK_BYTES, BLOCKS_PER_INVOCATION and
//   fn quantize_block(x0: u32, row: u32, col: u32, o: u32)
// which reads the block's values at src[x0 ..], its imatrix weights at imatrix[col ..] and its row
// statistic with row_sigma2(row) (row-stats.wgsl), and writes its BLOCK_BYTES bytes at byte offset `o`
// of out_words with put_byte/put_u16/put_u32. This file supplies the entry point that maps invocations to blocks, and
// flags in `fallback` every block during which an exact-f32 operation set g_inexact.

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

const WORKGROUP_SIZE: u32 = 64u;
// BLOCK_BYTES * BLOCKS_PER_INVOCATION must be a multiple of 4 so that invocations never share a word.
const OUT_WORDS: u32 = (BLOCK_BYTES * BLOCKS_PER_INVOCATION + 3u) / 4u;
const_assert (BLOCK_BYTES * BLOCKS_PER_INVOCATION) % 4u == 0u;

var<private> out_words: array<u32, OUT_WORDS>;

// Bytes are OR-ed into zeroed words: each byte of a block must be written exactly once.
fn put_byte(o: u32, v: u32) { out_words[o >> 2u] |= (v & 0xffu) << ((o & 3u) * 8u); }
fn put_u16(o: u32, v: u32) { put_byte(o, v); put_byte(o + 1u, v >> 8u); }
fn put_u32(o: u32, v: u32) { put_u16(o, v); put_u16(o + 2u, v >> 16u); }

// Dispatches wider than maxComputeWorkgroupsPerDimension are folded into y: linearise (x, y).
fn invocation_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WORKGROUP_SIZE + lid;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let first = invocation_index(wid, nwg, lid) * BLOCKS_PER_INVOCATION;
  if (first >= params.n_blocks) { return; }
  let count = min(BLOCKS_PER_INVOCATION, params.n_blocks - first);
  for (var k = 0u; k < OUT_WORDS; k++) { out_words[k] = 0u; }
  for (var k = 0u; k < count; k++) {
    let blk = first + k;
    let pos = params.first_col_block + blk;
    let row = pos / params.blocks_per_row;
    let col = (pos % params.blocks_per_row) * BLOCK_VALUES;
    g_inexact = false;
    quantize_block(blk * BLOCK_VALUES, row, col, k * BLOCK_BYTES);
    if (g_inexact) { atomicOr(&fallback[blk >> 5u], 1u << (blk & 31u)); }
  }
  let w0 = first * BLOCK_BYTES / 4u;
  let nw = (count * BLOCK_BYTES + 3u) / 4u;
  for (var k = 0u; k < nw; k++) { dst[w0 + k] = out_words[k]; }
}
