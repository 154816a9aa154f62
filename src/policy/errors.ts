/**
 * Errors raised by the type-mix policy. Each carries a stable `code` so callers (CLI, pipeline, tests) can
 * branch without parsing messages, plus the facts a user needs (tensor, types, shape).
 * Defined locally because no shared `src/errors.ts` existed when the policy was written.
 */
export type PolicyErrorCode =
  | 'invalid-ftype'
  | 'requantize-disabled'
  | 'imatrix-required'
  | 'imatrix-entry-missing'
  | 'no-fallback'
  | 'bad-layer'
  | 'invalid-pattern';

export class PolicyError extends Error {
  readonly code: PolicyErrorCode;
  /** the tensor the error is about (its output name), when there is one */
  readonly tensor?: string;

  constructor(code: PolicyErrorCode, message: string, tensor?: string) {
    super(message);
    this.name = 'PolicyError';
    this.code = code;
    this.tensor = tensor;
  }
}
