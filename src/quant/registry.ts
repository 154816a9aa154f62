/**
 * The one table of quantizers: for each ggml type, the CPU reference that reproduces
 * `ggml_quantize_chunk` and the dequantizer that reproduces `dequantize_row_<type>`.
 * Per-type files (`q4_0.ts`, `q4_k.ts`, ...) export a `QuantImpl`; nothing else registers types.
 */
import { GgmlType, typeLayout, type TypeLayout } from './ggml-type.js';
import { F16 } from './f16.js';
import { BF16 } from './bf16.js';
import { Q8_0 } from './q8_0.js';
import { Q4_0 } from './q4_0.js';
import { Q5_0 } from './q5_0.js';
import { Q3_K } from './q3_k.js';
import { Q6_K } from './q6_k.js';
import { Q4_1 } from './q4_1.js';
import { Q5_1 } from './q5_1.js';
import { Q2_K } from './q2_k.js';
import { Q4_K } from './q4_k.js';
import { Q5_K } from './q5_k.js';
import { IQ2_XXS } from './iq2_xxs.js';
import { IQ2_XS } from './iq2_xs.js';
import { IQ2_S } from './iq2_s.js';
import { IQ3_XXS } from './iq3_xxs.js';
import { IQ3_S } from './iq3_s.js';

export interface QuantImpl {
  readonly type: GgmlType;
  /**
   * Quantize `nrows` rows of `nPerRow` floats from `src` into `dst` (ggml_quantize_chunk semantics:
   * `imatrix`, when given, holds `nPerRow` weights that apply to every row).
   * `dst` must hold exactly rowSize(type, nPerRow) * nrows bytes.
   */
  quantize(src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, imatrix: Float32Array | null): void;
  /** Dequantize `n` values (a multiple of the block size) from `src` into `dst`. */
  dequantize(src: Uint8Array, dst: Float32Array, n: number): void;
  /** ggml_quantize_requires_imatrix */
  readonly requiresImatrix?: boolean;
}

export type QuantType = TypeLayout & QuantImpl;

const IMPLS: QuantImpl[] = [
  F16, BF16, Q8_0, Q4_0, Q5_0, Q3_K, Q6_K,
  Q4_1, Q5_1, Q2_K, Q4_K, Q5_K,
  IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S,
];

const REGISTRY = new Map<number, QuantType>();
for (const impl of IMPLS) REGISTRY.set(impl.type, { ...typeLayout(impl.type), ...impl });

/** The quantizer for `type`, or undefined when this project has no kernel for it yet. */
export function quantType(type: GgmlType): QuantType | undefined {
  return REGISTRY.get(type);
}

export function implementedTypes(): QuantType[] {
  return [...REGISTRY.values()];
}
