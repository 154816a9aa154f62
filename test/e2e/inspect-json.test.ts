/**
 * `inspect`, the type list of --help, dry runs of types without a quantizer, and `--json`: checked against
 * llama.cpp's own outputs (golden files, its dry-run log) and an independent GGUF reader, not against the
 * planner that produced them.
 */
import { gguf } from '@huggingface/gguf';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, SHARED, SYNTH_DIR } from '../golden/shared-paths.js';

const BIN = path.join(REPO_ROOT, 'bin/webgpu-quantize.js');
const SYNTH = path.join(SYNTH_DIR, 'synth-f32.gguf');
const STORIES = path.join(SHARED, 'models/stories260K-gguf/stories260K.gguf');
const manifest = JSON.parse(fs.readFileSync(path.join(SYNTH_DIR, 'MANIFEST.json'), 'utf8'));
let tmp: string;

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, CI: '' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-inspect-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Estimate {
  ftype: string; bytes?: number; bitsPerWeight?: number; imatrix?: string; error?: string;
  implemented?: { cpu: boolean; gpu: boolean }; fallbacks?: { tensor: string; reason: string }[]; missing?: { cpu?: string };
}

describe('inspect', () => {
  it('--json: parameters, tensors and metadata agree with @huggingface/gguf; long arrays are summarised', async () => {
    const r = cli(['inspect', STORIES, '--json']);
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out);
    const theirs = await gguf(STORIES, { allowLocalFile: true });
    const params = theirs.tensorInfos.reduce((n, t) => n + t.shape.reduce((a, b) => a * Number(b), 1), 0);
    expect(s.parameters).toBe(params);
    expect(s.architecture).toBe('llama');
    expect(s.tensors.map((t: { name: string; shape: number[] }) => [t.name, t.shape]))
      .toEqual(theirs.tensorInfos.map((t) => [t.name, t.shape.map(Number)]));
    const tokens = s.metadata.find((k: { key: string }) => k.key === 'tokenizer.ggml.tokens');
    const theirTokens = (theirs.metadata as Record<string, unknown>)['tokenizer.ggml.tokens'] as string[];
    expect(tokens.type).toBe('arr[str]');
    expect(tokens.length).toBe(theirTokens.length);
    expect(tokens.value).toEqual(theirTokens.slice(0, 8));
    expect(s.metadata.find((k: { key: string }) => k.key === 'llama.block_count').value).toBe(5);
  });

  it('per ftype: the output size of llama.cpp\'s own mix files (tensor data) for every golden mix', async () => {
    const s = JSON.parse(cli(['inspect', SYNTH, '--json']).out);
    const byName = new Map<string, Estimate>(s.estimates.map((e: Estimate) => [e.ftype, e]));
    const mixes = ['Q4_K_M', 'Q5_K_M', 'Q3_K_M', 'Q2_K'];
    for (const f of mixes) {
      const file = path.join(SYNTH_DIR, 'mix', `${f}.gguf`);
      const theirs = await gguf(file, { allowLocalFile: true });
      // every tensor of this model is a multiple of the 32-byte alignment: the data section is their sum
      const dataBytes = fs.statSync(file).size - Number(theirs.tensorDataOffset);
      expect(byName.get(f)!.bytes, f).toBe(dataBytes);
    }
    // and the figures of llama.cpp's dry-run log: "quant size  =     0.74 MiB (4.89 BPW)"
    const log = fs.readFileSync(path.join(SYNTH_DIR, 'llama-quantize-log-dry-run-Q4_K_M.txt'), 'utf8');
    const m = /quant size {2}= +([\d.]+) MiB \(([\d.]+) BPW\)/.exec(log)!;
    const q4km = byName.get('Q4_K_M')!;
    expect((q4km.bytes! / 1024 / 1024).toFixed(2)).toBe(m[1]);
    expect(q4km.bitsPerWeight!.toFixed(2)).toBe(m[2]);
    expect(q4km.implemented).toEqual({ cpu: true, gpu: true });
    // llama.cpp refuses these without an imatrix on this model (MANIFEST: exit code 1 without one)
    expect(byName.get('IQ2_XXS')!.imatrix).toBe('required');
    expect(byName.get('Q8_0')!.imatrix).toBe('ignored');
  });

  it('names every tensor that falls back and why (stories260K: rows of 64 and 172 values)', () => {
    const s = JSON.parse(cli(['inspect', STORIES, '--json']).out);
    const q4km: Estimate = s.estimates.find((e: Estimate) => e.ftype === 'Q4_K_M');
    // every 2-D weight has rows of 64 or 172 values, neither a multiple of 256: all 36 but output.weight fall
    // back (llama.cpp's count: "36 of 48 tensor(s) required fallback quantization"); output.weight gets q8_0
    // from its own rule for such rows, which is not a fallback
    const twoD = s.tensors.filter((t: { name: string; shape: number[] }) => t.shape.length === 2 && t.name !== 'output.weight');
    expect(twoD).toHaveLength(36);
    expect(q4km.fallbacks!.map((f) => f.tensor).sort()).toEqual(twoD.map((t: { name: string }) => t.name).sort());
    const down = q4km.fallbacks!.find((f) => f.tensor === 'blk.0.ffn_down.weight')!;
    expect(down.reason).toMatch(/^172 columns not a multiple of 256 \(q[46]_K\) → f16/);
    const gate = q4km.fallbacks!.find((f) => f.tensor === 'blk.0.ffn_gate.weight')!;
    expect(gate.reason).toBe('64 columns not a multiple of 256 (q4_K) → q5_0');
    // IQ4_XS: its own type never fits; every such tensor falls back to iq4_nl (implemented, so nothing is missing)
    const iq4xs: Estimate = s.estimates.find((e: Estimate) => e.ftype === 'IQ4_XS');
    expect(iq4xs.implemented).toEqual({ cpu: true, gpu: true });
    expect(iq4xs.missing).toBeUndefined();
    expect(iq4xs.fallbacks!.find((f) => f.tensor === 'blk.0.ffn_gate.weight')!.reason).toBe('64 columns not a multiple of 256 (iq4_xs) → iq4_nl');
    // Q1_0 cannot be made at all (no fallback for 128-value blocks): the reason instead of numbers
    expect(s.estimates.find((e: Estimate) => e.ftype === 'Q1_0').error).toMatch(/no tensor type fallback is defined for type q1_0/);
  });

  it('prints tables for people, and one clear line for a missing file', () => {
    const r = cli(['inspect', STORIES]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^architecture: llama {3}name: llama/m);
    expect(r.out).toMatch(/^parameters: 292,800 \(292\.8 K\) {3}tensors: 48/m);
    expect(r.out).toMatch(/^ {2}tokenizer\.ggml\.tokens +arr\[str\] +512 values: \["<unk>", "<s>", "<\/s>"/m);
    expect(r.out).toMatch(/^ {2}blk\.0\.ffn_down\.weight +172 x 64 +f32 +0\.042$/m);
    expect(r.out).toMatch(/^ {2}15 {2}Q4_K_M +[\d.]+ +[\d.]+ {2}used +yes {2}yes {2}\+0\.1754 ppl, 4\.89 bpw/m);
    const missing = cli(['inspect', path.join(tmp, 'nope.gguf')]);
    expect(missing.code).toBe(1);
    expect(missing.err.trim()).toBe(`webgpu-quantize: error: ${path.join(tmp, 'nope.gguf')}: cannot open: no such file`);
  });
});

describe('the type list', () => {
  it('--help shows per ftype bits per weight, imatrix need, where implemented, and llama.cpp\'s figures', () => {
    const r = cli(['--help']);
    expect(r.code).toBe(0);
    const row = (name: string) => r.out.split('\n').find((l) => new RegExp(`^ +\\d+ {2}${name} `).test(l)) ?? '';
    expect(row('Q4_K_M')).toMatch(/^ {2}15 {2}Q4_K_M +4\.\d\d {2}recommended {2}yes {2}yes {2}\+0\.1754 ppl, 4\.89 bpw /);
    expect(row('Q8_0')).toMatch(/8\.50 {2}ignored +yes {2}yes {2}\+0\.0026 ppl, 8\.50 bpw/);
    expect(row('IQ2_XXS')).toMatch(/required +yes {2}yes {2}2\.38 bpw/);
    expect(row('Q2_K_S')).toMatch(/required +yes {2}yes/);
    // types added since the list was written show as implemented (the list derives from the registries):
    // CPU references and WGSL kernels for IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, MXFP4, Q1_0, Q2_0, IQ1_S, IQ1_M
    for (const f of ['IQ4_NL', 'IQ4_XS', 'TQ1_0', 'TQ2_0', 'MXFP4_MOE', 'Q2_0']) expect(row(f), f).toMatch(/ (recommended|ignored) +yes {2}yes /);
    const typesLine = (what: string) => (r.out.split('\n').find((l) => l.startsWith(`ggml types with ${what}: `)) ?? '').split(': ')[1]?.split(' ') ?? [];
    const cpu = typesLine('a CPU reference');
    const gpu = typesLine('a WebGPU kernel');
    for (const t of ['iq4_nl', 'iq4_xs', 'tq1_0', 'tq2_0', 'mxfp4', 'q1_0', 'q2_0', 'iq1_s', 'iq1_m']) expect(cpu, t).toContain(t);
    for (const t of ['iq4_nl', 'iq4_xs', 'tq1_0', 'tq2_0', 'mxfp4', 'q1_0', 'q2_0', 'iq1_s', 'iq1_m']) expect(gpu, t).toContain(t);
    // and the grid i-quants: CPU references and WGSL kernels (the lanes kernels), so both lists hold every type
    for (const t of ['iq2_xxs', 'iq2_xs', 'iq2_s', 'iq3_xxs', 'iq3_s']) expect(cpu, t).toContain(t);
    for (const t of ['iq2_xxs', 'iq2_xs', 'iq2_s', 'iq3_xxs', 'iq3_s']) expect(gpu, t).toContain(t);
    expect([...gpu].sort()).toEqual([...cpu].sort());
  });
});

describe('dry run under --backend gpu once every type has a kernel', () => {
  // The note and the refusal for a type without a kernel are checked on a backend lacking one in
  // test/gpu/backend-choice.test.ts; with every type now having a WGSL kernel, the CLI has nothing to say.
  it('IQ3_S (--pure) plans its tensors and prints no kernel note', () => {
    const n = Object.values(manifest.outputs['pure/IQ3_S'].tensors as Record<string, { type: string }>).filter((t) => t.type === 'IQ3_S').length;
    expect(n).toBeGreaterThan(0);
    const dry = cli(['--dry-run', '--backend', 'gpu', '--pure', SYNTH, 'IQ3_S']);
    expect(dry.code, dry.err).toBe(0);
    expect(dry.out + dry.err).not.toMatch(/GPU kernel|not implemented/);
    expect((dry.out + dry.err).split('\n').filter((l) => /-> .*\(iq3_s\)$/.test(l))).toHaveLength(n);
  });
});

describe('--json', () => {
  it('quantize: one JSON document on stdout (tensors, totals, timings, backend); the lines go to stderr', async () => {
    const out = path.join(tmp, 'j.gguf');
    const r = cli(['--json', '--backend', 'cpu', SYNTH, out, 'Q4_K_M', '1']);
    expect(r.code, r.err).toBe(0);
    const d = JSON.parse(r.out);
    expect(d.command).toBe('quantize');
    expect(d.backend).toBe('cpu (1 thread)');
    expect(d.outputs).toEqual([out]);
    const golden = manifest.outputs['mix/Q4_K_M'].tensors as Record<string, { type: string }>;
    expect(d.tensors).toHaveLength(Object.keys(golden).length);
    for (const t of d.tensors) expect(t.type.toLowerCase(), t.name).toBe(golden[t.name].type.toLowerCase());
    const theirs = await gguf(out, { allowLocalFile: true });
    expect(d.totals.bytesOut).toBe(fs.statSync(out).size - Number(theirs.tensorDataOffset));
    expect(d.totals.bytesOut).toBe(d.tensors.reduce((n: number, t: { bytesOut: number }) => n + t.bytesOut, 0));
    expect(d.timings.totalMs).toBeGreaterThanOrEqual(d.timings.quantizeMs);
    expect(r.err).toMatch(/llama_model_quantize_impl: quant size {2}= {5}0\.74 MiB \(4\.89 BPW\)/);
    expect(r.out.trim().split('\n')).toHaveLength(1);
  });

  it('dry run and errors: still one document', () => {
    const d = JSON.parse(cli(['--json', '--dry-run', SYNTH, 'Q2_K']).out);
    expect(d.command).toBe('dry-run');
    expect(d.implemented).toBe(true);
    expect(d.warnings.some((w: string) => w.includes('WARNING: Q2_K without an importance matrix'))).toBe(true);
    const e = cli(['--json', path.join(tmp, 'nope.gguf'), path.join(tmp, 'x.gguf'), 'Q8_0']);
    expect(e.code).toBe(1);
    expect(JSON.parse(e.out)).toEqual({ error: { kind: 'QuantizeError', message: `${path.join(tmp, 'nope.gguf')}: cannot open: no such file` }, exitCode: 1, warnings: [] });
  });

  it('compare (CPU against CPU): labels by backend, one document', () => {
    const r = cli(['compare', '--json', '--backend', 'cpu', SYNTH, 'Q4_0']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.out);
    expect(d.command).toBe('compare');
    expect(d.identical).toBe(true);
    expect(d.totals.blocks).toBe(d.totals.identicalBlocks);
    expect(r.err).not.toMatch(/ gpu /);
    expect(r.err).toMatch(/cpu A +[\d.]+ ms {2}cpu B/);
  });
});
