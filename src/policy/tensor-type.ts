/**
 * llama-quantize's type-mix policy (spec §4, `llama_model_quantize_impl`'s preliminary pass and the checks
 * of its main loop): for a model and the run's options, every tensor's output name, type and whether
 * its bytes are converted or copied, in the order llama-quantize writes them. Pure and browser-safe.
 */
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { ftypeDefaultType } from './ftype.js';
import { PolicyError } from './errors.js';
import { imatrixRequiredMessage } from '../errors.js';
import type { ModelFacts } from './model-facts.js';
import { detect70B } from './model-facts.js';
import { mixType, type MixState } from './mix-rules.js';
import {
  TensorCategory, tensorAllowsQuantization, tensorCategory, isAttnVLike, fallbackType, requiresImatrix,
  compareTensorNames,
} from './tensor-rules.js';

export {
  TensorCategory, tensorAllowsQuantization, tensorCategory, useMoreBits, fallbackType, requiresImatrix,
  compareTensorNames, nDims, blockIndex, isAttnVLike,
} from './tensor-rules.js';
export { PolicyError } from './errors.js';

export interface TensorTypeOverride {
  /** an ECMAScript regular expression searched anywhere in the name; lower-cased before use, as the CLI does */
  pattern: string;
  type: GgmlType;
}

export interface PolicyOptions {
  /** llama_ftype id */
  ftype: number;
  /** an imatrix with at least one entry (after --include/--exclude-weights) was supplied */
  hasImatrix: boolean;
  /** the imatrix entry names, when known: a tensor that requires one and has none is an error */
  imatrixNames?: ReadonlySet<string>;
  pure?: boolean;
  leaveOutputTensor?: boolean;
  outputTensorType?: GgmlType;
  tokenEmbeddingType?: GgmlType;
  tensorTypes?: readonly TensorTypeOverride[];
  allowRequantize?: boolean;
  /** COPY: every tensor keeps its type and bytes */
  onlyCopy?: boolean;
  /** layer numbers to drop; the CLI sorts and de-duplicates them, and so does this */
  pruneLayers?: readonly number[];
  /** --dry-run: report, but do not enforce, the imatrix requirement; no requantize check */
  dryRun?: boolean;
  /**
   * --keep-split: llama-quantize then decides and writes tensors in input order (shard, then data offset)
   * instead of name order, which also changes what the running counters see. Needs `tensorShard`.
   */
  keepSplit?: boolean;
  /** where a tensor (by input name) lies in the input: its shard index and data offset */
  tensorShard?: (sourceName: string) => { shard: number; dataOffset: number };
}

export interface PlanEntry {
  /** output name (renumbered when pruning) */
  name: string;
  /** input name; also the imatrix entry it uses */
  sourceName: string;
  ne: number[];
  sourceType: GgmlType;
  targetType: GgmlType;
  /** false: bytes are copied unchanged (target equals source) */
  quantize: boolean;
  requiresImatrix: boolean;
  /** the type the shape fallback replaced, when it did */
  fallback?: GgmlType;
  allowsQuantization: boolean;
  category: TensorCategory;
}

export interface TypePlan {
  /** in write order */
  entries: PlanEntry[];
  /** tensors whose row length did not fit the chosen type's block (llama-quantize only logs this) */
  nFallback: number;
  defaultType: GgmlType;
  /** new `<arch>.block_count` when pruning, else undefined */
  blockCount?: number;
  /** some tensor requires an imatrix and none was given (dry runs warn about it) */
  willRequireImatrix: boolean;
}

const BLK_ANYWHERE = /blk\.(\d+)\./;

/**
 * `remap_layer` over tensors in loader order: pruned layers vanish, layers below the first pruned one keep
 * their number, later kept layers are numbered on from there. Returns null for a pruned tensor.
 */
function makeRemapper(prune: readonly number[]) {
  const mapped = new Map<number, string>();
  let nextId = 0;
  const remap = (name: string): string | null => {
    if (prune.length === 0) return name;
    const m = BLK_ANYWHERE.exec(name);
    if (!m) return name;
    const blk = Number(m[1]);
    if (!mapped.has(blk)) {
      if (prune.includes(blk)) mapped.set(blk, '');
      else if (blk < prune[0]) { mapped.set(blk, String(blk)); nextId = blk + 1; }
      else mapped.set(blk, String(nextId++));
    }
    const id = mapped.get(blk)!;
    if (id === '') return null;
    const at = m.index + 4;
    return name.slice(0, at) + id + name.slice(at + m[1].length);
  };
  return { remap, blockCount: () => nextId };
}

function compilePatterns(list: readonly TensorTypeOverride[]): { re: RegExp; type: GgmlType }[] {
  return list.map(({ pattern, type }) => {
    try {
      return { re: new RegExp(pattern.toLowerCase()), type };
    } catch (e) {
      throw new PolicyError('invalid-pattern', `--tensor-type: invalid regular expression '${pattern}': ${(e as Error).message}`);
    }
  });
}

interface Decision { type: GgmlType; fallback?: GgmlType; fellBack: boolean }

/** `llama_tensor_get_type` for a quantizable tensor (§4.5). */
function decideType(
  s: MixState, o: PolicyOptions, patterns: { re: RegExp; type: GgmlType }[], defaultType: GgmlType,
  name: string, ne: readonly number[], cat: TensorCategory,
): Decision {
  if (o.tokenEmbeddingType !== undefined && cat === TensorCategory.TOKEN_EMBD) {
    // per_layer_token_embd is a large table of its own: an explicit --tensor-type may name it
    const named = name === 'per_layer_token_embd.weight' && patterns.some((p) => p.re.test(name));
    if (!named) return { type: o.tokenEmbeddingType, fellBack: false };
  }
  if (o.outputTensorType !== undefined && cat === TensorCategory.OUTPUT) return { type: o.outputTensorType, fellBack: false };
  if (!typeLayout(defaultType).isQuantized) return { type: defaultType, fellBack: false };
  const manual = patterns.find((p) => p.re.test(name));
  let t = manual ? manual.type : defaultType;
  if (!manual && !o.pure) t = mixType(s, t, name, ne, o.ftype, cat);
  const f = fallbackType(t, ne[0], name);
  const fellBack = ne[0] % typeLayout(t).blockSize !== 0;
  return fellBack ? { type: f, fallback: t, fellBack } : { type: t, fellBack };
}

/** Every tensor's output type and name, in llama-quantize's write order, or the error it would stop with. */
export function planTensorTypes(model: ModelFacts, options: PolicyOptions): TypePlan {
  const o = options;
  const defaultType = ftypeDefaultType(o.ftype);
  const patterns = compilePatterns(o.tensorTypes ?? []);
  const prune = [...new Set(o.pruneLayers ?? [])].sort((a, b) => a - b);
  const { remap, blockCount } = makeRemapper(prune);

  const ordered = [...model.tensors].sort((a, b) => compareTensorNames(a.name, b.name));
  const kept: { name: string; src: (typeof ordered)[number] }[] = [];
  for (const t of ordered) {
    const name = remap(t.name);
    if (name !== null) kept.push({ name, src: t });
  }
  if (o.keepSplit) {
    if (!o.tensorShard) throw new Error('planTensorTypes: keepSplit needs tensorShard');
    const at = new Map(kept.map((k) => [k, o.tensorShard!(k.src.name)]));
    kept.sort((a, b) => at.get(a)!.shard - at.get(b)!.shard || at.get(a)!.dataOffset - at.get(b)!.dataOffset);
  }

  const cats = kept.map((k) => tensorCategory(k.name));
  const s: MixState = {
    arch: model.arch,
    nGqa: model.nHeadKv === 0 ? 0 : Math.trunc(model.nHead / model.nHeadKv),
    nExpert: model.nExpert,
    is70B: model.is70B ?? detect70B(model.arch, model.nLayer, model.nHead, model.nHeadKv, model.nExpert),
    hasImatrix: o.hasImatrix,
    tiedEmbeddings: !cats.includes(TensorCategory.OUTPUT),
    outputTensorType: o.outputTensorType,
    nAttnV: cats.filter(isAttnVLike).length,
    iAttnV: 0, nFfn: model.nLayer, iFfnDown: 0, iFfnGate: 0, iFfnUp: 0,
  };

  // the preliminary pass: types, then the "no imatrix at all" check, tensor by tensor
  const entries: PlanEntry[] = [];
  let nFallback = 0;
  let willRequireImatrix = false;
  kept.forEach(({ name, src }, i) => {
    const allows = tensorAllowsQuantization(name, src.ne, { onlyCopy: o.onlyCopy, leaveOutputTensor: o.leaveOutputTensor });
    const d: Decision = allows ? decideType(s, o, patterns, defaultType, name, src.ne, cats[i]) : { type: src.type, fellBack: false };
    if (d.fellBack) nFallback++;
    const needs = requiresImatrix(name, d.type, o.ftype);
    if (!o.hasImatrix && allows && needs) {
      if (!o.dryRun) {
        throw new PolicyError('imatrix-required',
          imatrixRequiredMessage(`this quantization (tensor ${name} would be ${typeLayout(d.type).name})`), name);
      }
      willRequireImatrix = true;
    }
    entries.push({
      name, sourceName: src.name, ne: [...src.ne], sourceType: src.type, targetType: d.type,
      quantize: d.type !== src.type, requiresImatrix: needs, allowsQuantization: allows, category: cats[i],
      ...(d.fallback !== undefined ? { fallback: d.fallback } : {}),
    });
  });

  if (!o.dryRun) checkMainLoop(entries, o);
  return { entries, nFallback, defaultType, blockCount: prune.length ? blockCount() : undefined, willRequireImatrix };
}

/** The main loop's refusals, per converted tensor in write order: a missing imatrix entry, then requantizing. */
function checkMainLoop(entries: PlanEntry[], o: PolicyOptions): void {
  for (const e of entries) {
    if (!e.quantize) continue;
    if (o.hasImatrix && o.imatrixNames && e.requiresImatrix && !o.imatrixNames.has(e.sourceName)) {
      throw new PolicyError('imatrix-entry-missing',
        `missing importance matrix entry for tensor ${e.name} (type ${typeLayout(e.targetType).name} needs one)`, e.name);
    }
    if (typeLayout(e.sourceType).isQuantized && !o.allowRequantize) {
      throw new PolicyError('requantize-disabled',
        `tensor ${e.name} is already ${typeLayout(e.sourceType).name}: requantizing it to ` +
        `${typeLayout(e.targetType).name} is disabled unless --allow-requantize is given`, e.name);
    }
  }
}
