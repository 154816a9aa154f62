// Entry point of the lanes kernels (lib/abi.wgsl): one workgroup of LANES_PER_BLOCK lanes quantizes the
// BLOCKS_PER_INVOCATION consecutive blocks w*BLOCKS_PER_INVOCATION ... (workgroup w), one block after the
// other. Every lane calls quantize_block_lanes(x0, row, col, o, lane) from uniform control flow, so the
// kernel may use var<workgroup> scratch and workgroupBarrier(). Any lane may write any of the block's bytes
// (each exactly once): put_byte ORs them into workgroup words, written out once the workgroup is done. A
// block is flagged for the host path when g_inexact is set in any lane during its call.

var<workgroup> wg_out: array<atomic<u32>, OUT_WORDS>;
var<workgroup> wg_flags: atomic<u32>; // bit k: block k of the workgroup set g_inexact in some lane

fn put_byte(o: u32, v: u32) { atomicOr(&wg_out[o >> 2u], (v & 0xffu) << ((o & 3u) * 8u)); }

@compute @workgroup_size(LANES_PER_BLOCK)
fn quantize_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lane: u32) {
  let first = workgroup_index(wid, nwg) * BLOCKS_PER_INVOCATION;
  if (first >= params.n_blocks) { return; } // uniform: the whole workgroup returns
  let count = min(BLOCKS_PER_INVOCATION, params.n_blocks - first);
  for (var k = lane; k < OUT_WORDS; k += LANES_PER_BLOCK) { atomicStore(&wg_out[k], 0u); }
  if (lane == 0u) { atomicStore(&wg_flags, 0u); }
  workgroupBarrier();
  for (var k = 0u; k < count; k++) {
    let blk = first + k;
    g_inexact = false;
    quantize_block_lanes(blk * BLOCK_VALUES, block_row(blk), block_col(blk), k * BLOCK_BYTES, lane);
    if (g_inexact) { atomicOr(&wg_flags, 1u << k); }
    workgroupBarrier(); // the block's scratch is free for the next one
  }
  let flags = atomicLoad(&wg_flags);
  let w0 = first * BLOCK_BYTES / 4u;
  let nw = (count * BLOCK_BYTES + 3u) / 4u;
  for (var k = lane; k < nw; k += LANES_PER_BLOCK) { dst[w0 + k] = atomicLoad(&wg_out[k]); }
  if (lane < count && (flags & (1u << lane)) != 0u) {
    let blk = first + lane;
    atomicOr(&fallback[blk >> 5u], 1u << (blk & 31u));
  }
}
