/**
 * Weights for generated mixture-of-experts models whose router rows of experts 2 and 3 are the same (from
 * one seeded stream), so that the two experts' probabilities tie at every token and the top-k's tie order
 * decides between them; every other matrix gets small values around 0 from the model's own stream.
 */
import { mulberry32 } from '../../src/synthetic-model.js';

export function tiedRouterValues(tensor: string, row: number, out: Float32Array, rand: () => number): void {
  const router = tensor.includes('ffn_gate_inp');
  const r = router ? mulberry32(100 + Math.min(row, 2)) : rand;
  const scale = router ? 0.1 : 0.02;
  for (let i = 0; i < out.length; i++) out[i] = scale * (r() + r() + r() - 1.5);
}
