/**
 * Which oracle test file covers a type, derived from its descriptor so that every implemented type is
 * covered by exactly one: the grid i-quants (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S: codebook searches, imatrix
 * required by some, ggml aborts on out-of-range blocks) go to oracle-iq-grid.test.ts, IQ1_S and IQ1_M to
 * oracle-iq1.test.ts, types with a scale and a min (two fp16 fields: Q4_1, Q5_1, Q2_K, Q4_K, Q5_K) to
 * oracle-asymmetric.test.ts, every other implemented type to oracle-symmetric.test.ts.
 */
import { GgmlType } from '../../src/core/ggml-type.js';
import { implementedTypes, type QuantTraits } from '../../src/quant/registry.js';

export type OracleFamily = 'symmetric' | 'asymmetric' | 'iq1' | 'iq-grid';

/** the exhaustive split-search types (oracle-iq1.test.ts: their imatrix rules and abort cases differ) */
const IQ1 = new Set<number>([GgmlType.IQ1_S, GgmlType.IQ1_M]);

export function familyOf(t: QuantTraits): OracleFamily {
  if (IQ1.has(t.layout.type)) return 'iq1';
  if (/^iq[23]_/.test(t.layout.name)) return 'iq-grid';
  return t.layout.fp16Fields.length === 2 ? 'asymmetric' : 'symmetric';
}

/** The implemented types one oracle test file covers, in registration order. */
export function oracleFamily(family: OracleFamily): QuantTraits[] {
  return implementedTypes().filter((t) => familyOf(t) === family);
}
