// Entry point of the per-invocation kernels (lib/abi.wgsl): invocation i quantizes blocks
// i*BLOCKS_PER_INVOCATION ... with the type file's quantize_block, collecting its words in private memory.

var<private> out_words: array<u32, OUT_WORDS>;

fn put_byte(o: u32, v: u32) { out_words[o >> 2u] |= (v & 0xffu) << ((o & 3u) * 8u); }

@compute @workgroup_size(WORKGROUP_SIZE)
fn quantize_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let first = invocation_index(wid, nwg, lid) * BLOCKS_PER_INVOCATION;
  if (first >= params.n_blocks) { return; }
  let count = min(BLOCKS_PER_INVOCATION, params.n_blocks - first);
  for (var k = 0u; k < OUT_WORDS; k++) { out_words[k] = 0u; }
  for (var k = 0u; k < count; k++) {
    let blk = first + k;
    g_inexact = false;
    quantize_block(blk * BLOCK_VALUES, block_row(blk), block_col(blk), k * BLOCK_BYTES);
    if (g_inexact) { atomicOr(&fallback[blk >> 5u], 1u << (blk & 31u)); }
  }
  let w0 = first * BLOCK_BYTES / 4u;
  let nw = (count * BLOCK_BYTES + 3u) / 4u;
  for (var k = 0u; k < nw; k++) { dst[w0 + k] = out_words[k]; }
}
