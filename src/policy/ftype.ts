/**
 * llama.cpp file types (`enum llama_ftype`, include/llama.h) and the names llama-quantize accepts for
 * them (spec §4.1, §5.5). An ftype picks the default tensor type; the mix policy (tensor-type.ts) then
 * deviates per tensor.
 */
import { GgmlType } from '../core/ggml-type.js';
import { PolicyError } from './errors.js';

export enum LlamaFtype {
  ALL_F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 7, Q5_0 = 8, Q5_1 = 9,
  Q2_K = 10, Q3_K_S = 11, Q3_K_M = 12, Q3_K_L = 13, Q4_K_S = 14, Q4_K_M = 15, Q5_K_S = 16, Q5_K_M = 17, Q6_K = 18,
  IQ2_XXS = 19, IQ2_XS = 20, Q2_K_S = 21, IQ3_XS = 22, IQ3_XXS = 23, IQ1_S = 24, IQ4_NL = 25, IQ3_S = 26, IQ3_M = 27,
  IQ2_S = 28, IQ2_M = 29, IQ4_XS = 30, IQ1_M = 31, BF16 = 32, TQ1_0 = 36, TQ2_0 = 37, MXFP4_MOE = 38, NVFP4 = 39,
  Q1_0 = 40, Q2_0 = 41,
}

/** Flag bit of `general.file_type` when the loader guessed the ftype from the tensor types (COPY mode). */
export const LLAMA_FTYPE_GUESSED = 1024;

export interface FtypeInfo {
  /** the CLI name (`Q4_K_M`, or an alias such as `Q4_K`, or `COPY`) */
  readonly name: string;
  readonly id: LlamaFtype;
  /** `llama_ftype_get_default_type` */
  readonly defaultType: GgmlType;
  /** this entry is an alias of another name for the same id */
  readonly alias: boolean;
  /** COPY: the only entry that means "copy every tensor unchanged" */
  readonly onlyCopy: boolean;
  readonly description: string;
}

const E = (name: string, id: LlamaFtype, defaultType: GgmlType, description: string, alias = false): FtypeInfo =>
  ({ name, id, defaultType, alias, onlyCopy: name === 'COPY', description });

/**
 * In llama-quantize's own listing order: a numeric id resolves to the FIRST entry with that id, which is
 * why `12` names itself `Q3_K` (the alias precedes `Q3_K_M`) and `0` is `F32`, never `COPY`.
 */
export const FTYPES: readonly FtypeInfo[] = [
  E('Q1_0', LlamaFtype.Q1_0, GgmlType.Q1_0, '1-bit, blocks of 128 (~1.1 bpw)'),
  E('Q2_0', LlamaFtype.Q2_0, GgmlType.Q2_0, '2-bit, blocks of 64 (~2.3 bpw)'),
  E('Q4_0', LlamaFtype.Q4_0, GgmlType.Q4_0, 'legacy 4-bit, scale only (4.5 bpw)'),
  E('Q4_1', LlamaFtype.Q4_1, GgmlType.Q4_1, 'legacy 4-bit, scale and min (5.0 bpw)'),
  E('MXFP4_MOE', LlamaFtype.MXFP4_MOE, GgmlType.MXFP4, 'MXFP4 experts, q8_0 elsewhere'),
  E('Q5_0', LlamaFtype.Q5_0, GgmlType.Q5_0, 'legacy 5-bit, scale only (5.5 bpw)'),
  E('Q5_1', LlamaFtype.Q5_1, GgmlType.Q5_1, 'legacy 5-bit, scale and min (6.0 bpw)'),
  E('IQ2_XXS', LlamaFtype.IQ2_XXS, GgmlType.IQ2_XXS, 'i-quant mix around 2.06 bpw (needs an imatrix)'),
  E('IQ2_XS', LlamaFtype.IQ2_XS, GgmlType.IQ2_XS, 'i-quant mix around 2.31 bpw (needs an imatrix)'),
  E('IQ2_S', LlamaFtype.IQ2_S, GgmlType.IQ2_XS, 'i-quant mix around 2.5 bpw (needs an imatrix)'),
  E('IQ2_M', LlamaFtype.IQ2_M, GgmlType.IQ2_S, 'i-quant mix around 2.7 bpw (needs an imatrix)'),
  E('IQ1_S', LlamaFtype.IQ1_S, GgmlType.IQ1_S, 'i-quant mix around 1.56 bpw (needs an imatrix)'),
  E('IQ1_M', LlamaFtype.IQ1_M, GgmlType.IQ1_M, 'i-quant mix around 1.75 bpw (needs an imatrix)'),
  E('TQ1_0', LlamaFtype.TQ1_0, GgmlType.TQ1_0, 'ternary, ~1.69 bpw'),
  E('TQ2_0', LlamaFtype.TQ2_0, GgmlType.TQ2_0, 'ternary, ~2.06 bpw'),
  E('Q2_K', LlamaFtype.Q2_K, GgmlType.Q2_K, 'K-quant mix based on q2_K'),
  E('Q2_K_S', LlamaFtype.Q2_K_S, GgmlType.Q2_K, 'K-quant mix based on q2_K, smaller (needs an imatrix)'),
  E('IQ3_XXS', LlamaFtype.IQ3_XXS, GgmlType.IQ3_XXS, 'i-quant mix around 3.06 bpw (needs an imatrix)'),
  E('IQ3_S', LlamaFtype.IQ3_S, GgmlType.IQ3_S, 'i-quant mix around 3.44 bpw'),
  E('IQ3_M', LlamaFtype.IQ3_M, GgmlType.IQ3_S, 'i-quant mix around 3.66 bpw'),
  E('Q3_K', LlamaFtype.Q3_K_M, GgmlType.Q3_K, 'same as Q3_K_M', true),
  E('IQ3_XS', LlamaFtype.IQ3_XS, GgmlType.IQ3_S, 'i-quant mix around 3.3 bpw'),
  E('Q3_K_S', LlamaFtype.Q3_K_S, GgmlType.Q3_K, 'K-quant mix based on q3_K, small'),
  E('Q3_K_M', LlamaFtype.Q3_K_M, GgmlType.Q3_K, 'K-quant mix based on q3_K, medium'),
  E('Q3_K_L', LlamaFtype.Q3_K_L, GgmlType.Q3_K, 'K-quant mix based on q3_K, large'),
  E('IQ4_NL', LlamaFtype.IQ4_NL, GgmlType.IQ4_NL, 'non-linear 4-bit, blocks of 32 (4.5 bpw)'),
  E('IQ4_XS', LlamaFtype.IQ4_XS, GgmlType.IQ4_XS, 'non-linear 4-bit, super-blocks of 256 (4.25 bpw)'),
  E('Q4_K', LlamaFtype.Q4_K_M, GgmlType.Q4_K, 'same as Q4_K_M', true),
  E('Q4_K_S', LlamaFtype.Q4_K_S, GgmlType.Q4_K, 'K-quant mix based on q4_K, small'),
  E('Q4_K_M', LlamaFtype.Q4_K_M, GgmlType.Q4_K, 'K-quant mix based on q4_K, medium'),
  E('Q5_K', LlamaFtype.Q5_K_M, GgmlType.Q5_K, 'same as Q5_K_M', true),
  E('Q5_K_S', LlamaFtype.Q5_K_S, GgmlType.Q5_K, 'K-quant mix based on q5_K, small'),
  E('Q5_K_M', LlamaFtype.Q5_K_M, GgmlType.Q5_K, 'K-quant mix based on q5_K, medium'),
  E('Q6_K', LlamaFtype.Q6_K, GgmlType.Q6_K, 'q6_K everywhere (6.56 bpw)'),
  E('Q8_0', LlamaFtype.Q8_0, GgmlType.Q8_0, '8-bit, blocks of 32 (8.5 bpw)'),
  E('F16', LlamaFtype.F16, GgmlType.F16, 'IEEE half precision'),
  E('BF16', LlamaFtype.BF16, GgmlType.BF16, 'bfloat16'),
  E('F32', LlamaFtype.ALL_F32, GgmlType.F32, 'IEEE single precision'),
  E('COPY', LlamaFtype.ALL_F32, GgmlType.F32, 'copy every tensor unchanged, quantize nothing'),
];

export interface ParsedFtype {
  id: LlamaFtype;
  /** the table's spelling of the matched entry: what llama-quantize prints and puts in `ggml-model-<NAME>.gguf` */
  name: string;
  onlyCopy: boolean;
  defaultType: GgmlType;
}

const asciiUpper = (s: string) => s.replace(/[a-z]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 32));

/**
 * C's `std::stoi`: optional leading white space and sign, then at least one digit; anything after the
 * digits is ignored (so `7b.gguf` reads as 7). undefined where stoi would throw.
 */
function stoi(s: string): number | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  if (!m) return undefined;
  const v = Number(m[1]);
  return v >= -2147483648 && v <= 2147483647 ? v : undefined;
}

/**
 * llama-quantize's `try_parse_ftype`: a case-insensitive table name, else a number read like stoi and
 * resolved to the first table entry with that id. undefined when neither matches (the CLI then reads the
 * argument as the output path). NVFP4 (39) has an id but no default type: asking for it is an error.
 */
export function parseFtype(nameOrId: string): ParsedFtype | undefined {
  const upper = asciiUpper(nameOrId);
  let hit = FTYPES.find((f) => f.name === upper);
  if (!hit) {
    const id = stoi(nameOrId);
    if (id === LlamaFtype.NVFP4 || upper === 'NVFP4') throw invalidFtype(LlamaFtype.NVFP4);
    if (id !== undefined) hit = FTYPES.find((f) => f.id === id);
  }
  return hit && { id: hit.id, name: hit.name, onlyCopy: hit.onlyCopy, defaultType: hit.defaultType };
}

function invalidFtype(id: number): PolicyError {
  return new PolicyError('invalid-ftype', `invalid output file type ${id}`);
}

const CANONICAL = new Map<number, FtypeInfo>();
for (const f of FTYPES) if (!f.alias && !f.onlyCopy) CANONICAL.set(f.id, f);

/** `llama_ftype_get_default_type`; throws "invalid output file type" for ids without one (NVFP4, unknown). */
export function ftypeDefaultType(id: number): GgmlType {
  const f = CANONICAL.get(id);
  if (!f) throw invalidFtype(id);
  return f.defaultType;
}

/** The canonical (non-alias) name of an ftype id, e.g. 12 → `Q3_K_M`; a guessed id gets ` (guessed)`. */
export function ftypeName(id: number): string {
  const guessed = (id & LLAMA_FTYPE_GUESSED) !== 0;
  const base = id & ~LLAMA_FTYPE_GUESSED;
  const name = base === LlamaFtype.NVFP4 ? 'NVFP4' : CANONICAL.get(base)?.name ?? `unknown ftype ${base}`;
  return guessed ? `${name} (guessed)` : name;
}
