/**
 * Typed errors. Each message is one line that names the file or tensor and carries the numbers a user
 * needs (offsets, expected and actual sizes, limits), so a script can print `err.message` and be done.
 *
 * Every class exits with 1: llama-quantize returns 1 on every failure (usage included) and scripts written
 * against it test for that; the class, not the exit code, tells failures apart.
 */

/** longest message kept (a corrupted length can make a quoted string huge) */
export const MAX_MESSAGE_CHARS = 2000;
/** characters of a quoted name or string shown before it is cut */
export const MAX_QUOTED_CHARS = 80;

/** `\xNN` or `\uNNNN` for one UTF-16 code unit; an escaped invalid byte (U+DC80..U+DCFF) shows as that byte. */
function escapeUnit(c: number): string {
  if (c >= 0xdc80 && c <= 0xdcff) c -= 0xdc00;
  return c < 0x100 ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u${c.toString(16).padStart(4, '0')}`;
}

/**
 * Code units that must not reach a terminal as they are: C0 and C1 controls, DEL, line/paragraph
 * separators, bidirectional overrides, BOM, and lone surrogates (escaped invalid bytes, see gguf-string.ts).
 */
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Escape everything unprintable, so a message stays one printable line whatever bytes it quotes. */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (m) => escapeUnit(m.charCodeAt(0)));
}

/**
 * A name or string from a file, quoted for a message: `'...'` with JSON-like escapes (`\xNN` for control
 * characters and invalid UTF-8 bytes, `\'` and `\\`), cut after `max` characters with `…`.
 */
export function quoteName(s: string, max = MAX_QUOTED_CHARS): string {
  const cut = s.length > max ? s.slice(0, max) : s;
  return `'${printable(cut.replace(/[\\']/g, (m) => `\\${m}`))}${cut.length < s.length ? `…' (${s.length} characters)` : "'"}`;
}

function oneLine(s: string): string {
  const p = printable(s);
  return p.length > MAX_MESSAGE_CHARS ? `${p.slice(0, MAX_MESSAGE_CHARS)}… (message cut)` : p;
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
export const IMATRIX_HOW_TO = 'compute one from calibration text with `webgpu-quantize imatrix -m model-f16.gguf -f calib.txt ' +
  "-o imatrix.gguf` (or llama.cpp's llama-imatrix) and pass it with --imatrix imatrix.gguf, or let --calibrate calib.txt do both";

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

/**
 * A broken invariant of this program (never bad input): the CLI prints it as an internal error with its
 * stack and exits with 2. Not a QuantizeError on purpose, so that callers and the fuzz test can tell it
 * from a refusal of bad input.
 */
export class InternalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InternalError';
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
