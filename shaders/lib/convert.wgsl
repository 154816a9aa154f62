// The stored-values pass: widens a chunk's values as the file stores them (F32, F16 or BF16) to f32 bits
// for the quantization kernels, exactly (binary16 and bfloat16 -> binary32 are exact), and finds the
// first value that is Inf or NaN (ggml_validate_row_data's check on the input). Its own module and bind
// group layout (src/gpu/convert.ts): the kernels' ABI (abi.wgsl) is unchanged, they read src as before.
// Assembled after half.wgsl (fp16_to_f32_bits).

struct ConvertParams {
  n_values: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<uniform> cparams: ConvertParams;
@group(0) @binding(1) var<storage, read> stored: array<u32>;          // the values as stored, packed in words
@group(0) @binding(2) var<storage, read_write> widened: array<u32>;   // f32 bits (unused for F32)
@group(0) @binding(3) var<storage, read_write> first_bad: atomic<u32>; // 0, or n_values - (index of the first Inf/NaN)

// 0: F32 (check only: the kernels read the stored words), 1: F16, 2: BF16
override STORED_TYPE: u32 = 1u;
const CONVERT_WORKGROUP: u32 = 64u;
// stored words per invocation, grid-strided (consecutive invocations touch consecutive words): software
// drivers pay per invocation, hardware coalesces either way
const CONVERT_WORDS_PER_INVOCATION: u32 = 16u;

@compute @workgroup_size(CONVERT_WORKGROUP)
fn convert_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let n = cparams.n_values;
  let vpw = select(2u, 1u, STORED_TYPE == 0u); // values per stored word
  let n_words = (n + vpw - 1u) / vpw;
  let stride = (n_words + CONVERT_WORDS_PER_INVOCATION - 1u) / CONVERT_WORDS_PER_INVOCATION;
  let inv = (wid.y * nwg.x + wid.x) * CONVERT_WORKGROUP + lid;
  if (inv >= stride) { return; }
  var first = n; // the invocation's first non-finite value, n = none
  for (var k = 0u; k < CONVERT_WORDS_PER_INVOCATION; k++) {
    let w = inv + k * stride;
    if (w >= n_words) { break; }
    let word = stored[w];
    if (STORED_TYPE == 0u) {
      if ((word & 0x7f800000u) == 0x7f800000u) { first = min(first, w); }
      continue;
    }
    for (var h = 0u; h < 2u; h++) {
      let i = w * 2u + h;
      if (i >= n) { break; }
      let half = (word >> (h * 16u)) & 0xffffu;
      var bits: u32;
      if (STORED_TYPE == 1u) { bits = fp16_to_f32_bits(half); } else { bits = half << 16u; }
      widened[i] = bits;
      if ((bits & 0x7f800000u) == 0x7f800000u) { first = min(first, i); }
    }
  }
  // the larger n - i, the earlier the value: atomicMax keeps the first one; 0 (cleared) = none
  if (first < n) { atomicMax(&first_bad, n - first); }
}
