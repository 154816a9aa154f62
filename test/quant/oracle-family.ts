/**
 * Which oracle test file covers a type, derived from its descriptor so that every implemented type is
 * covered by exactly one: types with a scale and a min (two fp16 fields: Q4_1, Q5_1, Q2_K, Q4_K, Q5_K) go to
 * oracle-asymmetric.test.ts, every other implemented type to oracle-symmetric.test.ts.
 */
import { implementedTypes, type QuantTraits } from '../../src/quant/registry.js';

export type OracleFamily = 'symmetric' | 'asymmetric';

export function familyOf(t: QuantTraits): OracleFamily {
  return t.layout.fp16Fields.length === 2 ? 'asymmetric' : 'symmetric';
}

/** The implemented types one oracle test file covers, in registration order. */
export function oracleFamily(family: OracleFamily): QuantTraits[] {
  return implementedTypes().filter((t) => familyOf(t) === family);
}
