/**
 * Errors raised by the type-mix policy. Each carries a stable `code` so callers (CLI, pipeline, tests) can
 * branch without parsing messages, plus the facts a user needs (tensor, types, shape). A QuantizeError, so
 * it exits with 1 like every llama-quantize failure.
 */
import { QuantizeError } from '../errors.js';

export type PolicyErrorCode =
  | 'invalid-ftype'
  | 'requantize-disabled'
  | 'imatrix-required'
  | 'imatrix-entry-missing'
  | 'no-fallback'
  | 'bad-layer'
  | 'invalid-pattern'
  | 'model-metadata';

export class PolicyError extends QuantizeError {
  readonly code: PolicyErrorCode;
  /** the tensor the error is about (its output name), when there is one */
  readonly tensor?: string;

  constructor(code: PolicyErrorCode, message: string, tensor?: string) {
    super(message);
    this.code = code;
    this.tensor = tensor;
  }
}
