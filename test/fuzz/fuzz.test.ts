/**
 * Fuzzing in the suite: 200 mutated GGUF models and 80 mutated imatrix files (seeded, test/fuzz/mutator.ts)
 * run in-process through quantizeFile, and 4 of each through the CLI. Every case must end in a clean
 * one-line error or a valid output that keeps every tensor name byte for byte: 0 crashes, 0 hangs,
 * 0 partial outputs. The longer mode is `npm run fuzz -- --runs N [--seed S]` (test/fuzz/run.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../golden/shared-paths.js';
import { mulberry32 } from '../../src/synthetic-model.js';
import {
  baseModel, imatrixBaseModel, imatrixDatEntries, imatrixGgufDesc, makeCase, serializeDat, serializeGguf, type CaseKind, type FuzzCase, type Serialized,
} from './mutator.js';
import { runCli, runInProcess, type Outcome } from './run-case.js';

/** the suite's seed (case seeds 100000 + i); campaigns use others */
const SEED = 1;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-fuzz-test-'));
const caseDir = path.join(work, 'case');
fs.mkdirSync(caseDir);
const model = path.join(work, 'imatrix-model.gguf');
fs.writeFileSync(model, imatrixBaseModel());
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const BIN = path.join(REPO_ROOT, 'bin/webgpu-quantize.js');

function tally() {
  const counts: Record<Outcome, number> = { clean: 0, success: 0, crash: 0, hang: 0, partial: 0 };
  const bad: string[] = [];
  return {
    counts, bad,
    add(kind: CaseKind, seed: number, what: string[], r: { outcome: Outcome; detail: string }) {
      counts[r.outcome]++;
      if (r.outcome !== 'clean' && r.outcome !== 'success') bad.push(`${kind} seed ${seed} ${r.outcome}: ${what.join('; ')} -> ${r.detail}`);
    },
  };
}

describe('fuzz: mutated inputs end in a clean error or a valid output', () => {
  for (const [kind, n, minClean, minSuccess] of [['gguf', 200, 120, 15], ['imatrix', 80, 30, 10]] as [CaseKind, number, number, number][]) {
    it(`${n} ${kind} mutations in-process: 0 crashes, 0 hangs, 0 partial outputs`, async () => {
      const t = tally();
      for (let i = 0; i < n; i++) {
        const c = makeCase(kind, SEED * 100000 + i);
        t.add(kind, c.seed, c.what, await runInProcess(c, caseDir, model));
      }
      console.log(`fuzz ${kind}: ${JSON.stringify(t.counts)}`);
      expect(t.bad).toEqual([]);
      expect(t.counts.crash + t.counts.hang + t.counts.partial).toBe(0);
      // the generator must keep reaching both ends: files refused and files quantized
      expect(t.counts.clean).toBeGreaterThanOrEqual(minClean);
      expect(t.counts.success).toBeGreaterThanOrEqual(minSuccess);
      expect(t.counts.clean + t.counts.success).toBe(n);
    }, 120_000);
  }

  it('the model, a GGUF imatrix and a .dat imatrix cut at every field boundary and inside every header field', async () => {
    const files: [CaseKind, 'gguf' | 'dat', Serialized][] = [
      ['gguf', 'gguf', serializeGguf(baseModel(mulberry32(77)))],
      ['imatrix', 'gguf', serializeGguf(imatrixGgufDesc(mulberry32(78)))],
      ['imatrix', 'dat', serializeDat(imatrixDatEntries(mulberry32(79)))],
    ];
    const t = tally();
    let seed = 900000;
    let modelCuts = 0;
    for (const [kind, format, s] of files) {
      const dataStart = s.spans.find((x) => x.kind === 'data')?.start ?? Infinity;
      const cuts = new Set<number>();
      for (const sp of s.spans) {
        cuts.add(sp.start);
        if (sp.end - sp.start > 1 && sp.kind !== 'data') cuts.add(sp.start + Math.floor((sp.end - sp.start) / 2));
      }
      for (const at of [...cuts].filter((x) => x < s.bytes.length)) {
        const c: FuzzCase = { kind, seed: seed++, bytes: s.bytes.subarray(0, at), format, what: [`${format} ${kind} cut at ${at}`], ftype: { id: 7, name: 'Q8_0' }, allowRequantize: false };
        const r = await runInProcess(c, caseDir, model);
        t.add(kind, c.seed, c.what, r);
        // a model cut anywhere before its last tensor's data has lost something: it must be refused
        if (kind === 'gguf' && at < dataStart) {
          modelCuts++;
          expect(r.outcome, c.what[0]).toBe('clean');
        }
      }
    }
    console.log(`fuzz truncation sweep: ${JSON.stringify(t.counts)}, model cuts before its data: ${modelCuts}`);
    expect(t.bad).toEqual([]);
    // every KV (4-6 fields each) and tensor info (6+ fields each) of the 16-KV, 12-tensor model was cut
    expect(modelCuts).toBeGreaterThan(16 * 4 + 12 * 6);
  }, 120_000);

  it('4 GGUF and 4 imatrix mutations through the CLI: one error line or a valid output', () => {
    const t = tally();
    for (const kind of ['gguf', 'imatrix'] as CaseKind[]) {
      for (let i = 0; i < 4; i++) {
        const c = makeCase(kind, SEED * 100000 + 9000 + i);
        t.add(kind, c.seed, c.what, runCli(c, caseDir, model, BIN));
      }
    }
    expect(t.bad).toEqual([]);
    expect(t.counts.clean + t.counts.success).toBe(8);
    expect(t.counts.clean).toBeGreaterThan(0);
  }, 120_000);
});
