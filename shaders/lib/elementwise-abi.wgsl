// What the forward pass's one-value-per-invocation kernels share (model/elementwise.wgsl, model/moe.wgsl;
// src/model/gpu-forward.ts assembles this file before each): the f32 operands a and b, the output out, and
// the invocation's index in a 1-D dispatch of workgroups of 64, folded into y past the per-dimension limit.
// Each kernel file declares its own Params (binding 0) and u32 buffers (bindings 4 and up).

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

/** an entry point's builtins, for index() */
struct Invocation {
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
}

fn index(v: Invocation) -> u32 { return (v.wid.y * v.nwg.x + v.wid.x) * 64u + v.lid; }
