/**
 * ggml's rounding of matmul activations on the device (shaders/model/act-round.wgsl) against the CPU path's
 * roundActivations (src/model/act-round.ts), bit for bit, for F16, BF16, Q8_0 and Q8_K on activation-like
 * data: Gaussian rows with outliers, exact ties, zero blocks, negative maxima.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { roundActivations, type ActRound } from '../../src/model/act-round.js';
import { GpuForward } from '../../src/model/gpu-forward.js';
import { mulberry32 } from '../../src/synthetic-model.js';
import { gpuEnv, requireAdapterInCi } from './gpu-env.js';

const env = await gpuEnv();
requireAdapterInCi(env);
afterAll(() => env.handle?.device.destroy());

describe.skipIf(!env.handle)('activation rounding on the device = act-round.ts', () => {
  for (const mode of ['f16', 'bf16', 'q8_0', 'q8_K'] as Exclude<ActRound, 'f32'>[]) {
    it(mode, async () => {
      const rnd = mulberry32(mode.length * 31 + mode.charCodeAt(1));
      const n = 8192;
      const x = Float32Array.from({ length: n }, () => {
        const g = Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
        return rnd() < 0.01 ? g * 30 : g;
      });
      x.fill(0, 256, 512); // a zero block
      for (let i = 512; i < 768; i++) x[i] = (i % 7) - 3; // small integers: ties in every mode
      x[800] = -100; // a negative maximum
      const want = Float32Array.from(x);
      roundActivations(want, n, mode);
      const g = new GpuForward(env.handle!.device, env.handle!.adapterName);
      const got = await g.roundActivations(x, mode);
      g.destroy();
      let diff = 0;
      let first = -1;
      for (let i = 0; i < n; i++) {
        if (!Object.is(got[i], want[i])) {
          diff++;
          if (first < 0) first = i;
        }
      }
      expect(diff, `${diff} of ${n} differ, first at ${first}: x ${x[first]} gpu ${got[first]} cpu ${want[first]}`).toBe(0);
    });
  }
});
