/**
 * Messages between the page (main.ts) and the quantization worker (worker.ts). Files and Blobs cross as
 * structured clones, which share the browser's backing store: a multi-GiB model is never copied.
 */
import type { BackendChoice } from '../src/pipeline/options.js';
import type { TensorResult } from '../src/pipeline/quantize-model.js';

export interface PageOptions {
  /** an ftype name from FTYPES (`Q4_K_M`, `COPY`) */
  ftype: string;
  pure: boolean;
  leaveOutputTensor: boolean;
  /** ggml type names (`q8_0`), or undefined for llama-quantize's choice */
  outputTensorType?: string;
  tokenEmbeddingType?: string;
  backend: BackendChoice;
}

export type OutputTarget =
  /** collect in memory, come back as a Blob */
  | { kind: 'memory' }
  /** stream into a file the user picked (showSaveFilePicker) or an origin-private file */
  | { kind: 'file'; handle: FileSystemFileHandle };

export interface RunMessage {
  type: 'run';
  /** every file dropped for the model: one file, or all shards of a split model */
  model: File[];
  imatrix: File | null;
  options: PageOptions;
  /** the output name shown in the log (the file name, nothing is written under it in memory mode) */
  outputName: string;
  output: OutputTarget;
}

export type WorkerMessage =
  | { type: 'log'; level: 'info' | 'warn'; line: string }
  | { type: 'progress'; done: number; total: number }
  /** one tensor written: the page's per-tensor table */
  | { type: 'tensor'; result: TensorResult }
  | { type: 'done'; backend: string; blob: Blob | null; bytesWritten: number; sizeIn: number; sizeOut: number; ms: number }
  /** `name` is the error class (QuantizeError subclasses carry one-line messages) */
  | { type: 'error'; name: string; message: string; quantizeError: boolean };
