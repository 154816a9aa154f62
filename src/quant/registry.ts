/**
 * The one table of quantization types: the `QuantTraits` descriptor (traits.ts) of every implemented type,
 * and the checked ggml_quantize_chunk / dequantize entry points built on them. The GPU kernel table
 * (src/gpu/kernels.ts) and the tests derive from `implementedTypes()`.
 *
 * How a type declares itself (the TYPE_FILES list below is the only registration point):
 *  - `src/quant/<type>.ts` exports ONE const named after the type, `export const Q4_0: QuantTraits = {...}`:
 *    `layout: typeLayout(GgmlType.Q4_0)` (src/core/ggml-type.ts), `imatrix: 'ignored' | 'optional' | 'required'`,
 *    the CPU functions with ggml's names: `quantizeRowRef(src, dst, n)` (plain path, n values = whole
 *    blocks, rows back to back), `quantizeRowImpl(src, dst, nPerRow, imatrix)` (imatrix path, ONE row:
 *    `src`/`dst` are that row's views, offsets start at 0), `dequantizeRow(src, dst, n)`; and
 *    `gpu: { wgsl, libs }` with `import wgsl from '../../shaders/<type>.wgsl'` and the shaders/lib files it
 *    needs (traits.ts WgslLib), or `gpu: null` while there is no kernel.
 *  - the functions do not check arguments: quantizeChunk / dequantizeRows do (quant-args.ts), then call
 *    quantizeRowRef for the plain path, or quantizeRowImpl row by row with the imatrix (with null when the
 *    type has no quantizeRowRef, e.g. IQ4_NL; never for 'required' types, which are refused without one).
 *  - one import and one TYPE_FILES entry here. Nothing else lists types: not kernels.ts, not the tests
 *    (test/quant/traits.test.ts fails when a descriptor, a shaders/<type>.wgsl or a kernel is left out).
 */
import type { GgmlType, TypeLayout } from '../core/ggml-type.js';
import { UsageError, imatrixRequiredMessage } from '../errors.js';
import { checkDequantizeArgs, checkQuantizeArgs } from './quant-args.js';
import type { QuantTraits } from './traits.js';
import { F16 } from './f16.js';
import { BF16 } from './bf16.js';
import { Q8_0 } from './q8_0.js';
import { Q4_0 } from './q4_0.js';
import { Q4_1 } from './q4_1.js';
import { Q5_0 } from './q5_0.js';
import { Q5_1 } from './q5_1.js';
import { Q2_K } from './q2_k.js';
import { Q3_K } from './q3_k.js';
import { Q4_K } from './q4_k.js';
import { Q5_K } from './q5_k.js';
import { Q6_K } from './q6_k.js';
import { IQ4_NL } from './iq4_nl.js';
import { IQ4_XS } from './iq4_xs.js';
import { TQ1_0 } from './tq1_0.js';
import { TQ2_0 } from './tq2_0.js';
import { MXFP4 } from './mxfp4.js';
import { Q1_0 } from './q1_0.js';
import { Q2_0 } from './q2_0.js';
import { IQ1_S } from './iq1_s.js';
import { IQ1_M } from './iq1_m.js';
import { IQ2_XXS } from './iq2_xxs.js';
import { IQ2_XS } from './iq2_xs.js';
import { IQ2_S } from './iq2_s.js';
import { IQ3_XXS } from './iq3_xxs.js';
import { IQ3_S } from './iq3_s.js';

export type { QuantTraits, ImatrixUse, WgslLib } from './traits.js';

const TYPE_FILES: readonly QuantTraits[] = [
  F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
  IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, MXFP4, Q1_0, Q2_0,
  IQ1_S, IQ1_M,
  IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S,
];

/** Throws unless the descriptor's functions fit its imatrix use (a wrong declaration fails at load). */
function checkTraits(t: QuantTraits): QuantTraits {
  const { name } = t.layout;
  const has = (fn: unknown) => typeof fn === 'function';
  if (t.imatrix === 'ignored' && (!has(t.quantizeRowRef) || has(t.quantizeRowImpl))) {
    throw new Error(`${name}: imatrix 'ignored' needs quantizeRowRef and no quantizeRowImpl`);
  }
  if (t.imatrix === 'optional' && !has(t.quantizeRowImpl)) throw new Error(`${name}: imatrix 'optional' needs quantizeRowImpl`);
  if (t.imatrix === 'required' && (has(t.quantizeRowRef) || !has(t.quantizeRowImpl))) {
    throw new Error(`${name}: imatrix 'required' needs quantizeRowImpl and no quantizeRowRef`);
  }
  return t;
}

const REGISTRY = new Map<number, QuantTraits>();
for (const t of TYPE_FILES) {
  if (REGISTRY.has(t.layout.type)) throw new Error(`${t.layout.name} is registered twice`);
  REGISTRY.set(t.layout.type, checkTraits(t));
}

/** The descriptor of `type`, or undefined when this project does not implement it yet. */
export function quantType(type: GgmlType): QuantTraits | undefined {
  return REGISTRY.get(type);
}

/** Every implemented type, in registration order. */
export function implementedTypes(): QuantTraits[] {
  return [...REGISTRY.values()];
}

function traitsOf(type: GgmlType | QuantTraits): QuantTraits {
  if (typeof type !== 'number') return type;
  const t = REGISTRY.get(type);
  if (!t) throw new RangeError(`no quantizer for ggml type ${type}`);
  return t;
}

/**
 * ggml_quantize_chunk: quantize `nrows` rows of `nPerRow` floats from `src` into `dst`. `imatrix`, when
 * given, holds `nPerRow` weights that apply to every row; 'ignored' types accept and ignore it.
 * `dst` must hold exactly rowSize(type, nPerRow) * nrows bytes (RangeError otherwise).
 */
export function quantizeChunk(
  type: GgmlType | QuantTraits, src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, imatrix: Float32Array | null,
): void {
  const t = traitsOf(type);
  const layout: TypeLayout = t.layout;
  checkQuantizeArgs(layout.type, src, dst, nrows, nPerRow, imatrix);
  const useImpl = t.imatrix !== 'ignored' && (imatrix !== null || !t.quantizeRowRef);
  if (!useImpl) {
    t.quantizeRowRef!(src, dst, nrows * nPerRow);
    return;
  }
  if (!imatrix && t.imatrix === 'required') throw new UsageError(imatrixRequiredMessage(`${layout.name} (ggml_quantize_requires_imatrix)`));
  const rowBytes = (nPerRow / layout.blockSize) * layout.typeSize;
  for (let r = 0; r < nrows; r++) {
    t.quantizeRowImpl!(src.subarray(r * nPerRow, (r + 1) * nPerRow), dst.subarray(r * rowBytes, (r + 1) * rowBytes), nPerRow, imatrix);
  }
}

/** dequantize_row_<type> with argument checks: `n` values (a whole number of blocks) from `src` into `dst`. */
export function dequantizeRows(type: GgmlType | QuantTraits, src: Uint8Array, dst: Float32Array, n: number): void {
  const t = traitsOf(type);
  checkDequantizeArgs(t.layout.type, src, dst, n);
  t.dequantizeRow(src, dst, n);
}
