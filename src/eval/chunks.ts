/**
 * How llama-imatrix and llama-perplexity cut a tokenized text: `n_chunk = min(--chunks, floor(tokens /
 * n_ctx))` chunks of n_ctx tokens, each evaluated as its own sequence from position 0 with its first token
 * replaced by BOS when the vocabulary adds one; scored over its second half (positions n_ctx/2 .. n_ctx-2
 * predicting the next token).
 */
import { QuantizeError } from '../errors.js';

/** The text of a `-f FILE` as llama.cpp's common reader gives it: one trailing newline dropped. */
export function promptText(text: string): string {
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

export interface ChunkPlan {
  readonly nCtx: number;
  readonly nChunk: number;
  /** first scored position: n_ctx/2 */
  readonly first: number;
}

export function planChunks(nTokens: number, nCtx: number, maxChunks: number | undefined, what: string): ChunkPlan {
  if (!(nCtx >= 2)) throw new QuantizeError(`${what}: context size ${nCtx} is too small`);
  if (nTokens < 2 * nCtx) {
    throw new QuantizeError(`${what}: the text tokenizes to only ${nTokens} tokens; a context of ${nCtx} needs at least ${2 * nCtx}`);
  }
  const max = Math.floor(nTokens / nCtx);
  const nChunk = maxChunks !== undefined && maxChunks >= 0 ? Math.min(maxChunks, max) : max;
  return { nCtx, nChunk, first: Math.floor(nCtx / 2) };
}

/** The tokens of chunk `i` as evaluated: a copy, with BOS at position 0 when `bos` is given. */
export function chunkTokens(tokens: ArrayLike<number>, plan: ChunkPlan, i: number, bos: number | null): Int32Array {
  const c = Int32Array.from({ length: plan.nCtx }, (_, k) => tokens[i * plan.nCtx + k]);
  if (bos !== null) c[0] = bos;
  return c;
}

/**
 * Negative log-likelihood of `target` under one row of logits, as perplexity.cpp's log_softmax computes
 * it (max subtracted, exp summed in double).
 */
export function tokenNll(logits: Float32Array, offset: number, nVocab: number, target: number): number {
  let max = logits[offset];
  for (let i = 1; i < nVocab; i++) if (logits[offset + i] > max) max = logits[offset + i];
  let sum = 0;
  for (let i = 0; i < nVocab; i++) sum += Math.fround(Math.exp(logits[offset + i] - max));
  return -(logits[offset + target] - max - Math.log(sum));
}

/** Running perplexity with its uncertainty (sum and sum of squares of the NLLs), as the tools print it. */
export class PplAccumulator {
  nll = 0;
  nll2 = 0;
  count = 0;
  add(v: number): void {
    this.nll += v;
    this.nll2 += v * v;
    this.count++;
  }
  get ppl(): number {
    return Math.exp(this.nll / this.count);
  }
  /** [ppl, ±] as "Final estimate: PPL = %.4lf +/- %.5lf" */
  final(): [number, number] {
    const mean = this.nll / this.count;
    const var2 = this.nll2 / this.count - mean * mean;
    const ppl = Math.exp(mean);
    return [ppl, var2 > 0 ? Math.sqrt(var2 / (this.count - 1)) * ppl : 0];
  }
}
