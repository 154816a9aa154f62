/**
 * The mix policy against llama.cpp v0.5.0's own choices: every case of shared/golden/policy-v050.json
 * (5 model shapes × 35 ftypes × 5 option sets × with/without imatrix, from `llama-quantize --dry-run`),
 * comparing each tensor's chosen type and the write order exactly, and the refusals (no fallback).
 * Then the real (not dry) runs of shared/golden/synth-v050, which also enforce the imatrix requirement.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GgmlType, typeByName } from '../../src/core/ggml-type.js';
import { parseFtype } from '../../src/policy/ftype.js';
import { planTensorTypes, nDims, PolicyError, type PolicyOptions, type TypePlan } from '../../src/policy/tensor-type.js';
import type { ModelFacts } from '../../src/policy/model-facts.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const golden = path.resolve(repoRoot, '../shared/golden');

interface GoldenCase {
  model: string;
  hparams: { n_layer: number; n_head: number; n_head_kv: number; n_expert: number };
  ftype: string;
  options: string[];
  imatrix: boolean;
  rc: number;
  types: Record<string, string>;
  order: string[];
  error: string[] | null;
}
interface GoldenFile {
  models: Record<string, { arch: string; tensors: { name: string; ne: number[] }[] }>;
  cases: GoldenCase[];
}

const typeOf = (name: string): GgmlType => {
  const t = typeByName(name);
  if (!t) throw new Error(`unknown ggml type ${name} in golden data`);
  return t.type;
};

/** The golden inputs were F16 files whose 1-D tensors and ffn_gate_inp were F32 (see the file's note). */
function sourceType(name: string, ne: number[]): GgmlType {
  return nDims(ne) < 2 || name.includes('ffn_gate_inp') ? GgmlType.F32 : GgmlType.F16;
}

/** llama-quantize command-line options → policy options (the CLI lower-cases --tensor-type names). */
function cliOptions(args: string[], ftype: number, hasImatrix: boolean): PolicyOptions {
  const tensorTypes: { pattern: string; type: GgmlType }[] = [];
  const o: PolicyOptions = { ftype, hasImatrix, tensorTypes, dryRun: true };
  for (let i = 0; i < args.length; i++) {
    switch (args[i]) {
      case '--leave-output-tensor': o.leaveOutputTensor = true; break;
      case '--pure': o.pure = true; break;
      case '--output-tensor-type': o.outputTensorType = typeOf(args[++i]); break;
      case '--token-embedding-type': o.tokenEmbeddingType = typeOf(args[++i]); break;
      case '--tensor-type': {
        const [pattern, type] = args[++i].split('=');
        tensorTypes.push({ pattern: pattern.toLowerCase(), type: typeOf(type) });
        break;
      }
      default: throw new Error(`golden option ${args[i]} not handled by this test`);
    }
  }
  return o;
}

const data: GoldenFile = JSON.parse(fs.readFileSync(path.join(golden, 'policy-v050.json'), 'utf8'));

function facts(c: GoldenCase): ModelFacts {
  const m = data.models[c.model];
  return {
    arch: m.arch, nLayer: c.hparams.n_layer, nHead: c.hparams.n_head, nHeadKv: c.hparams.n_head_kv,
    nExpert: c.hparams.n_expert,
    tensors: m.tensors.map((t) => ({ name: t.name, ne: t.ne, type: sourceType(t.name, t.ne) })),
  };
}

describe('policy-v050.json: llama-quantize --dry-run choices', () => {
  it('holds 1,750 cases', () => expect(data.cases.length).toBe(1750));

  it('every case: chosen types and write order identical, refusals identical', () => {
    let same = 0;
    const mismatches: string[] = [];
    for (const c of data.cases) {
      const ftype = parseFtype(c.ftype);
      expect(ftype, c.ftype).toBeDefined();
      const label = `${c.model} ${c.ftype} [${c.options.join(' ')}]${c.imatrix ? ' imatrix' : ''}`;
      let plan: TypePlan | undefined;
      let err: unknown;
      try {
        plan = planTensorTypes(facts(c), cliOptions(c.options, ftype!.id, c.imatrix));
      } catch (e) {
        err = e;
      }
      if (c.rc !== 0) {
        // llama-quantize logs the offending tensor, then fails with "no tensor type fallback ... for type X"
        const text = (c.error ?? []).join('\n');
        const tensor = /warning: (\S+)/.exec(text)?.[1];
        const type = /no tensor type fallback is defined for type (\S+)/.exec(text)?.[1];
        const ok = err instanceof PolicyError && err.code === 'no-fallback' && err.tensor === tensor &&
          err.message.includes(`for type ${type}`);
        if (ok) same++; else mismatches.push(`${label}: expected refusal at ${tensor} (${type}), got ${err ?? 'a plan'}`);
        continue;
      }
      if (!plan) { mismatches.push(`${label}: unexpected error ${err}`); continue; }
      const got = Object.fromEntries(plan.entries.map((e) => [e.name, e.targetType]));
      const want = Object.fromEntries(Object.entries(c.types).map(([n, t]) => [n, typeOf(t)]));
      const order = plan.entries.map((e) => e.name);
      try {
        expect(order).toEqual(c.order);
        expect(got).toEqual(want);
        same++;
      } catch (e) {
        const diff = order.filter((n) => got[n] !== want[n]).map((n) => `${n}: ${got[n]} vs ${want[n]}`).slice(0, 4);
        mismatches.push(`${label}: ${diff.join(', ') || 'order differs'}`);
      }
    }
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(same).toBe(data.cases.length);
  });
});

interface SynthManifest {
  tensors: Record<string, { ne0: number; rows: number }>;
  outputs: Record<string, { ftype: string; rc: number; tensors?: Record<string, { type: string }> }>;
}

describe('synth-v050: real llama-quantize runs (imatrix requirement enforced)', () => {
  const man: SynthManifest = JSON.parse(fs.readFileSync(path.join(golden, 'synth-v050/MANIFEST.json'), 'utf8'));
  // README: 2 layers, n_embd 256, 4 heads, 1 KV head, all F32; names of 1-D tensors come from the outputs
  const names = new Set<string>();
  for (const o of Object.values(man.outputs)) for (const n of Object.keys(o.tensors ?? {})) names.add(n);
  const model: ModelFacts = {
    arch: 'llama', nLayer: 2, nHead: 4, nHeadKv: 1, nExpert: 0,
    tensors: [...names].map((name) => {
      const t = man.tensors[name];
      return { name, ne: t ? [t.ne0, t.rows] : [256], type: GgmlType.F32 };
    }),
  };
  const pureFtype: Record<string, string> = { Q3_K: 'Q3_K_M', Q4_K: 'Q4_K_M', Q5_K: 'Q5_K_M', IQ2_S: 'IQ2_M', MXFP4: 'MXFP4_MOE' };

  it('has its tensor list: 16 matrices and 5 norms', () => expect(model.tensors.length).toBe(21));

  for (const [key, out] of Object.entries(man.outputs)) {
    it(key, () => {
      const [kind, rest] = key.split('/');
      const variant = kind === 'mix' ? rest.slice(out.ftype.length) : '';
      const ftypeName = kind === 'mix' ? out.ftype : pureFtype[out.ftype] ?? out.ftype;
      const ftype = parseFtype(ftypeName)!;
      const imatrix = kind === 'pure-imatrix' || variant.startsWith('-imatrix');
      const o: PolicyOptions = {
        ftype: ftype.id, hasImatrix: imatrix, pure: kind !== 'mix',
        leaveOutputTensor: variant === '-leave-output',
        ...(variant === '-imatrix-q8-emb-out' ? { outputTensorType: GgmlType.Q8_0, tokenEmbeddingType: GgmlType.Q8_0 } : {}),
      };
      if (out.rc !== 0) {
        expect(() => planTensorTypes(model, o)).toThrow(expect.objectContaining({ code: 'imatrix-required' }));
        return;
      }
      const plan = planTensorTypes(model, o);
      const got = Object.fromEntries(plan.entries.map((e) => [e.name, e.targetType]));
      const want = Object.fromEntries(Object.entries(out.tensors!).map(([n, t]) => [n, typeOf(t.type)]));
      expect(got).toEqual(want);
    });
  }
});
