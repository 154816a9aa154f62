/**
 * `--json`: one JSON document on stdout for quantize, --dry-run and compare (inspect writes its own),
 * collected while the human lines go to stderr. On failure the document carries the error instead.
 */
import fs from 'node:fs';
import type { QuantizeOptions } from '../../pipeline/options.js';
import type { RunResult, TensorResult } from '../../pipeline/quantize-model.js';
import type { Comparison } from '../../pipeline/compare.js';
import { typeLayout } from '../../core/ggml-type.js';
import { missingTypesMessage } from '../../type-catalog.js';

/** The package's version: package.json is one folder above dist/cli.js (bundle), three above this source file. */
export function packageVersion(): string {
  for (const rel of ['../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(new URL(rel, import.meta.url), 'utf8'));
      if (pkg.name === 'webgpu-quantize') return pkg.version;
    } catch {
      // not there: try the next
    }
  }
  return 'unknown';
}

export class JsonRunReport {
  readonly tensors: TensorResult[] = [];
  readonly warnings: string[] = [];
  private doc: Record<string, unknown> = {};

  finishRun(a: { input: string; options: QuantizeOptions; threads: number; result: RunResult & { backend: string }; totalMs: number; version: string }): void {
    const { options: o, result: r } = a;
    const bpw = (bytes: number) => (r.nElements ? (bytes * 8) / r.nElements : 0);
    const missing = missingTypesMessage(r.plan, o.ftypeName);
    this.doc = {
      command: o.dryRun ? 'dry-run' : 'quantize',
      version: a.version,
      input: a.input,
      outputs: r.outputs,
      ftype: o.ftypeName,
      imatrix: o.imatrixPath ?? null,
      backend: r.backend,
      threads: a.threads,
      tensors: this.tensors,
      totals: {
        tensors: r.plan.entries.length,
        converted: r.plan.entries.filter((e) => e.quantize).length,
        fallbacks: r.plan.nFallback,
        elements: r.nElements,
        bytesIn: r.sizeIn,
        bytesOut: r.sizeOut,
        bitsPerWeightIn: bpw(r.sizeIn),
        bitsPerWeightOut: bpw(r.sizeOut),
      },
      types: countTypes(this.tensors),
      ...(o.dryRun ? { implemented: missing === null, ...(missing ? { notImplemented: missing.message } : {}) } : {}),
      timings: { quantizeMs: r.quantizeMs, totalMs: a.totalMs },
      warnings: this.warnings,
    };
  }

  finishCompare(a: { input: string; ftype: string; backendA: string; backendB: string; result: Comparison; version: string }): void {
    const r = a.result;
    this.doc = {
      command: 'compare',
      version: a.version,
      input: a.input,
      ftype: a.ftype,
      a: a.backendA,
      b: a.backendB,
      identical: r.identicalBlocks === r.blocks,
      // passes only with every block identical and backend A doing its own work (src/pipeline/compare.ts)
      passed: r.problems.length === 0,
      problems: r.problems,
      tensors: r.tensors.map((t) => ({ ...t, type: typeLayout(t.type).name })),
      totals: { blocks: r.blocks, identicalBlocks: r.identicalBlocks, maxAbsDiff: r.maxAbsDiff, blockCountsA: r.countsA },
      timings: { msA: r.msA, msB: r.msB },
      warnings: this.warnings,
    };
  }

  print(): void {
    process.stdout.write(JSON.stringify(this.doc) + '\n');
  }

  printError(e: Error, exitCode: number): void {
    process.stdout.write(JSON.stringify({ error: { kind: e.name, message: e.message }, exitCode, warnings: this.warnings }) + '\n');
  }
}

/** output type -> tensors converted to it */
function countTypes(tensors: TensorResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of tensors) if (t.quantized) out[t.type] = (out[t.type] ?? 0) + 1;
  return out;
}
