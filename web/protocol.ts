/**
 * Messages between the page (main.ts) and the quantization worker (worker.ts). Files and Blobs cross as
 * structured clones, which share the browser's backing store: a multi-GiB model is never copied.
 */
import type { BackendChoice } from '../src/pipeline/options.js';
import type { TensorResult } from '../src/pipeline/quantize-model.js';
import type { KldStats } from '../src/eval/kld.js';

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
  /** make the imatrix on this text first (llama-imatrix's pass) and quantize with it; overrides `imatrix` */
  calibration?: EvalText | null;
}

/** A text for the forward passes: cut into `chunks` chunks of `ctx` tokens (-1: as many as it holds), as -c and --chunks. */
export interface EvalText {
  text: File;
  ctx: number;
  chunks: number;
}

/** "Check quality": llama-perplexity --kl-divergence's statistics of `quantized` against the original `model`. */
export interface CheckMessage {
  type: 'check';
  model: File[];
  /** the bytes the run wrote: the in-memory Blob or the saved file, read again */
  quantized: Blob;
  quantizedName: string;
  eval: EvalText;
  backend: BackendChoice;
}

export type JobMessage = RunMessage | CheckMessage;

export type WorkerMessage =
  | { type: 'log'; level: 'info' | 'warn'; line: string }
  | { type: 'progress'; done: number; total: number }
  /** one tensor written: the page's per-tensor table */
  | { type: 'tensor'; result: TensorResult }
  /** a forward pass finished chunk `done` of `total` (imatrix: running perplexity; check: running mean KLD) */
  | { type: 'chunk'; step: 'imatrix' | 'check'; done: number; total: number; value: number }
  /** the imatrix made from the calibration text, as the CLI writes it (GGUF imatrix format) */
  | { type: 'imatrix'; blob: Blob; name: string; dataset: string; chunks: number; chunkSize: number; entries: number; ppl: [number, number]; matmul: string }
  | { type: 'checked'; stats: KldStats; matmul: string; ms: number }
  | { type: 'done'; backend: string; blob: Blob | null; bytesWritten: number; sizeIn: number; sizeOut: number; ms: number }
  /** `name` is the error class (QuantizeError subclasses carry one-line messages) */
  | { type: 'error'; name: string; message: string; quantizeError: boolean };
