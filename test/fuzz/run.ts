/**
 * The long fuzz mode: `npm run fuzz -- --runs N [--imatrix-runs M] [--seed S] [--cli K]`.
 * Runs N mutated GGUF models and M mutated imatrix files (default N/4) in-process, and K of them (default
 * 0) again through the CLI, then prints the count of each outcome class per kind and, for every case that
 * is not a clean error or a success, its seed, mutations and detail; the file is kept under
 * os.tmpdir()/webgpu-quantize-fuzz-repro/. Exits 1 when any crash, hang or partial output was seen.
 * Case seeds are S·100000 + i; the suite (test/fuzz/fuzz.test.ts) uses S = 1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { imatrixBaseModel, makeCase, type CaseKind, type FuzzCase } from './mutator.js';
import { OUTCOMES, runCli, runInProcess, type CaseResult, type Outcome } from './run-case.js';

const argv = process.argv.slice(2);
const arg = (name: string, def: number) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const runs = arg('--runs', 200);
const imatrixRuns = arg('--imatrix-runs', Math.floor(runs / 4));
const seed = arg('--seed', 2);
const cliRuns = arg('--cli', 0);
const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/webgpu-quantize.js');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-fuzz-'));
const caseDir = path.join(work, 'case');
fs.mkdirSync(caseDir);
const model = path.join(work, 'imatrix-model.gguf');
fs.writeFileSync(model, imatrixBaseModel());
const reproDir = path.join(os.tmpdir(), 'webgpu-quantize-fuzz-repro');

const counts: Record<string, Record<Outcome, number>> = {};
const bad: string[] = [];
const t0 = Date.now();

function record(label: string, c: FuzzCase, r: CaseResult) {
  counts[label] ??= { clean: 0, success: 0, crash: 0, hang: 0, partial: 0 };
  counts[label][r.outcome]++;
  if (r.outcome === 'clean' || r.outcome === 'success') return;
  fs.mkdirSync(reproDir, { recursive: true });
  const file = path.join(reproDir, `${c.kind}-${c.seed}.${c.kind === 'gguf' ? 'gguf' : c.format === 'dat' ? 'dat' : 'imatrix.gguf'}`);
  fs.writeFileSync(file, c.bytes);
  bad.push(`${label} ${r.outcome.toUpperCase()} seed ${c.seed} (${c.ftype.name}${c.allowRequantize ? ', --allow-requantize' : ''}): ${c.what.join('; ')}\n    ${r.detail}\n    file: ${file}`);
}

try {
  for (const [kind, n] of [['gguf', runs], ['imatrix', imatrixRuns]] as [CaseKind, number][]) {
    for (let i = 0; i < n; i++) {
      const c = makeCase(kind, seed * 100000 + i);
      record(`${kind} in-process`, c, await runInProcess(c, caseDir, model));
      if (i < cliRuns) record(`${kind} cli`, c, runCli(c, caseDir, model, bin));
      if ((i + 1) % 250 === 0) process.stderr.write(`fuzz: ${kind} ${i + 1}/${n} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
    }
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
console.log(`fuzz: seed ${seed}, ${runs} GGUF + ${imatrixRuns} imatrix cases${cliRuns ? `, the first ${cliRuns} of each also through the CLI` : ''}, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`${'kind'.padEnd(20)}${OUTCOMES.map((o) => o.padStart(9)).join('')}`);
for (const [label, c] of Object.entries(counts)) console.log(`${label.padEnd(20)}${OUTCOMES.map((o) => String(c[o]).padStart(9)).join('')}`);
for (const b of bad) console.log(b);
process.exitCode = bad.length ? 1 : 0;
