/**
 * ggml type ids, block sizes and bytes per block (ggml.h `enum ggml_type`, ggml.c `type_traits`); spec §1.2.
 * Layout facts only, for every ggml type: this project's implementations are the QuantTraits descriptors
 * (src/quant/<type>.ts, listed in src/quant/registry.ts), which reference these rows.
 */
export enum GgmlType {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39, NVFP4 = 40, Q1_0 = 41, Q2_0 = 42,
}

export const QK_K = 256;

export interface TypeLayout {
  readonly type: GgmlType;
  /** ggml's lower-case name (`q4_K`), as printed by llama-quantize and accepted (case-insensitively) by its options. */
  readonly name: string;
  /** values per block */
  readonly blockSize: number;
  /** bytes per block */
  readonly typeSize: number;
  /** a quantized (block) type, as opposed to F32/F16/BF16/integers */
  readonly isQuantized: boolean;
  /**
   * Byte offsets, inside one block, of the fp16 scale fields that ggml_validate_row_data checks for
   * Inf/NaN (e.g. a Q8_0 block whose max |x| exceeds 127*65504 stores d = +Inf, and llama.cpp refuses it).
   */
  readonly fp16Fields: readonly number[];
}

const L = (type: GgmlType, name: string, blockSize: number, typeSize: number, isQuantized = true,
  fp16Fields: readonly number[] = []): TypeLayout => ({ type, name, blockSize, typeSize, isQuantized, fp16Fields });
const Q = (type: GgmlType, name: string, blockSize: number, typeSize: number, fp16Fields: readonly number[]) =>
  L(type, name, blockSize, typeSize, true, fp16Fields);

export const TYPE_LAYOUTS: readonly TypeLayout[] = [
  L(GgmlType.F32, 'f32', 1, 4, false),
  L(GgmlType.F16, 'f16', 1, 2, false, [0]),
  Q(GgmlType.Q4_0, 'q4_0', 32, 18, [0]),
  Q(GgmlType.Q4_1, 'q4_1', 32, 20, [0, 2]),
  Q(GgmlType.Q5_0, 'q5_0', 32, 22, [0]),
  Q(GgmlType.Q5_1, 'q5_1', 32, 24, [0, 2]),
  Q(GgmlType.Q8_0, 'q8_0', 32, 34, [0]),
  Q(GgmlType.Q8_1, 'q8_1', 32, 36, [0, 2]),
  Q(GgmlType.Q2_K, 'q2_K', 256, 84, [80, 82]),
  Q(GgmlType.Q3_K, 'q3_K', 256, 110, [108]),
  Q(GgmlType.Q4_K, 'q4_K', 256, 144, [0, 2]),
  Q(GgmlType.Q5_K, 'q5_K', 256, 176, [0, 2]),
  Q(GgmlType.Q6_K, 'q6_K', 256, 210, [208]),
  Q(GgmlType.Q8_K, 'q8_K', 256, 292, []),
  Q(GgmlType.IQ2_XXS, 'iq2_xxs', 256, 66, [0]),
  Q(GgmlType.IQ2_XS, 'iq2_xs', 256, 74, [0]),
  Q(GgmlType.IQ3_XXS, 'iq3_xxs', 256, 98, [0]),
  Q(GgmlType.IQ1_S, 'iq1_s', 256, 50, [0]),
  Q(GgmlType.IQ4_NL, 'iq4_nl', 32, 18, [0]),
  Q(GgmlType.IQ3_S, 'iq3_s', 256, 110, [0]),
  Q(GgmlType.IQ2_S, 'iq2_s', 256, 82, [0]),
  Q(GgmlType.IQ4_XS, 'iq4_xs', 256, 136, [0]),
  L(GgmlType.I8, 'i8', 1, 1, false),
  L(GgmlType.I16, 'i16', 1, 2, false),
  L(GgmlType.I32, 'i32', 1, 4, false),
  L(GgmlType.I64, 'i64', 1, 8, false),
  L(GgmlType.F64, 'f64', 1, 8, false),
  Q(GgmlType.IQ1_M, 'iq1_m', 256, 56, []),
  L(GgmlType.BF16, 'bf16', 1, 2, false),
  Q(GgmlType.TQ1_0, 'tq1_0', 256, 54, [52]),
  Q(GgmlType.TQ2_0, 'tq2_0', 256, 66, [64]),
  Q(GgmlType.MXFP4, 'mxfp4', 32, 17, []),
  Q(GgmlType.NVFP4, 'nvfp4', 64, 36, []),
  Q(GgmlType.Q1_0, 'q1_0', 128, 18, [0]),
  Q(GgmlType.Q2_0, 'q2_0', 64, 18, [0]),
];

const BY_ID = new Map(TYPE_LAYOUTS.map((t) => [t.type as number, t]));
const BY_NAME = new Map(TYPE_LAYOUTS.map((t) => [t.name.toLowerCase(), t]));

export function typeLayout(type: GgmlType | number): TypeLayout {
  const t = BY_ID.get(type);
  if (!t) throw new RangeError(`unknown ggml type id ${type}`);
  return t;
}

export function hasTypeLayout(type: number): boolean {
  return BY_ID.has(type);
}

/** Case-insensitive ggml type name lookup (`Q8_0`, `q4_k`); undefined when unknown. */
export function typeByName(name: string): TypeLayout | undefined {
  return BY_NAME.get(name.toLowerCase());
}

/** Bytes of one row of `nPerRow` values (ggml_row_size). */
export function rowSize(type: GgmlType, nPerRow: number): number {
  const t = typeLayout(type);
  return (nPerRow / t.blockSize) * t.typeSize;
}
