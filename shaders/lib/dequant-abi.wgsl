// The dequantization ABI of the forward pass (src/gpu/dequant.ts): a tensor's stored bytes in, its values
// as f32 bits out, one invocation per block. A type's dequantizer, shaders/dequant/<type>.wgsl (attached to
// its descriptor as `gpuDequant`), defines BLOCK_VALUES, BLOCK_BYTES and
//   fn dequant_block(o: u32, y: u32)
// which reads the block at byte offset `o` of `stored` (in_byte, in_u16, in_i8, in_fp16) and writes its
// BLOCK_VALUES values at values[y ..] with put_value. Assembled after exact-f32.wgsl and half.wgsl: every
// product and sum goes through xmul/xadd/xsub (fmul/fadd/fsub for finite operands: no fused multiply-add,
// signed zeros as x86 gives them; integer logic for Inf and NaN), so the values are bit-identical to the
// CPU's dequantize_row (= llama.cpp's on x86) for any block, NaN signs and payloads included: the NaN bits
// only ever move through integer operations and select. Block scales are fp16 (normal in f32 even when
// subnormal in fp16) and the quants small integers, so no finite operand or result is subnormal and no
// finite product or sum overflows.

struct Params {
  n_blocks: u32,
  zero: u32, // always 0, opaque to the compiler (exact-f32.wgsl)
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stored: array<u32>;          // the tensor's bytes as stored, little-endian words
@group(0) @binding(2) var<storage, read_write> values: array<u32>;    // f32 bits, BLOCK_VALUES per block

fn in_byte(o: u32) -> u32 { return (stored[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu; }
fn in_u16(o: u32) -> u32 { return in_byte(o) | (in_byte(o + 1u) << 8u); }
fn in_i8(o: u32) -> i32 { return i32(in_byte(o) << 24u) >> 24u; }
// an fp16 value, exactly widened to f32 bits (a NaN quietened, as x86's F16C conversion does)
fn fp16_value(h: u32) -> u32 {
  let b = fp16_to_f32_bits(h);
  return select(b, b | 0x400000u, f_is_nan(b));
}
// an fp16 field
fn in_fp16(o: u32) -> u32 { return fp16_value(in_u16(o)); }
fn put_value(i: u32, bits: u32) { values[i] = bits; }
// a small integer quant as f32 bits (+0 for 0)
fn qf(q: i32) -> u32 { return f_from_i32(q); }

// The product x86 gives for any operands (a block scale or min may be Inf or NaN): fmul for finite operands;
// a NaN operand comes out as itself, quiet (the first one when both are); Inf times a zero as x86's
// default NaN 0xffc00000; Inf times anything else as an Inf with the product's sign.
fn xmul(a: u32, b: u32) -> u32 {
  let an = f_is_nan(a);
  let bn = f_is_nan(b);
  let ai = (a & F_ABS) == F_INF;
  let bi = (b & F_ABS) == F_INF;
  let nan = select(b, a, an) | 0x400000u;
  let inf = select(((a ^ b) & F_SIGN) | F_INF, 0xffc00000u, (ai & f_is_zero(b)) | (bi & f_is_zero(a)));
  return select(select(fmul(a, b), inf, ai | bi), nan, an | bn);
}

// The sum x86 gives for any operands (addss, `a` the first source): fadd for finite operands; a NaN operand
// comes out as itself, quiet (`a` when both are); Inf + (-Inf) as the default NaN; otherwise an Inf operand.
fn xadd(a: u32, b: u32) -> u32 {
  let an = f_is_nan(a);
  let bn = f_is_nan(b);
  let ai = (a & F_ABS) == F_INF;
  let bi = (b & F_ABS) == F_INF;
  let nan = select(b, a, an) | 0x400000u;
  let inf = select(select(b, a, ai), 0xffc00000u, ai & bi & (a != b));
  return select(select(fadd(a, b), inf, ai | bi), nan, an | bn);
}
// a - b as x86 computes it (subss): as xadd(a, -b), except that a NaN `b` keeps its sign
fn xsub(a: u32, b: u32) -> u32 {
  let an = f_is_nan(a);
  return select(xadd(a, fneg(b)), select(b, a, an) | 0x400000u, an | f_is_nan(b));
}

// get_scale_min_k4 (Q4_K, Q5_K): the 6-bit scale (x) and min (y) of sub-block j from the 12 bytes at `s`
fn k_scale_min(s: u32, j: u32) -> vec2u {
  if (j < 4u) { return vec2u(in_byte(s + j) & 63u, in_byte(s + j + 4u) & 63u); }
  return vec2u((in_byte(s + j + 4u) & 15u) | ((in_byte(s + j - 4u) >> 6u) << 4u),
               (in_byte(s + j + 4u) >> 4u) | ((in_byte(s + j) >> 6u) << 4u));
}
// Q4_K, Q5_K: sub-block j's scale d·sc (x) and min dmin·m (y), each product rounded
fn k_dm(s: u32, j: u32, d: u32, dmin: u32) -> vec2u {
  let sm = k_scale_min(s, j);
  return vec2u(xmul(d, qf(i32(sm.x))), xmul(dmin, qf(i32(sm.y))));
}

// kvalues_iq4nl, the IQ4_NL/IQ4_XS levels (data of the GGUF format)
const KVALUES_IQ4NL = array<i32, 16>(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
fn iq4nl_level(i: u32) -> u32 { return qf(KVALUES_IQ4NL[i]); }

const DEQUANT_WORKGROUP: u32 = 64u;

// dispatches wider than maxComputeWorkgroupsPerDimension are folded into y
@compute @workgroup_size(DEQUANT_WORKGROUP)
fn dequant_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let b = (wid.y * nwg.x + wid.x) * DEQUANT_WORKGROUP + lid;
  if (b >= params.n_blocks) { return; }
  dequant_block(b * BLOCK_BYTES, b * BLOCK_VALUES);
}
