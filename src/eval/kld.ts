/**
 * llama-perplexity --kl-divergence's statistics (v0.5.0), computed in one run over both models: the base
 * model's log-probabilities are stored as llama-perplexity stores them in its `--kl-divergence-base` file
 * (per token: scale and minimum as F32, then each log-probability as a uint16 step above
 * max(min logit, max logit - 16)), and the quantized model's are compared with those decoded values, with
 * the same float arithmetic. So `ppl_base` here is, as there, the perplexity of the stored (clipped) base
 * log-probabilities; `ppl_base_full` is the plain perplexity of the base model (llama-perplexity without
 * --kl-divergence).
 */
import { nearestInt } from '../core/fp32.js';
import type { LlamaModel, MatmulBackend } from '../model/llama.js';
import { chunkTokens, planChunks, PplAccumulator, tokenNll } from './chunks.js';

const fround = Math.fround;

/** One token's stored base log-probabilities: scale, minimum, and the uint16 steps. */
interface BaseLogProbs {
  scale: number;
  minLogProb: number;
  steps: Uint16Array;
}

/** perplexity.cpp's log_softmax that writes the kl-divergence-base record; returns the NLL of `tok`. */
function encodeBase(logits: Float32Array, off: number, n: number, tok: number, out: BaseLogProbs): number {
  let max = logits[off];
  let min = logits[off];
  for (let i = 1; i < n; i++) {
    const l = logits[off + i];
    if (l > max) max = l;
    if (l < min) min = l;
  }
  min = Math.max(min, fround(max - 16));
  let sumExp = 0;
  for (let i = 0; i < n; i++) sumExp += fround(Math.exp(fround(logits[off + i] - max)));
  const logSumExp = fround(Math.log(sumExp));
  out.minLogProb = fround(fround(min - max) - logSumExp);
  out.scale = fround(fround(max - min) / 65535);
  if (out.scale) {
    const inv = fround(1 / out.scale);
    for (let i = 0; i < n; i++) {
      const l = logits[off + i];
      out.steps[i] = l > min ? nearestInt(fround(inv * fround(l - min))) & 0xffff : 0;
    }
  } else out.steps.fill(0);
  return fround(fround(max + logSumExp) - logits[off + tok]);
}

export interface KldSums {
  sumNll: number; sumNll2: number; sumNllBase: number; sumNllBase2: number; sumNllNllBase: number;
  sumKld: number; sumKld2: number; sumPDiff: number; sumPDiff2: number; sumPDiff4: number;
  maxPDiff: number; nSameTop: number; count: number;
}

const newSums = (): KldSums => ({
  sumNll: 0, sumNll2: 0, sumNllBase: 0, sumNllBase2: 0, sumNllNllBase: 0, sumKld: 0, sumKld2: 0,
  sumPDiff: 0, sumPDiff2: 0, sumPDiff4: 0, maxPDiff: 0, nSameTop: 0, count: 0,
});

/** perplexity.cpp's log_softmax against a base record: accumulates into `k`, returns [kld, Δp]. */
function compareToken(logits: Float32Array, off: number, n: number, base: BaseLogProbs, tok: number, k: KldSums): [number, number] {
  let max = logits[off];
  let imax = 0;
  for (let i = 1; i < n; i++) {
    if (logits[off + i] > max) {
      max = logits[off + i];
      imax = i;
    }
  }
  let sumExp = 0;
  for (let i = 0; i < n; i++) sumExp += fround(Math.exp(fround(logits[off + i] - max)));
  const logSumExp = fround(Math.log(sumExp));
  const { scale, minLogProb, steps } = base;
  const nll = fround(fround(max + logSumExp) - logits[off + tok]);
  k.sumNll += nll;
  k.sumNll2 += fround(nll * nll);
  const nllBase = -fround(fround(scale * steps[tok]) + minLogProb);
  k.sumNllBase += nllBase;
  k.sumNllBase2 += fround(nllBase * nllBase);
  k.sumNllNllBase += fround(nll * nllBase);
  const maxL = fround(max + logSumExp);
  let sum = 0;
  let imaxBase = -1;
  let pMax = 0;
  for (let i = 0; i < n; i++) {
    const pLogBase = fround(fround(scale * steps[i]) + minLogProb);
    if (i === 0 || pLogBase > pMax) {
      pMax = pLogBase;
      imaxBase = i;
    }
    if (pLogBase > -16) {
      const pBase = fround(Math.exp(pLogBase));
      sum += fround(pBase * fround(fround(pLogBase - logits[off + i]) + maxL));
    }
  }
  k.sumKld += sum;
  k.sumKld2 += sum * sum;
  k.count++;
  if (imax === imaxBase) k.nSameTop++;
  const pBase = fround(Math.exp(-nllBase));
  const p = fround(Math.exp(-nll));
  const pDiff = fround(p - pBase);
  k.sumPDiff += pDiff;
  const pDiff2 = fround(pDiff * pDiff);
  k.sumPDiff2 += pDiff2;
  k.sumPDiff4 += pDiff2 * pDiff2;
  k.maxPDiff = Math.max(k.maxPDiff, Math.abs(pDiff));
  return [fround(sum), pDiff];
}

function meanAndUncertainty(sum: number, sum2: number, count: number): [number, number] {
  if (count < 1) return [0, 0];
  const f = sum / count;
  const df = sum2 / count - f * f;
  return [f, df > 0 && count > 10 ? Math.sqrt(df / (count - 1)) : 0];
}

function covariance(a: number, b: number, ab: number, count: number): number {
  if (count < 10) return 0;
  return (ab / count - (a / count) * (b / count)) / (count - 1);
}

/** interpolated percentile of sorted values, as perplexity.cpp computes it */
function percentile(v: Float32Array, fraction: number): number {
  if (fraction <= 0) return v[0];
  if (fraction >= 1) return v[v.length - 1];
  let p = fround(fraction * (v.length - 1));
  const ip = Math.floor(p);
  p -= ip;
  return (1 - p) * v[ip] + p * v[Math.min(ip + 1, v.length - 1)];
}

const median = (v: Float32Array) => (v.length % 2 === 0 ? fround(0.5 * (v[v.length / 2] + v[v.length / 2 - 1])) : v[(v.length - 1) / 2]);

export interface KldStats {
  /** each [value, uncertainty] */
  ppl_q: [number, number];
  ppl_base: [number, number];
  ppl_base_full: [number, number];
  ln_ppl_ratio: [number, number];
  mean_kld: [number, number];
  median_kld: number;
  max_kld: number;
  kld_percentiles: Record<string, number>;
  mean_dp_pct: [number, number];
  rms_dp_pct: [number, number];
  max_dp_pct: number;
  same_top_p_pct: [number, number];
  tokens: number;
  chunks: number;
}

export interface KldOptions {
  nCtx: number;
  chunks?: number;
  bos: number | null;
  /** where the matmuls run (default: the CPU) */
  matmul?: MatmulBackend;
  /** after each chunk: 1-based number, total, running mean KLD */
  onChunk?: (done: number, total: number, meanKld: number) => void;
  what?: string;
}

export async function computeKld(base: LlamaModel, quant: LlamaModel, tokens: ArrayLike<number>, o: KldOptions): Promise<KldStats> {
  const nVocab = base.hp.nVocab;
  if (quant.hp.nVocab !== nVocab) throw new RangeError(`kld: the models' vocabularies differ (${nVocab} vs ${quant.hp.nVocab})`);
  const plan = planChunks(tokens.length, o.nCtx, o.chunks, o.what ?? 'kld');
  const perChunk = plan.nCtx - 1 - plan.first;
  const klds = new Float32Array(perChunk * plan.nChunk);
  const pDiffs = new Float32Array(perChunk * plan.nChunk);
  const records: BaseLogProbs[] = Array.from({ length: perChunk }, () => ({ scale: 0, minLogProb: 0, steps: new Uint16Array(nVocab) }));
  const k = newSums();
  const full = new PplAccumulator();
  let at = 0;
  for (let c = 0; c < plan.nChunk; c++) {
    const chunk = chunkTokens(tokens, plan, c, o.bos);
    const target = (i: number) => tokens[c * plan.nCtx + i + 1];
    const lb = await base.forward(chunk, { matmul: o.matmul });
    for (let i = plan.first; i < plan.nCtx - 1; i++) {
      full.add(tokenNll(lb, i * nVocab, nVocab, target(i)));
      encodeBase(lb, i * nVocab, nVocab, target(i), records[i - plan.first]);
    }
    const lq = await quant.forward(chunk, { matmul: o.matmul });
    for (let i = plan.first; i < plan.nCtx - 1; i++) {
      const [kl, dp] = compareToken(lq, i * nVocab, nVocab, records[i - plan.first], target(i), k);
      klds[at] = kl;
      pDiffs[at++] = dp;
    }
    o.onChunk?.(c + 1, plan.nChunk, k.sumKld / k.count);
  }
  klds.sort();
  pDiffs.sort();
  const logPpl = meanAndUncertainty(k.sumNll, k.sumNll2, k.count);
  const logPplBase = meanAndUncertainty(k.sumNllBase, k.sumNllBase2, k.count);
  const cov = covariance(k.sumNll, k.sumNllBase, k.sumNllNllBase, k.count);
  const pplQ = Math.exp(logPpl[0]);
  const pplB = Math.exp(logPplBase[0]);
  const kl = meanAndUncertainty(k.sumKld, k.sumKld2, k.count);
  const dp = meanAndUncertainty(k.sumPDiff, k.sumPDiff2, k.count);
  const mse = meanAndUncertainty(k.sumPDiff2, k.sumPDiff4, k.count);
  const rms = Math.sqrt(mse[0]);
  const top = k.nSameTop / k.count;
  const pct: Record<string, number> = {};
  for (const f of [0.999, 0.99, 0.95, 0.9, 0.1, 0.05, 0.01, 0.001]) pct[`${(f * 100).toFixed(1)}%`] = percentile(klds, fround(f));
  return {
    ppl_q: [pplQ, pplQ * logPpl[1]],
    ppl_base: [pplB, pplB * logPplBase[1]],
    ppl_base_full: full.final(),
    ln_ppl_ratio: [logPpl[0] - logPplBase[0], Math.sqrt(logPpl[1] ** 2 + logPplBase[1] ** 2 - 2 * cov)],
    mean_kld: kl,
    median_kld: median(klds),
    max_kld: klds[klds.length - 1],
    kld_percentiles: pct,
    mean_dp_pct: [100 * dp[0], 100 * dp[1]],
    rms_dp_pct: [100 * rms, 100 * (0.5 / rms) * mse[1]],
    max_dp_pct: 100 * pDiffs[pDiffs.length - 1],
    same_top_p_pct: [100 * top, 100 * Math.sqrt((top * (1 - top)) / (k.count - 1))],
    tokens: k.count,
    chunks: plan.nChunk,
  };
}
