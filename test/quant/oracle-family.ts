/**
 * Which oracle test file covers a type, derived from its descriptor so that every implemented type is
 * covered by exactly one: the grid i-quants (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S: codebook searches, imatrix
 * required by some, ggml aborts on out-of-range blocks) go to oracle-iq-grid.test.ts, types with a scale and a
 * min (two fp16 fields: Q4_1, Q5_1, Q2_K, Q4_K, Q5_K) to oracle-asymmetric.test.ts, every other implemented
 * type to oracle-symmetric.test.ts.
 */
import { implementedTypes, type QuantTraits } from '../../src/quant/registry.js';

export type OracleFamily = 'symmetric' | 'asymmetric' | 'iq-grid';

export function familyOf(t: QuantTraits): OracleFamily {
  if (/^iq[23]_/.test(t.layout.name)) return 'iq-grid';
  return t.layout.fp16Fields.length === 2 ? 'asymmetric' : 'symmetric';
}

/** The implemented types one oracle test file covers, in registration order. */
export function oracleFamily(family: OracleFamily): QuantTraits[] {
  return implementedTypes().filter((t) => familyOf(t) === family);
}
