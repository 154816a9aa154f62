// ggml's rounding of a matmul's activations to the weight type's dot-product type (src/model/act-round.ts):
// mode 1 F16 and 2 BF16 (one value per invocation), 3 Q8_0 (a block of 32), 4 Q8_K (a block of 256), with
// the exact binary32 helpers (exact-f32.wgsl, half.wgsl, assembled before this file) so that the values
// are the CPU path's (a subnormal activation may differ; it does not matter at these magnitudes).
struct Params { units: u32, mode: u32, p2: u32, p3: u32, zero: u32, p5: u32, p6: u32, p7: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

const F_127: u32 = 0x42fe0000u;
const F_MINUS_127: u32 = 0xc2fe0000u;

// quantize_row_q8_0 (x86): d = fp16(amax / 127), q = nearest(x * (127 / amax)); the value d * q
fn round_q8_0(o: u32) {
  var amax = 0u;
  for (var j = 0u; j < runtime_u32(32u); j++) { amax = max(amax, x[o + j] & F_ABS); }
  let d = fp16_to_f32_bits(fp16_bits(fdiv(amax, F_127)));
  var id = 0u;
  if (amax != 0u) { id = fdiv(F_127, amax); }
  for (var j = 0u; j < runtime_u32(32u); j++) { out[o + j] = fmul(d, f_from_i32(nearest_int(fmul(x[o + j], id)))); }
}

// quantize_row_q8_K_ref: iscale = -127 / (the value of largest |x|), q = min(127, nearest(x * iscale)), d = 1 / iscale
fn round_q8_k(o: u32) {
  var amax = 0u;
  var mx = 0u;
  for (var j = 0u; j < runtime_u32(256u); j++) {
    let a = x[o + j] & F_ABS;
    if (a > amax) {
      amax = a;
      mx = x[o + j];
    }
  }
  if (amax == 0u) {
    for (var j = 0u; j < runtime_u32(256u); j++) { out[o + j] = 0u; }
    return;
  }
  let iscale = fdiv(F_MINUS_127, mx);
  let d = fdiv(F_ONE, iscale);
  for (var j = 0u; j < runtime_u32(256u); j++) { out[o + j] = fmul(d, f_from_i32(min(127, nearest_int(fmul(iscale, x[o + j]))))); }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let u = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (u >= params.units) { return; }
  switch (params.mode) {
    case 1u: { out[u] = fp16_to_f32_bits(fp16_bits(x[u])); }
    case 2u: { out[u] = bf16_bits(x[u]) << 16u; }
    case 3u: { round_q8_0(u * 32u); }
    default: { round_q8_k(u * 256u); }
  }
}
