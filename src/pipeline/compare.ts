/**
 * GPU-versus-CPU comparison for kernel developers: every tensor the plan converts is quantized by both
 * backends, block by block. Reports the identical-block rate, the largest absolute difference of the
 * dequantized values, each backend's time, and where backend A computed its blocks. Browser-safe; works
 * for any two backends.
 *
 * A comparison passes only when every block is identical AND backend A did its own work: no block the
 * host rule finds ordinary went to the host fallback (src/gpu/fallback.ts: only blocks flagged for
 * subnormal/overflow inputs may), and no tensor ran on the CPU for want of a kernel.
 */
import { readTensorRows, toFloat32, type GgufModel } from '../formats/gguf-model.js';
import { imatrixFor, type Imatrix } from '../formats/imatrix.js';
import { rowSize, typeLayout, type GgmlType } from '../core/ggml-type.js';
import { dequantizeRows, quantType } from '../quant/registry.js';
import { UnsupportedTypeError, quoteName } from '../errors.js';
import { blockCountsSince, type BlockCounts, type QuantizeBackend } from './backend.js';
import type { QuantizeOptions } from './options.js';
import { planRun } from './quantize-model.js';

export interface TensorComparison {
  tensor: string;
  type: GgmlType;
  blocks: number;
  identicalBlocks: number;
  /** max |dequant(a) - dequant(b)| over the tensor (0 when identical) */
  maxAbsDiff: number;
  /** index of the first differing block, -1 if none */
  firstDiffBlock: number;
  msA: number;
  msB: number;
  /** where backend A computed this tensor's blocks (GPU backends), else null */
  countsA: BlockCounts | null;
}

export interface Comparison {
  tensors: TensorComparison[];
  blocks: number;
  identicalBlocks: number;
  maxAbsDiff: number;
  msA: number;
  msB: number;
  /** where backend A computed its blocks (GPU backends), else null */
  countsA: BlockCounts | null;
  /** why the comparison fails: differing blocks, ordinary blocks on the host; empty when it passes */
  problems: string[];
}

const ZERO: BlockCounts = { device: 0, fallback: 0, ordinaryFallback: 0, noKernel: 0 };
const addCounts = (a: BlockCounts, b: BlockCounts): BlockCounts => blockCountsSince(a, { device: -b.device, fallback: -b.fallback, ordinaryFallback: -b.ordinaryFallback, noKernel: -b.noKernel });

/** Compare two quantized buffers of `type` block by block. */
export function compareBlocks(type: GgmlType, a: Uint8Array, b: Uint8Array): { blocks: number; identical: number; first: number; maxAbsDiff: number } {
  const t = typeLayout(type);
  const blocks = a.length / t.typeSize;
  let identical = 0;
  let first = -1;
  const diff: number[] = [];
  for (let k = 0; k < blocks; k++) {
    let same = true;
    for (let i = k * t.typeSize, end = i + t.typeSize; i < end; i++) if (a[i] !== b[i]) { same = false; break; }
    if (same) identical++;
    else { if (first < 0) first = k; diff.push(k); }
  }
  let maxAbsDiff = 0;
  const q = quantType(type);
  if (q && diff.length) {
    const va = new Float32Array(t.blockSize);
    const vb = new Float32Array(t.blockSize);
    for (const k of diff) {
      dequantizeRows(q, a.subarray(k * t.typeSize, (k + 1) * t.typeSize), va, t.blockSize);
      dequantizeRows(q, b.subarray(k * t.typeSize, (k + 1) * t.typeSize), vb, t.blockSize);
      for (let i = 0; i < t.blockSize; i++) {
        const d = Math.abs(va[i] - vb[i]);
        if (d > maxAbsDiff || Number.isNaN(d)) maxAbsDiff = Number.isNaN(d) ? Infinity : d;
      }
    }
  }
  return { blocks, identical, first, maxAbsDiff };
}

export async function compareBackends(args: {
  model: GgufModel; options: QuantizeOptions; imatrix: Imatrix | null;
  a: QuantizeBackend; b: QuantizeBackend;
  onTensor?: (c: TensorComparison) => void;
  now?: () => number;
}): Promise<Comparison> {
  const now = args.now ?? (() => performance.now());
  const plan = planRun(args.model, { ...args.options, dryRun: true }, args.imatrix);
  const info = new Map(args.model.tensors.map((t) => [t.name, t]));
  const entries = plan.entries.filter((e) => e.quantize && !typeLayout(e.sourceType).isQuantized);
  for (const e of entries) {
    for (const [side, b] of [['A', args.a], ['B', args.b]] as const) {
      if (!b.supports(e.targetType)) {
        const name = typeLayout(e.targetType).name;
        throw new UnsupportedTypeError(`compare: tensor ${quoteName(e.name)} needs type ${name}, which ${side} (${b.description}) cannot quantize${b.kind === 'gpu' ? ' (no GPU kernel yet)' : ''}`, name);
      }
    }
  }
  const out: Comparison = { tensors: [], blocks: 0, identicalBlocks: 0, maxAbsDiff: 0, msA: 0, msB: 0, countsA: args.a.blockCounts ? { ...ZERO } : null, problems: [] };
  for (const e of entries) {
    const t = info.get(e.sourceName)!;
    const n = t.ne[0];
    const rows = t.ne[1] * t.ne[2] * t.ne[3];
    const imatrix = args.imatrix ? imatrixFor(args.imatrix, e.sourceName, n, t.ne[2], e.name) : null;
    const step = Math.max(1, Math.floor(args.options.maxBufferSize / (rowSize(t.type, n) + 4 * n)));
    const c: TensorComparison = { tensor: e.name, type: e.targetType, blocks: 0, identicalBlocks: 0, maxAbsDiff: 0, firstDiffBlock: -1, msA: 0, msB: 0, countsA: null };
    const counts0 = args.a.blockCounts?.();
    for (let r = 0; r < rows; r += step) {
      const m = Math.min(step, rows - r);
      const f32 = toFloat32(t.type, await readTensorRows(args.model.sources[t.shard], t, r, m));
      for (let k = 0; k < m;) {
        const row = r + k;
        const seg = Math.min(m - k, t.ne[1] - (row % t.ne[1]));
        const expert = Math.floor(row / t.ne[1]);
        const job = {
          type: e.targetType, src: f32.slice(k * n, (k + seg) * n), nrows: seg, nPerRow: n,
          imatrix: imatrix ? imatrix.subarray(expert * n, (expert + 1) * n) : null, label: e.name,
        };
        let t0 = now();
        const qa = await args.a.quantize({ ...job, src: job.src.slice() });
        c.msA += now() - t0;
        t0 = now();
        const qb = await args.b.quantize({ ...job, src: job.src.slice() });
        c.msB += now() - t0;
        const cmp = compareBlocks(e.targetType, qa, qb);
        if (c.firstDiffBlock < 0 && cmp.first >= 0) c.firstDiffBlock = c.blocks + cmp.first;
        c.blocks += cmp.blocks;
        c.identicalBlocks += cmp.identical;
        c.maxAbsDiff = Math.max(c.maxAbsDiff, cmp.maxAbsDiff);
        k += seg;
      }
    }
    if (counts0) c.countsA = blockCountsSince(args.a.blockCounts!(), counts0);
    args.onTensor?.(c);
    out.tensors.push(c);
    out.blocks += c.blocks;
    out.identicalBlocks += c.identicalBlocks;
    out.maxAbsDiff = Math.max(out.maxAbsDiff, c.maxAbsDiff);
    out.msA += c.msA;
    out.msB += c.msB;
    if (out.countsA && c.countsA) out.countsA = addCounts(out.countsA, c.countsA);
  }
  if (out.identicalBlocks !== out.blocks) out.problems.push(`${out.blocks - out.identicalBlocks} of ${out.blocks} blocks differ`);
  if (out.countsA?.ordinaryFallback) out.problems.push(`${out.countsA.ordinaryFallback} ordinary blocks (inputs inside the normal range) went to the host fallback: only blocks flagged for subnormal/overflow inputs may`);
  if (out.countsA?.noKernel) out.problems.push(`${out.countsA.noKernel} blocks ran on the CPU path for want of a GPU kernel`);
  return out;
}
