/**
 * Replays llama.cpp's own type-selection snapshots (shared/reference/llama-quant-snapshots/*.schema,
 * from tests/test-quant-type-selection.cpp) for the models whose tensor shapes follow from the header's
 * hyper-parameters plus the architecture's fixed layout. The harness there feeds only quantizable tensors,
 * F32, no imatrix, default options; every tensor not listed in a section must get the default type.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GgmlType, typeByName } from '../../src/core/ggml-type.js';
import { parseFtype, ftypeDefaultType } from '../../src/policy/ftype.js';
import { planTensorTypes, tensorAllowsQuantization } from '../../src/policy/tensor-type.js';
import type { ModelFacts, TensorFacts } from '../../src/policy/model-facts.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = path.resolve(repoRoot, '../shared/reference/llama-quant-snapshots');

interface Header { n_embd: number; n_ff: number; n_vocab: number; n_layer: number; n_head: number; n_head_kv: number; n_expert: number }
interface Section { ftype: string; defaultType: string; overrides: Map<string, string> }

function parseSnapshot(text: string): { header: Header; sections: Section[] } {
  const header: Record<string, number> = { n_expert: 0 };
  const sections: Section[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# n_embd=')) {
      for (const kv of line.slice(2).split(', ')) { const [k, v] = kv.split('='); header[k] = Number(v); }
    } else if (line.startsWith('[')) {
      const close = line.indexOf(']');
      sections.push({ ftype: line.slice(1, close), defaultType: line.slice(close + 1).trim(), overrides: new Map() });
    } else if (line && !line.startsWith('#')) {
      const sp = line.lastIndexOf(' ');
      sections[sections.length - 1].overrides.set(line.slice(0, sp), line.slice(sp + 1));
    }
  }
  return { header: header as unknown as Header, sections };
}

interface Layout {
  arch: string;
  headDim: number;
  /** no output.weight: the token embedding doubles as the output projection */
  tied: boolean;
  /** per-layer 1-D norms beyond attn_norm / ffn_norm (never quantized, listed for completeness) */
  extraNorms: string[];
  /** mixture of experts: ffn_{gate,up,down}_exps of width n_ff and a router */
  moe: boolean;
}

/** Tensors with ggml shapes as llama.cpp's loader creates them for a standard decoder. */
function buildTensors(h: Header, l: Layout): TensorFacts[] {
  // gpt-oss's header says n_vocab=0 (the key was absent); the row count only has to be > 1 to stay 2-D
  const E = h.n_embd, q = h.n_head * l.headDim, kv = h.n_head_kv * l.headDim, V = h.n_vocab || 2;
  const t: TensorFacts[] = [];
  const add = (name: string, ...ne: number[]) => t.push({ name, ne, type: GgmlType.F32 });
  add('token_embd.weight', E, V);
  add('output_norm.weight', E);
  if (!l.tied) add('output.weight', E, V);
  for (let i = 0; i < h.n_layer; i++) {
    const b = `blk.${i}.`;
    add(`${b}attn_norm.weight`, E);
    add(`${b}attn_q.weight`, E, q);
    add(`${b}attn_k.weight`, E, kv);
    add(`${b}attn_v.weight`, E, kv);
    add(`${b}attn_output.weight`, q, E);
    add(`${b}ffn_norm.weight`, E);
    for (const n of l.extraNorms) add(`${b}${n}.weight`, n.startsWith('attn_') ? l.headDim : E);
    if (l.moe) {
      add(`${b}ffn_gate_inp.weight`, E, h.n_expert);
      add(`${b}ffn_gate_exps.weight`, E, h.n_ff, h.n_expert);
      add(`${b}ffn_up_exps.weight`, E, h.n_ff, h.n_expert);
      add(`${b}ffn_down_exps.weight`, h.n_ff, E, h.n_expert);
    } else {
      add(`${b}ffn_gate.weight`, E, h.n_ff);
      add(`${b}ffn_up.weight`, E, h.n_ff);
      add(`${b}ffn_down.weight`, h.n_ff, E);
    }
  }
  return t;
}

const DENSE = { tied: false, extraNorms: [] as string[], moe: false };
/** Layouts of the snapshot models whose shapes are fixed by the header and the architecture. */
const LAYOUTS: Record<string, Layout> = {
  'qwen3-0.6b': { ...DENSE, arch: 'qwen3', headDim: 128, extraNorms: ['attn_q_norm', 'attn_k_norm'] },
  'qwen3-14b': { ...DENSE, arch: 'qwen3', headDim: 128, extraNorms: ['attn_q_norm', 'attn_k_norm'] },
  'meta-llama-3.1-70b-instruct': { ...DENSE, arch: 'llama', headDim: 128 },
  'gemma-3-4b-it': {
    ...DENSE, arch: 'gemma3', headDim: 256, tied: true,
    extraNorms: ['attn_q_norm', 'attn_k_norm', 'post_attention_norm', 'post_ffw_norm'],
  },
  'gpt-oss-120b': { ...DENSE, arch: 'gpt-oss', headDim: 64, moe: true },
};

const SKIPPED: Record<string, string> = {
  'deepseek-v3.1': 'MLA projections (q/kv LoRA ranks), expert width and dense-layer count are not in the header',
  'glm-4.6v': 'the expert FFN width and the leading dense layers are not in the header (n_ff is the dense width)',
  'nvidia-nemotron-3-nano-30b-a3b': 'hybrid Mamba/attention layer pattern and SSM dimensions are not in the header',
  'qwen3-coder-next': 'hybrid linear-attention layer pattern and SSM/expert dimensions are not in the header',
  'qwen3.5-397b-a17b': 'hybrid linear-attention layer pattern and SSM/expert dimensions are not in the header',
  'qwen3.6-27b': 'hybrid linear-attention layer pattern and SSM dimensions are not in the header',
  'step-3.5-flash': 'the expert FFN width and per-layer attention layout are not in the header',
};

const files = fs.readdirSync(dir).filter((f) => f.endsWith('.schema')).sort();

describe('llama.cpp type-selection snapshots', () => {
  it('every snapshot is either replayed or skipped with a reason', () => {
    for (const f of files) {
      const name = f.slice(0, -'.schema'.length);
      expect(name in LAYOUTS || name in SKIPPED, name).toBe(true);
    }
    expect(Object.keys(LAYOUTS).filter((n) => files.includes(`${n}.schema`))).toContain('qwen3-0.6b');
    expect(Object.keys(LAYOUTS).filter((n) => files.includes(`${n}.schema`))).toContain('meta-llama-3.1-70b-instruct');
  });

  for (const f of files) {
    const name = f.slice(0, -'.schema'.length);
    const layout = LAYOUTS[name];
    if (!layout) {
      it.skip(`${name}: ${SKIPPED[name] ?? 'no layout'}`, () => {});
      continue;
    }
    it(name, () => {
      const { header: h, sections } = parseSnapshot(fs.readFileSync(path.join(dir, f), 'utf8'));
      expect(sections.length).toBeGreaterThanOrEqual(33);
      // the harness keeps only quantizable tensors; its mock model is 70B only as llama with 80 layers and GQA
      const tensors = buildTensors(h, layout).filter((t) => tensorAllowsQuantization(t.name, t.ne));
      const model: ModelFacts = {
        arch: layout.arch, nLayer: h.n_layer, nHead: h.n_head, nHeadKv: h.n_head_kv, nExpert: h.n_expert,
        is70B: layout.arch === 'llama' && h.n_layer === 80 && h.n_head !== h.n_head_kv, tensors,
      };
      let compared = 0;
      const wrong: string[] = [];
      for (const s of sections) {
        const ftype = parseFtype(s.ftype)!;
        const def = typeByName(s.defaultType)!.type;
        expect(ftypeDefaultType(ftype.id), s.ftype).toBe(def);
        const plan = planTensorTypes(model, { ftype: ftype.id, hasImatrix: false, dryRun: true });
        const names = new Set(plan.entries.map((e) => e.name));
        for (const n of s.overrides.keys()) if (!names.has(n)) wrong.push(`[${s.ftype}] ${n}: listed but not in the model`);
        for (const e of plan.entries) {
          const want = s.overrides.has(e.name) ? typeByName(s.overrides.get(e.name)!)!.type : def;
          if (e.targetType !== want) wrong.push(`[${s.ftype}] ${e.name}: ${GgmlType[e.targetType]} vs ${GgmlType[want]}`);
          compared++;
        }
      }
      expect(wrong.slice(0, 20)).toEqual([]);
      expect(compared).toBe(sections.length * tensors.length);
    });
  }
});
