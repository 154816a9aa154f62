/**
 * What each ggml type and each ftype is, for people choosing one: bits per weight, whether an importance
 * matrix is required or recommended, llama.cpp's published figures, and whether this project can produce
 * it on each backend. "Implemented" is DERIVED from the registries (quantType() for the CPU reference,
 * gpuKernel() for WGSL), so the lists follow as types are added. Browser-safe (the page uses it too).
 */
import { GgmlType, rowSize, typeLayout } from './core/ggml-type.js';
import { quantType } from './quant/registry.js';
import { gpuKernel } from './gpu/kernels.js';
import { FTYPES, type FtypeInfo } from './policy/ftype.js';
import type { ModelFacts } from './policy/model-facts.js';
import { planTensorTypes, requiresImatrix, type PlanEntry, type TypePlan } from './policy/tensor-type.js';

/**
 * llama.cpp's published figures (v0.5.0, tools/quantize): the perplexity increase its llama-quantize
 * listing states per ftype (on Llama-3-8B; F16/BF16 on Mistral-7B), and the bits per weight its
 * tools/quantize/README.md table measured on Llama-3.1-8B. Data only; no figure means none is published.
 */
const FIGURES: Record<string, { ppl?: number; pplModel?: string; bpw8B?: number }> = {
  Q4_0: { ppl: 0.4685 }, Q4_1: { ppl: 0.4511 }, Q5_0: { ppl: 0.1316 }, Q5_1: { ppl: 0.1062 },
  IQ1_S: { bpw8B: 2.0042 }, IQ1_M: { bpw8B: 2.1460 }, IQ2_XXS: { bpw8B: 2.3824 }, IQ2_XS: { bpw8B: 2.5882 },
  IQ2_S: { bpw8B: 2.7403 }, IQ2_M: { bpw8B: 2.9294 }, IQ3_XXS: { bpw8B: 3.2548 }, IQ3_XS: { bpw8B: 3.4977 },
  IQ3_S: { bpw8B: 3.6606 }, IQ3_M: { bpw8B: 3.7628 }, IQ4_XS: { bpw8B: 4.4597 }, IQ4_NL: { bpw8B: 4.6818 },
  Q2_K_S: { ppl: 3.1836, bpw8B: 2.9697 }, Q2_K: { ppl: 3.5199, bpw8B: 3.1593 },
  Q3_K_S: { ppl: 1.6321, bpw8B: 3.6429 }, Q3_K_M: { ppl: 0.6569, bpw8B: 3.9960 }, Q3_K_L: { ppl: 0.5562, bpw8B: 4.2979 },
  Q4_K_S: { ppl: 0.2689, bpw8B: 4.6672 }, Q4_K_M: { ppl: 0.1754, bpw8B: 4.8944 },
  Q5_K_S: { ppl: 0.1049, bpw8B: 5.5704 }, Q5_K_M: { ppl: 0.0569, bpw8B: 5.7036 },
  Q6_K: { ppl: 0.0217, bpw8B: 6.5633 }, Q8_0: { ppl: 0.0026, bpw8B: 8.5008 },
  F16: { ppl: 0.0020, pplModel: 'Mistral-7B', bpw8B: 16.0005 }, BF16: { ppl: -0.0050, pplModel: 'Mistral-7B' },
};

export interface LlamaCppFigures {
  /** perplexity increase over the unquantized model */
  ppl?: number;
  /** the model the perplexity was measured on */
  pplModel?: string;
  /** bits per weight of the whole Llama-3.1-8B model */
  bpw8B?: number;
}

export function llamaCppFigures(ftypeName: string): LlamaCppFigures {
  const f = FIGURES[ftypeName] ?? FIGURES[canonicalFtype(ftypeName)?.name ?? ''];
  if (!f) return {};
  return { ...f, ...(f.ppl !== undefined ? { pplModel: f.pplModel ?? 'Llama-3-8B' } : {}) };
}

/**
 * "+0.1754 ppl on Llama-3-8B, 4.89 bpw on Llama-3.1-8B" ('' when llama.cpp publishes none); `short`
 * leaves the model names out ("+0.1754 ppl, 4.89 bpw") for tables that name them once.
 */
export function figuresText(f: LlamaCppFigures, short = false): string {
  const parts: string[] = [];
  if (f.ppl !== undefined) parts.push(`${f.ppl >= 0 ? '+' : ''}${f.ppl.toFixed(4)} ppl${short ? (f.pplModel === 'Llama-3-8B' ? '' : '*') : ` on ${f.pplModel}`}`);
  if (f.bpw8B !== undefined) parts.push(`${f.bpw8B.toFixed(2)} bpw${short ? '' : ' on Llama-3.1-8B'}`);
  return parts.join(', ');
}

/**
 * How a type uses an importance matrix: `required` (ggml refuses without one), `used` (better with one),
 * `ignored` (the quantizer never reads it).
 */
export type ImatrixUse = 'required' | 'used' | 'ignored';

/** ggml quantizers that never read an imatrix, for types without a QuantTraits descriptor yet (the others say it themselves) */
const IMATRIX_IGNORED_NO_DESCRIPTOR = new Set<GgmlType>([GgmlType.NVFP4]);

export interface TypeInfo {
  type: GgmlType;
  name: string;
  bitsPerWeight: number;
  imatrix: ImatrixUse;
  /** a CPU reference quantizer is registered (src/quant/registry.ts) */
  cpu: boolean;
  /** a WGSL kernel is registered (src/gpu/kernels.ts) */
  gpu: boolean;
}

export function typeInfo(type: GgmlType): TypeInfo {
  const l = typeLayout(type);
  const traits = quantType(type);
  const ignored = traits ? traits.imatrix === 'ignored' : IMATRIX_IGNORED_NO_DESCRIPTOR.has(type);
  // 'required' as the policy refuses it (llama-quant.cpp), which covers ggml's own requirement
  const imatrix: ImatrixUse = !l.isQuantized || ignored ? 'ignored' : requiresImatrix('', type, -1) ? 'required' : 'used';
  return {
    type, name: l.name, bitsPerWeight: (l.typeSize * 8) / l.blockSize, imatrix,
    cpu: !!quantType(type), gpu: !!gpuKernel(type),
  };
}

/** A type at or below 4 bits of payload per weight (≤ 5.0 bpw with scales) whose quantizer reads an imatrix. */
export function isLowBit(type: GgmlType): boolean {
  const t = typeInfo(type);
  return typeLayout(type).isQuantized && t.bitsPerWeight <= 5 && t.imatrix !== 'ignored';
}

/** The entry an alias stands for (Q4_K -> Q4_K_M); COPY and canonical names return themselves. */
export function canonicalFtype(name: string): FtypeInfo | undefined {
  const f = FTYPES.find((x) => x.name === name.toUpperCase());
  if (!f || !f.alias) return f;
  return FTYPES.find((x) => x.id === f.id && !x.alias && !x.onlyCopy);
}

/** Why a tensor did not get the type its mix chose: `172 columns not a multiple of 256 (q4_K) → q5_0`. */
export function fallbackReason(e: PlanEntry): string | undefined {
  if (e.fallback === undefined) return undefined;
  const wanted = typeLayout(e.fallback);
  const got = typeLayout(e.targetType);
  return `${e.ne[0]} columns not a multiple of ${wanted.blockSize} (${wanted.name}) → ${got.name}${got.isQuantized ? '' : ' (no smaller block fits either)'}`;
}

/** Bytes of a tensor's data in the output: its target type when converted, its stored bytes when copied. */
export function entryBytes(e: PlanEntry): { before: number; after: number } {
  const rows = e.ne.slice(1).reduce((a, b) => a * b, 1);
  const before = rowSize(e.sourceType, e.ne[0]) * rows;
  return { before, after: e.quantize ? rowSize(e.targetType, e.ne[0]) * rows : before };
}

export interface TypeUse {
  type: string;
  /** tensors converted to it */
  tensors: number;
  cpu: boolean;
  gpu: boolean;
}

/** The types a plan converts to, with counts and where each is implemented; unimplemented ones first. */
export function planTypes(plan: TypePlan): TypeUse[] {
  const counts = new Map<GgmlType, number>();
  for (const e of plan.entries) if (e.quantize) counts.set(e.targetType, (counts.get(e.targetType) ?? 0) + 1);
  return [...counts].map(([t, n]) => {
    const i = typeInfo(t);
    return { type: i.name, tensors: n, cpu: i.cpu, gpu: i.gpu };
  }).sort((a, b) => Number(a.cpu && a.gpu) - Number(b.cpu && b.gpu) || b.tensors - a.tensors);
}

/**
 * The types a plan needs that have no CPU reference yet (every backend needs it: the GPU path falls back
 * to it), or with `gpu`, no WGSL kernel yet; null when none. The message is one line:
 * `IQ4_XS needs iq4_xs (7 tensors) and iq4_nl (2 tensors, as the fallback for rows that do not fit the block), not implemented yet`.
 */
export function missingTypesMessage(plan: TypePlan, what: string, backend: 'cpu' | 'gpu' = 'cpu'): { message: string; types: string[] } | null {
  const fallbackOnly = new Set<string>();
  for (const e of plan.entries) if (e.quantize && e.fallback !== undefined) fallbackOnly.add(typeLayout(e.targetType).name);
  for (const e of plan.entries) if (e.quantize && e.fallback === undefined) fallbackOnly.delete(typeLayout(e.targetType).name);
  const missing = planTypes(plan).filter((u) => !u[backend]);
  if (!missing.length) return null;
  const list = missing.map((u) => `${u.type} (${u.tensors} tensor${u.tensors === 1 ? '' : 's'}${fallbackOnly.has(u.type) ? ', as the fallback for rows that do not fit the block' : ''})`);
  return {
    message: `${what} needs ${list.join(' and ')}, ${backend === 'cpu' ? 'not implemented yet' : 'without a GPU kernel yet'}`,
    types: missing.map((u) => u.type),
  };
}

/**
 * The warning for a run without an importance matrix, once the plan is known: only when some tensor is
 * actually converted to a low-bit type (≤ 5 bpw, one that reads an imatrix); null otherwise.
 */
export function lowBitWarning(plan: TypePlan, ftypeName: string, hasImatrix: boolean): string | null {
  if (hasImatrix) return null;
  const counts = new Map<string, number>();
  for (const e of plan.entries) if (e.quantize && isLowBit(e.targetType)) counts.set(typeLayout(e.targetType).name, (counts.get(typeLayout(e.targetType).name) ?? 0) + 1);
  if (!counts.size) return null;
  const n = [...counts.values()].reduce((a, b) => a + b, 0);
  const list = [...counts].map(([t, k]) => `${k} ${t}`).join(', ');
  return `webgpu-quantize: WARNING: ${ftypeName} without an importance matrix: ${n} of ${plan.entries.length} tensors become low-bit types (${list}); ` +
    'quality will suffer noticeably: compute one with llama-imatrix and pass --imatrix FILE';
}

/** What an ftype will need: `required` (refused without), `recommended` (low-bit tensors), `used`, `ignored`. */
export type ImatrixNeed = 'required' | 'recommended' | 'used' | 'ignored';

export function imatrixNeed(plan: TypePlan): ImatrixNeed {
  if (plan.willRequireImatrix || plan.entries.some((e) => e.quantize && e.requiresImatrix)) return 'required';
  const converted = plan.entries.filter((e) => e.quantize);
  if (converted.some((e) => isLowBit(e.targetType))) return 'recommended';
  return converted.some((e) => typeInfo(e.targetType).imatrix !== 'ignored') ? 'used' : 'ignored';
}

export interface FtypeEstimate {
  ftype: string;
  id: number;
  description: string;
  defaultType: string;
  figures: LlamaCppFigures;
  /** set when llama-quantize would refuse this ftype for the model (the other fields are then absent) */
  error?: string;
  /** tensor data bytes of the output (what llama-quantize's "quant size" counts) */
  bytes?: number;
  bitsPerWeight?: number;
  imatrix?: ImatrixNeed;
  types?: TypeUse[];
  fallbacks?: { tensor: string; reason: string }[];
  implemented?: { cpu: boolean; gpu: boolean };
  /** the reason it cannot run on each backend, when it cannot */
  missing?: { cpu?: string; gpu?: string };
}

/** The canonical ftypes (no aliases), in llama-quantize's listing order. */
export function canonicalFtypes(): FtypeInfo[] {
  return FTYPES.filter((f) => !f.alias);
}

/** What `ftype` would produce for a model: plan it (as a dry run without an imatrix) and sum it up. */
export function estimateFtype(facts: ModelFacts, f: FtypeInfo): FtypeEstimate {
  const base: FtypeEstimate = {
    ftype: f.name, id: f.id, description: f.description, defaultType: typeLayout(f.defaultType).name,
    figures: llamaCppFigures(f.name),
  };
  let plan: TypePlan;
  try {
    plan = planTensorTypes(facts, { ftype: f.id, hasImatrix: false, onlyCopy: f.onlyCopy, dryRun: true });
  } catch (e) {
    return { ...base, error: (e as Error).message };
  }
  let bytes = 0;
  for (const e of plan.entries) bytes += entryBytes(e).after;
  const nElements = facts.tensors.reduce((n, t) => n + t.ne.reduce((a, b) => a * b, 1), 0);
  const missingCpu = missingTypesMessage(plan, f.name, 'cpu')?.message;
  const missingGpu = missingTypesMessage(plan, f.name, 'gpu')?.message;
  return {
    ...base, bytes, bitsPerWeight: nElements ? (bytes * 8) / nElements : 0, imatrix: imatrixNeed(plan),
    types: planTypes(plan),
    fallbacks: plan.entries.filter((e) => e.fallback !== undefined).map((e) => ({ tensor: e.name, reason: fallbackReason(e)! })),
    implemented: { cpu: !missingCpu, gpu: !missingGpu },
    ...(missingCpu || missingGpu ? { missing: { ...(missingCpu ? { cpu: missingCpu } : {}), ...(missingGpu ? { gpu: missingGpu } : {}) } } : {}),
  };
}

/**
 * A llama-shaped reference model (every row a multiple of 256) for the generic type list: which types
 * each ftype's mix uses on an ordinary model, without a file. `nExpert` > 0 gives a mixture of experts.
 */
export function referenceFacts(nExpert = 0): ModelFacts {
  const nEmbd = 1024, nFf = 2816, nLayer = 8, nVocab = 4096, kv = 256;
  const ffn = nExpert ? ['ffn_gate_exps', 'ffn_up_exps', 'ffn_down_exps'] : ['ffn_gate', 'ffn_up', 'ffn_down'];
  const e = nExpert ? [nExpert] : [];
  const tensors = [
    { name: 'token_embd.weight', ne: [nEmbd, nVocab], type: GgmlType.F16 },
    { name: 'output.weight', ne: [nEmbd, nVocab], type: GgmlType.F16 },
    { name: 'output_norm.weight', ne: [nEmbd], type: GgmlType.F32 },
  ];
  for (let l = 0; l < nLayer; l++) {
    const b = `blk.${l}.`;
    tensors.push(
      { name: `${b}attn_norm.weight`, ne: [nEmbd], type: GgmlType.F32 },
      { name: `${b}attn_q.weight`, ne: [nEmbd, nEmbd], type: GgmlType.F16 },
      { name: `${b}attn_k.weight`, ne: [nEmbd, kv], type: GgmlType.F16 },
      { name: `${b}attn_v.weight`, ne: [nEmbd, kv], type: GgmlType.F16 },
      { name: `${b}attn_output.weight`, ne: [nEmbd, nEmbd], type: GgmlType.F16 },
      { name: `${b}ffn_norm.weight`, ne: [nEmbd], type: GgmlType.F32 },
      { name: `${b}${ffn[0]}.weight`, ne: [nEmbd, nFf, ...e], type: GgmlType.F16 },
      { name: `${b}${ffn[1]}.weight`, ne: [nEmbd, nFf, ...e], type: GgmlType.F16 },
      { name: `${b}${ffn[2]}.weight`, ne: [nFf, nEmbd, ...e], type: GgmlType.F16 },
    );
    if (nExpert) tensors.push({ name: `${b}ffn_gate_inp.weight`, ne: [nEmbd, nExpert], type: GgmlType.F32 });
  }
  return { arch: 'llama', nLayer, nHead: 16, nHeadKv: 4, nExpert, is70B: false, tensors };
}

/**
 * Every canonical ftype on the reference models: the generic list of `--help` and the page. Sizes are
 * those of the dense model; "implemented" and the types used hold for both the dense model and a mixture
 * of experts (MXFP4_MOE, for one, only differs on experts).
 */
export function ftypeCatalog(): FtypeEstimate[] {
  const dense = referenceFacts();
  const moe = referenceFacts(8);
  return canonicalFtypes().map((f) => {
    const a = estimateFtype(dense, f);
    const b = estimateFtype(moe, f);
    if (a.error || b.error) return a.error ? a : { ...base(a), error: `${b.error} (on a mixture of experts)` };
    const types = new Map(a.types!.map((u) => [u.type, { ...u }]));
    for (const u of b.types!) if (!types.has(u.type)) types.set(u.type, { ...u });
    const missing = { ...b.missing, ...a.missing };
    return {
      ...a, types: [...types.values()],
      implemented: { cpu: a.implemented!.cpu && b.implemented!.cpu, gpu: a.implemented!.gpu && b.implemented!.gpu },
      ...(Object.keys(missing).length ? { missing } : {}),
    };
  });
}

const base = (e: FtypeEstimate): FtypeEstimate => ({ ftype: e.ftype, id: e.id, description: e.description, defaultType: e.defaultType, figures: e.figures });
