// shaders/lib/exact-f32.wgsl and half.wgsl against binary32 arithmetic in JavaScript (Math.fround), on
// random bit patterns, typical magnitudes and edge cases: every result the library does not flag for the
// host fallback must be bit-exact, and ordinary normal cases must never be flagged.
import { afterAll, describe, expect, test } from 'vitest';
import { BASE_LIBS } from '../../src/gpu/kernels.js';
import { fp16ToFp32, fp32ToBf16, fp32ToFp16 } from '../../src/core/half.js';
import { nearestInt, roundAway } from '../../src/core/fp32.js';
import { rng } from '../data/distributions.js';
import { gpuEnv, requireAdapterInCi } from './gpu-env.js';

const env = await gpuEnv();
requireAdapterInCi(env);

const OPS = ['fadd', 'fsub', 'fmul', 'fdiv', 'fsqrt', 'nearest_int', 'f_trunc_i32', 'f_round_i32', 'fp16_bits', 'bf16_bits', 'fp16_to_f32_bits', 'compare', 'f_from_i32'] as const;
type Op = (typeof OPS)[number];

const HARNESS = `
struct Params { zero: u32, op: u32, n: u32, pad: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a_in: array<u32>;
@group(0) @binding(2) var<storage, read> b_in: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.x + g.y * nw.x * 64u;
  if (i >= params.n) { return; }
  g_inexact = false;
  let a = a_in[i];
  let b = b_in[i];
  var r = 0u;
  switch params.op {
    case 0u: { r = fadd(a, b); }
    case 1u: { r = fsub(a, b); }
    case 2u: { r = fmul(a, b); }
    case 3u: { r = fdiv(a, b); }
    case 4u: { r = fsqrt(a); }
    case 5u: { r = u32(nearest_int(a)); }
    case 6u: { r = u32(f_trunc_i32(a)); }
    case 7u: { r = u32(f_round_i32(a)); }
    case 8u: { r = fp16_bits(a); }
    case 9u: { r = bf16_bits(a); }
    case 10u: { r = fp16_to_f32_bits(a); }
    case 11u: { r = select(0u, 1u, flt(a, b)) | select(0u, 2u, fgt(a, b)) | select(0u, 4u, fle(a, b)) | select(0u, 8u, fge(a, b)); }
    case 12u: { r = f_from_i32(bitcast<i32>(a)); }
    default: {}
  }
  out[2u * i] = r;
  out[2u * i + 1u] = select(0u, 1u, g_inexact);
}`;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bits = (v: number): number => ((f32[0] = v), u32[0]);
const val = (b: number): number => ((u32[0] = b), f32[0]);
const expOf = (b: number): number => (b >>> 23) & 255;
const isNormal = (b: number): boolean => expOf(b) >= 1 && expOf(b) <= 254;
/** normal and below 2^126, where a native sum cannot overflow */
const addable = (b: number): boolean => expOf(b) >= 1 && expOf(b) <= 253;

/** Operand pairs: random bit patterns, typical magnitudes, and hand-picked edges. */
function operands(n: number, seed: number): [Uint32Array, Uint32Array] {
  const r = rng(seed);
  const a = new Uint32Array(n);
  const b = new Uint32Array(n);
  const typical = () => bits((r() < 0.5 ? -1 : 1) * 2 ** Math.floor(r() * 60 - 30) * (1 + r()));
  const edges = [0, 0x80000000, 1, 0x807fffff, 0x00800000, 0x00800001, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0x7fc00000, 0x3f800000, 0x33800000, 0x34000000, 0x3f000000, 0x4b400000, 0x7e800000, 0x1f800000, 0x20000000];
  for (let i = 0; i < n; i++) {
    const k = i % 8;
    if (k < 2) { a[i] = (r() * 2 ** 32) >>> 0; b[i] = (r() * 2 ** 32) >>> 0; }
    else if (k < 5) { a[i] = typical(); b[i] = typical(); }
    else if (k === 5) { a[i] = typical(); b[i] = a[i] ^ (r() < 0.5 ? 0x80000000 : 0); } // cancellation / equality
    else if (k === 6) { a[i] = edges[i % edges.length]; b[i] = r() < 0.5 ? edges[(i >>> 3) % edges.length] : typical(); }
    else { a[i] = typical(); b[i] = (a[i] & 0x80000000) | ((a[i] & 0x7fffffff) + ((r() * 64) | 0) - 32); } // near ties
  }
  return [a, b];
}

async function runOp(op: Op, a: Uint32Array, b: Uint32Array): Promise<{ r: Uint32Array; flag: Uint32Array }> {
  const d = env.handle!.device;
  const n = a.length;
  const module = d.createShaderModule({ code: [BASE_LIBS.exactF32, BASE_LIBS.half, HARNESS].join('\n') });
  const pipe = await d.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const mk = (size: number, usage: number) => d.createBuffer({ size, usage });
  const params = mk(16, 0x40 | 0x8);
  const ab = mk(n * 4, 0x80 | 0x8);
  const bb = mk(n * 4, 0x80 | 0x8);
  const ob = mk(n * 8, 0x80 | 0x4);
  const rb = mk(n * 8, 0x1 | 0x8);
  d.queue.writeBuffer(params, 0, new Uint32Array([0, OPS.indexOf(op), n, 0]));
  d.queue.writeBuffer(ab, 0, a as Uint32Array<ArrayBuffer>);
  d.queue.writeBuffer(bb, 0, b as Uint32Array<ArrayBuffer>);
  const enc = d.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipe);
  pass.setBindGroup(0, d.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [params, ab, bb, ob].map((buffer, binding) => ({ binding, resource: { buffer } })) }));
  pass.dispatchWorkgroups(Math.ceil(n / 64));
  pass.end();
  enc.copyBufferToBuffer(ob, 0, rb, 0, n * 8);
  d.queue.submit([enc.finish()]);
  await rb.mapAsync(1);
  const all = new Uint32Array(rb.getMappedRange().slice(0));
  rb.unmap();
  for (const x of [params, ab, bb, ob, rb]) x.destroy();
  const r = new Uint32Array(n);
  const flag = new Uint32Array(n);
  for (let i = 0; i < n; i++) { r[i] = all[2 * i]; flag[i] = all[2 * i + 1]; }
  return { r, flag };
}

const N = 1 << 15;
const f = Math.fround;
const x86Int = (v: number, t: number): number => (Number.isNaN(v) || Math.abs(v) >= 2 ** 31 ? -(2 ** 31) : t) >>> 0;

describe.skipIf(!env.handle)('exact-f32.wgsl and half.wgsl', () => {
  afterAll(() => env.handle?.device.destroy());
  const [A, B] = operands(N, 11);

  const arith: [Op, (x: number, y: number) => number, (a: number, b: number, r: number) => boolean][] = [
    // when the native path must be used: normal operands (exponent <= 253 for sums), normal result
    ['fadd', (x, y) => f(x + y), (a, b, r) => addable(a) && addable(b) && (isNormal(r) || a === (b ^ 0x80000000) >>> 0)],
    ['fsub', (x, y) => f(x - y), (a, b, r) => addable(a) && addable(b) && (isNormal(r) || a === b)],
    ['fmul', (x, y) => f(x * y), (a, b) => isNormal(a) && isNormal(b) && expOf(a) + expOf(b) >= 129 && expOf(a) + expOf(b) <= 378],
    ['fdiv', (x, y) => f(x / y), (a, b, r) => isNormal(a) && isNormal(b) && isNormal(r)],
  ];
  for (const [op, ref, mustBeExact] of arith) {
    test(`${op}: unflagged results are correctly rounded; normal cases are never flagged`, async () => {
      const { r, flag } = await runOp(op, A, B);
      let unflagged = 0;
      for (let i = 0; i < N; i++) {
        const want = bits(ref(val(A[i]), val(B[i])));
        if (mustBeExact(A[i], B[i], want)) expect(flag[i], `${op} ${A[i].toString(16)} ${B[i].toString(16)}`).toBe(0);
        if (flag[i] === 0) {
          unflagged++;
          expect(r[i].toString(16), `${op} ${A[i].toString(16)} ${B[i].toString(16)}`).toBe(want.toString(16));
        }
      }
      expect(unflagged).toBeGreaterThan(N / 2);
    });
  }

  test('fsqrt: correctly rounded on normal and zero inputs', async () => {
    const a = A.map((x, i) => (i % 3 === 0 ? x : x & 0x7fffffff));
    const { r, flag } = await runOp('fsqrt', a, B);
    for (let i = 0; i < N; i++) {
      const ok = (a[i] & 0x7fffffff) === 0 || (isNormal(a[i]) && a[i] < 0x80000000);
      expect(flag[i]).toBe(ok ? 0 : 1);
      if (ok) expect(r[i].toString(16), a[i].toString(16)).toBe(bits(Math.sqrt(val(a[i]))).toString(16));
    }
  });

  test('nearest_int, truncation and roundf follow ggml and x86 conversions', async () => {
    const small = A.map((x, i) => (i % 2 ? bits(val(x) % 4194303) : bits((val(B[i]) % 300) / 2)));
    const ni = await runOp('nearest_int', small, B);
    const tr = await runOp('f_trunc_i32', A, B);
    const ro = await runOp('f_round_i32', A, B);
    for (let i = 0; i < N; i++) {
      const v = val(small[i]);
      if (ni.flag[i] === 0 && !Number.isNaN(v)) expect(ni.r[i] | 0, `ni ${v}`).toBe(nearestInt(v));
      if (isNormal(small[i]) && Math.abs(v) < 2 ** 22 && Math.abs(v) > 2 ** -100) expect(ni.flag[i]).toBe(0);
      const w = val(A[i]);
      expect(tr.r[i], `trunc ${w}`).toBe(x86Int(w, Math.trunc(w)));
      expect(ro.r[i], `roundf ${w}`).toBe(x86Int(w, Number.isNaN(w) ? 0 : roundAway(w)));
    }
  });

  test('fp16 and bf16 packing match the CPU converters on every exponent', async () => {
    const h = await runOp('fp16_bits', A, B);
    const bf = await runOp('bf16_bits', A, B);
    for (let i = 0; i < N; i++) {
      expect(h.r[i], A[i].toString(16)).toBe(fp32ToFp16(val(A[i])));
      const v = val(A[i]);
      if (!Number.isNaN(v)) expect(bf.r[i], A[i].toString(16)).toBe(fp32ToBf16(v));
      else expect(bf.r[i]).toBe(((A[i] >>> 16) | 0x40) & 0xffff);
    }
    // every binary16 value back to binary32
    const halves = Uint32Array.from({ length: 65536 }, (_, i) => i);
    const back = await runOp('fp16_to_f32_bits', halves, halves);
    for (let i = 0; i < 65536; i++) {
      const want = fp16ToFp32(i);
      if (Number.isNaN(want)) expect(back.r[i]).toBe(((i & 0x8000) << 16 | 0x7f800000 | (i & 0x3ff) << 13) >>> 0);
      else expect(back.r[i], `half ${i.toString(16)}`).toBe(bits(want));
    }
  });

  test('comparisons and int conversion', async () => {
    const c = await runOp('compare', A, B);
    for (let i = 0; i < N; i++) {
      const x = val(A[i]);
      const y = val(B[i]);
      expect(c.r[i]).toBe((x < y ? 1 : 0) | (x > y ? 2 : 0) | (x <= y ? 4 : 0) | (x >= y ? 8 : 0));
    }
    const ints = Int32Array.from({ length: 4096 }, (_, i) => (i - 2048) * (i % 7 === 0 ? 4096 : 1));
    const u = new Uint32Array(ints.buffer);
    const fi = await runOp('f_from_i32', u, u);
    for (let i = 0; i < ints.length; i++) expect(fi.r[i]).toBe(bits(ints[i]));
  });
});
