/**
 * shaders/lib/fused-f32.wgsl on this adapter against the CPU path's pieces (src/model/cpu-simd-math.ts and
 * fround(Math.exp)): fma_exact on the midpoint cases of test/eval/cpu-simd-math.test.ts and on random
 * operands, v_expf and exp_ff on the ranges the forward pass feeds them, each bit for bit with counts. Also
 * records what WGSL's own fma() does here (SwiftShader: not fused), the reason the library exists.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fusedWgsl from '../../shaders/lib/fused-f32.wgsl';
import { fma32, vExpf } from '../../src/model/cpu-simd-math.js';
import { mulberry32 } from '../../src/synthetic-model.js';
import { gpuEnv, requireAdapterInCi } from './gpu-env.js';

const env = await gpuEnv();
requireAdapterInCi(env);
afterAll(() => env.handle?.device.destroy());
const f = Math.fround;

/** runs `expr` (WGSL over v: vec4f) per input vec4 and returns one f32 per input */
async function run(expr: string, inputs: Float32Array): Promise<Float32Array> {
  const d = env.handle!.device;
  const n = inputs.length / 4;
  const code = `${fusedWgsl}
struct P { n: u32, zero: u32, p2: u32, p3: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  g_fzero = p.zero;
  if (g.x >= p.n) { return; }
  let v = x[g.x];
  o[g.x] = ${expr};
}`;
  d.pushErrorScope('validation');
  const pipe = d.createComputePipeline({ layout: 'auto', compute: { module: d.createShaderModule({ code }), entryPoint: 'main' } });
  const err = await d.popErrorScope();
  if (err) throw new Error(`fused-f32.wgsl test kernel: ${err.message}`);
  const bx = d.createBuffer({ size: inputs.byteLength, usage: 0x80 | 0x8 });
  d.queue.writeBuffer(bx, 0, inputs.buffer as ArrayBuffer, inputs.byteOffset, inputs.byteLength);
  const bo = d.createBuffer({ size: n * 4, usage: 0x80 | 0x4 });
  const bu = d.createBuffer({ size: 16, usage: 0x40 | 0x8 });
  d.queue.writeBuffer(bu, 0, new Uint32Array([n, 0, 0, 0]));
  const rb = d.createBuffer({ size: n * 4, usage: 0x1 | 0x8 });
  const enc = d.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipe);
  pass.setBindGroup(0, d.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [bx, bo, bu].map((buffer, binding) => ({ binding, resource: { buffer } })) }));
  pass.dispatchWorkgroups(Math.ceil(n / 64));
  pass.end();
  enc.copyBufferToBuffer(bo, 0, rb, 0, n * 4);
  d.queue.submit([enc.finish()]);
  await rb.mapAsync(1);
  const out = new Float32Array(rb.getMappedRange().slice(0));
  rb.unmap();
  for (const b of [bx, bo, bu, rb]) b.destroy();
  return out;
}

function differing(got: Float32Array, want: (i: number) => number): number[] {
  const bad: number[] = [];
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], f(want(i))) && !(Number.isNaN(got[i]) && Number.isNaN(want(i)))) bad.push(i);
  return bad;
}

const ulp1 = 2 ** -23;
/** the midpoint cases of test/eval/cpu-simd-math.test.ts: a fused result differs from the unfused one in each but the 2nd and 4th */
const MIDPOINTS: [number, number, number][] = [
  [f(1 + 2 ** -12), f(1 + 2 ** -12), -1],
  [f(1 + ulp1), f(2 ** -24 * (1 - ulp1)), 1],
  [f(1 + ulp1), f(2 ** -24 * (1 - ulp1)), f(1 + ulp1)],
  [1, f(2 ** -24), 1],
  [1, f(2 ** -24), f(1 + ulp1)],
];

describe.skipIf(!env.handle)('fused-f32.wgsl', () => {
  it('WGSL fma() here, and fma_exact on the midpoint cases', async () => {
    const inp = Float32Array.from(MIDPOINTS.flatMap((c) => [...c, 0]));
    const native = await run('fma(v.x, v.y, v.z)', inp);
    const nativeFused = MIDPOINTS.filter(([a, b, c], i) => native[i] === fma32(a, b, c)).length;
    const nativeUnfused = MIDPOINTS.filter(([a, b, c], i) => native[i] === f(f(a * b) + c)).length;
    console.log(`WGSL fma() on ${env.handle!.adapterName}: ${nativeFused} of ${MIDPOINTS.length} midpoint cases as a fused multiply-add gives them, ` +
      `${nativeUnfused} as a*b then +c (the two differ in ${MIDPOINTS.filter(([a, b, c]) => fma32(a, b, c) !== f(f(a * b) + c)).length})`);
    const got = await run('fma_exact(v.x, v.y, v.z)', inp);
    expect([...got]).toEqual(MIDPOINTS.map(([a, b, c]) => fma32(a, b, c)));
    expect([...got]).toEqual([2 ** -11 + 2 ** -24, 1, 1 + ulp1, 1, 1 + 2 * ulp1]);
  });

  it('fma_exact = fma32 on 200,000 random operands of mixed scales and signs', async () => {
    const rnd = mulberry32(11);
    const N = 200_000;
    const inp = new Float32Array(4 * N);
    for (let i = 0; i < N; i++) {
      const a = f((rnd() * 2 - 1) * 2 ** Math.floor(rnd() * 20 - 10));
      const b = f((rnd() * 2 - 1) * 2 ** Math.floor(rnd() * 20 - 10));
      // c near -a*b half the time: the cancellations where a rounded product loses the most
      const c = i % 2 ? f(-a * b * (1 + (rnd() - 0.5) * 2 ** -20)) : f((rnd() * 2 - 1) * 2 ** Math.floor(rnd() * 30 - 15));
      inp.set([a, b, c, 0], 4 * i);
    }
    const got = await run('fma_exact(v.x, v.y, v.z)', inp);
    const bad = differing(got, (i) => fma32(inp[4 * i], inp[4 * i + 1], inp[4 * i + 2]));
    expect(bad.length, `first: ${bad.slice(0, 3).map((i) => `${inp.subarray(4 * i, 4 * i + 3)} -> ${got[i]}`)}`).toBe(0);
  });

  it('v_expf = vExpf and exp_ff = fround(Math.exp) over [-110, 90]', async () => {
    const rnd = mulberry32(5);
    const N = 200_000;
    const inp = new Float32Array(4 * N);
    for (let i = 0; i < N; i++) {
      const x = f(i < N / 2 ? rnd() * 200 - 110 : (rnd() * 2 - 1) * 2 ** Math.floor(rnd() * 14 - 10));
      // exp_ff's argument is h + l exactly: the double difference of two f32 (as the soft-max takes it)
      // (a second f32 near x for half of them: small differences with a low part; far for the rest)
      const y = i % 2 ? f(x + (rnd() - 0.5) * 4) : f(rnd() * 100 - 50);
      const [h, l] = [f(x - y), f(x - y - f(x - y))];
      inp.set([x, h, l, x - y], 4 * i);
    }
    const ve = await run('v_expf(v.x)', inp);
    // a subnormal result is flushed to 0 on the device (SwiftShader); SiLU adds it to 1, where it is lost either way
    const flush = (v: number) => (Math.abs(v) < 2 ** -126 ? 0 : v);
    const badV = differing(ve, (i) => flush(vExpf(inp[4 * i])));
    const ex = await run('exp_ff(v.y, v.z)', inp);
    const wantE = (i: number) => {
      const x = inp[4 * i + 1] + inp[4 * i + 2];
      return f(Math.exp(x)) < 2 ** -126 ? 0 : Math.exp(x); // subnormal results are flushed on the device
    };
    const badE = differing(ex, wantE);
    console.log(`v_expf: ${N - badV.length} of ${N} = vExpf; exp_ff: ${N - badE.length} of ${N} = fround(Math.exp)`);
    expect(badV.length, `v_expf first: ${badV.slice(0, 3).map((i) => `${inp[4 * i]} -> ${ve[i]} vs ${vExpf(inp[4 * i])}`)}`).toBe(0);
    expect(badE.length, `exp_ff first: ${badE.slice(0, 3).map((i) => `${inp[4 * i + 1]}+${inp[4 * i + 2]} -> ${ex[i]} vs ${f(wantE(i))}`)}`).toBe(0);
  });
});
