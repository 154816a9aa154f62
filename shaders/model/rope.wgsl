// RoPE in place on rows of heads (ggml_rope_ext): pair i of the first rope_dims values of each head turns by
// the angle whose (cos, sin) the host computed as ggml does (ropeTable in src/model/llama.ts). NORM mode
// pairs adjacent values (2i, 2i+1); NEOX mode (qwen2/qwen3) pairs the halves (i, i + rope_dims/2).
struct Params { tokens: u32, heads: u32, head_dim: u32, rope_dims: u32, zero: u32, neox: u32, p6: u32, p7: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> cs: array<f32>;      // tokens x rope_dims: (cos, sin) per pair
@group(0) @binding(3) var<storage, read_write> a: array<f32>; // tokens x heads x head_dim

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let half = params.rope_dims / 2u;
  let idx = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (idx >= params.tokens * params.heads * half) { return; }
  let i = idx % half;
  let th = idx / half;
  let t = th / params.heads;
  let base = th * params.head_dim;
  let i0 = base + select(2u * i, i, params.neox != 0u);
  let i1 = base + select(2u * i + 1u, i + half, params.neox != 0u);
  let c = cs[t * params.rope_dims + 2u * i];
  let s = cs[t * params.rope_dims + 2u * i + 1u];
  let x0 = a[i0];
  let x1 = a[i1];
  // as ggml-cpu computes x0·cos − x1·sin and x0·sin + x1·cos: one fused multiply-add each over the second
  // product, rounded (shaders/lib/fused-f32.wgsl)
  g_fzero = params.zero;
  a[i0] = fma_exact(x0, c, -fx(x1 * s));
  a[i1] = fma_exact(x0, s, fx(x1 * c));
}
