/**
 * The types ggml cannot quantize without an importance matrix (`ggml_quantize_requires_imatrix`: IQ2_XXS,
 * IQ2_XS, IQ1_S) refuse a call without one, as ggml_quantize_chunk asserts; the message says how to get one.
 */
import { UsageError } from '../errors.js';
import { typeLayout, type GgmlType } from './ggml-type.js';

/** How to get an importance matrix, appended to every "needs an imatrix" refusal. */
export const IMATRIX_HOWTO =
  'compute one with llama.cpp\'s llama-imatrix (llama-imatrix -m model-f16.gguf -f calibration.txt -o imatrix.gguf) and pass it with --imatrix imatrix.gguf';

/** Returns `imatrix`, or throws a UsageError naming the type when there is none. */
export function requireImatrix(type: GgmlType, imatrix: Float32Array | null): Float32Array {
  if (imatrix) return imatrix;
  throw new UsageError(`${typeLayout(type).name} cannot be quantized without an importance matrix: ${IMATRIX_HOWTO}`);
}
