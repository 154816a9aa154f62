/**
 * Inputs whose codes land exactly halfway between two levels, where the tie rule decides the byte:
 * IQ4 best_index_int8 takes the upper level, best_index_mxfp4 the first (lower index).
 */
import { KVALUES_IQ4NL } from '../../src/quant/iq4-search.js';

/**
 * IQ4_NL/IQ4_XS: rows of `nPerRow` (a multiple of 32) where every 32-block holds kvalues_iq4nl levels at
 * scale 1 with weight 1 (they fix the scale at exactly 1) and the 15 midpoints between levels with weight
 * 0 (they do not move it), so the final best_index sees exact ties. Returns the values and the imatrix.
 */
export function iq4HalfwayTies(nrows: number, nPerRow: number): { src: Float32Array; imatrix: Float32Array } {
  const V = Array.from(KVALUES_IQ4NL);
  const mids = V.slice(1).map((v, i) => (v + V[i]) / 2);
  const src = new Float32Array(nrows * nPerRow);
  const imatrix = new Float32Array(nPerRow);
  for (let k = 0; k < src.length; k++) {
    const b = Math.floor(k / 32);
    const j = k % 32;
    src[k] = j % 2 === 0 ? V[(j / 2 + b) % 16] : mids[(j + b) % 15];
  }
  for (let i = 0; i < nPerRow; i++) imatrix[i] = i % 2 === 0 ? 1 : 0;
  return { src, imatrix };
}

/** MXFP4: blocks of 32 with max |x| = 4 (d = 0.5: levels 0, .5, 1, 1.5, 2, 3, 4, 6), the rest halfway values of both signs. */
export function mxfp4HalfwayTies(nblocks: number): Float32Array {
  const halves = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5];
  const src = new Float32Array(nblocks * 32);
  for (let k = 0; k < src.length; k++) src[k] = k % 32 === 0 ? (k % 64 ? -4 : 4) : (k % 2 ? -1 : 1) * halves[k % 7];
  return src;
}
