/**
 * Typed errors. Each message is one line that names the file or tensor and carries the numbers a user
 * needs (offsets, expected and actual sizes, limits), so a script can print `err.message` and be done.
 *
 * Every class exits with 1: llama-quantize returns 1 on every failure (usage included) and scripts written
 * against it test for that; the class, not the exit code, tells failures apart.
 */

/** Collapse line breaks so that a message stays one line even when it quotes a file name or a string. */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

export class QuantizeError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(oneLine(message));
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** A GGUF file (model, shard or imatrix) that is malformed or that llama.cpp's reader would reject. */
export class GgufFormatError extends QuantizeError {
  constructor(readonly file: string, readonly detail: string) {
    super(`${file}: ${detail}`);
  }
}

/** An importance-matrix file that cannot be used: malformed, missing metadata, wrong sizes, NaN/Inf. */
export class ImatrixError extends QuantizeError {
  constructor(readonly file: string, readonly detail: string) {
    super(`${file}: ${detail}`);
  }
}

/** A ggml type (or ftype) that exists but this implementation, or this tensor's shape, cannot produce. */
export class UnsupportedTypeError extends QuantizeError {
  /** `message` names the type and where it was asked for; `typeName` is the ggml name when known */
  constructor(message: string, readonly typeName?: string) {
    super(message);
  }
}

export interface InvalidValueSite {
  tensor: string;
  row: number;
  column: number;
  /** the offending value (NaN, Infinity or -Infinity) */
  value: number;
  /** what was being checked, e.g. "input data" or "fp16 scale of block 3" */
  what?: string;
}

/** NaN or ±Inf in input weights or in produced data (llama.cpp's ggml_validate_row_data). */
export class InvalidWeightsError extends QuantizeError {
  readonly tensor: string;
  readonly row: number;
  readonly column: number;
  readonly value: number;
  constructor(site: InvalidValueSite) {
    super(`tensor '${site.tensor}': ${site.what ?? 'input data'} has a non-finite value (${site.value}) at row ${site.row}, column ${site.column}`);
    this.tensor = site.tensor;
    this.row = site.row;
    this.column = site.column;
    this.value = site.value;
  }
}

/** How to get an importance matrix: the one wording of every refusal of a type that needs one. */
export const IMATRIX_HOW_TO = "compute one from calibration text with llama.cpp's llama-imatrix " +
  '(llama-imatrix -m model-f16.gguf -f calibration.txt -o imatrix.gguf) and pass it with --imatrix imatrix.gguf';

/** `<what> requires an importance matrix: <how to get one>` */
export function imatrixRequiredMessage(what: string): string {
  return `${what} requires an importance matrix: ${IMATRIX_HOW_TO}`;
}

/** Bad command-line use: unknown option, ftype or type name, conflicting options, output == input. */
export class UsageError extends QuantizeError {}

/** A quantized input tensor met without --allow-requantize, or a requantization that cannot be done. */
export class RequantizeError extends QuantizeError {
  constructor(readonly tensor: string, readonly detail: string) {
    super(`tensor '${tensor}': ${detail}`);
  }
}

/** Writing the output failed: disk full, permission, rename. */
export class OutputError extends QuantizeError {
  constructor(readonly file: string, readonly detail: string, readonly bytesWritten?: number) {
    super(`${file}: ${detail}`);
  }
}

export type GpuErrorKind = 'validation' | 'out-of-memory' | 'device-lost' | 'internal' | 'unavailable';

/** A WebGPU failure; `tensor` names the tensor whose work was in flight when it is known. */
export class GpuError extends QuantizeError {
  constructor(readonly kind: GpuErrorKind, readonly detail: string, readonly tensor?: string) {
    super(`GPU ${kind}${tensor ? ` while processing tensor '${tensor}'` : ''}: ${detail}`);
  }
}
