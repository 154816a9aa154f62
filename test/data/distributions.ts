/**
 * Seeded value distributions that stress the quantizers' decisions: the shapes of ../shared/golden's
 * synthetic model (gauss, row-scaled, student-t, outliers, uniform, laplace, edge blocks, tiny/huge,
 * discrete levels, sparse) plus subnormals and near-overflow values. Deterministic for a given seed.
 */
import { mulberry32 } from '../../src/synthetic-model.js';

export type DistributionName =
  | 'gauss' | 'row-scaled' | 'student-t' | 'outliers' | 'uniform' | 'laplace' | 'edge-blocks'
  | 'tiny-huge' | 'levels' | 'sparse' | 'subnormal' | 'huge' | 'all-zero' | 'ties';

export const DISTRIBUTIONS: DistributionName[] = [
  'gauss', 'row-scaled', 'student-t', 'outliers', 'uniform', 'laplace', 'edge-blocks',
  'tiny-huge', 'levels', 'sparse', 'subnormal', 'huge', 'all-zero', 'ties',
];

/** mulberry32: small, fast, seeded */
export const rng = mulberry32;

function gaussian(r: () => number): number {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

/** `nrows * nPerRow` values of the named distribution. */
export function generate(name: DistributionName, nrows: number, nPerRow: number, seed = 1): Float32Array {
  const r = rng(seed * 7919 + name.length * 131 + name.charCodeAt(0));
  const out = new Float32Array(nrows * nPerRow);
  for (let row = 0; row < nrows; row++) {
    const rowScale = Math.exp(3 * (r() - 0.5));
    for (let i = 0; i < nPerRow; i++) {
      const k = row * nPerRow + i;
      let v: number;
      switch (name) {
        case 'gauss': v = 0.02 * gaussian(r); break;
        case 'row-scaled': v = rowScale * 0.02 * gaussian(r); break;
        case 'student-t': { const g = gaussian(r); const c = gaussian(r) ** 2 + gaussian(r) ** 2 + gaussian(r) ** 2; v = 0.02 * g / Math.sqrt(c / 3 + 1e-6); break; }
        case 'outliers': v = r() < 0.01 ? 2 * gaussian(r) : 0.01 * gaussian(r); break;
        case 'uniform': v = r() * 2 - 1; break;
        case 'laplace': { const u = r() - 0.5; v = -0.02 * Math.sign(u) * Math.log(1 - 2 * Math.abs(u) + 1e-12); break; }
        case 'edge-blocks': {
          const block = Math.floor(i / 32) % 7;
          const j = i % 32;
          v = [0, 0.5, j === 5 ? 3 : 0, Math.abs(gaussian(r)), -Math.abs(gaussian(r)), (j % 2 ? 1 : -1) * 0.25, gaussian(r)][block];
          break;
        }
        case 'tiny-huge': v = gaussian(r) * [1e-7, 1e-30, 3e3, 1][row % 4]; break;
        case 'levels': v = (Math.floor(r() * 5) - 2) * 0.125; break;
        case 'sparse': v = r() < 0.9 ? 0 : gaussian(r); break;
        case 'subnormal': v = gaussian(r) * 1e-39; break;
        case 'huge': v = gaussian(r) * 1e4; break;
        case 'all-zero': v = (i % 2 ? -0 : 0); break;
        case 'ties': v = (Math.floor(r() * 9) - 4) * 0.5; break;
      }
      out[k] = v;
    }
  }
  return out;
}

/** A plausible importance matrix: positive, heavy-tailed, with a few zero columns. */
export function generateImatrix(nPerRow: number, seed = 3): Float32Array {
  const r = rng(seed);
  const w = new Float32Array(nPerRow);
  for (let i = 0; i < nPerRow; i++) w[i] = r() < 0.03 ? 0 : Math.exp(2 * gaussian(r));
  return w;
}
