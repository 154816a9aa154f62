/**
 * `webgpu-quantize inspect model.gguf [--json]`: what the model is and what every ftype would make of it
 * (size, bits per weight, imatrix need, where implemented, which tensors fall back and why).
 */
import { UsageError, printable } from '../../errors.js';
import { openGgufModelFile } from '../file-io.js';
import { summariseModel, type KvSummary, type ModelSummary } from '../../model-summary.js';
import { ftypeTable } from '../../type-list.js';

export const INSPECT_USAGE = `usage: webgpu-quantize inspect model.gguf [--json]

  Shows the architecture, parameter count, tensors (name, shape, type, size), metadata (long arrays
  summarised) and, per quantization type, the size it would produce for this model, its bits per weight,
  whether an imatrix is needed, whether this version implements it, and which tensors fall back and why.
  --json   one JSON document on stdout instead of the tables
`;

const MiB = 1024 * 1024;

function kvText(k: KvSummary): string {
  const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v) : String(v));
  if (k.length === undefined) return show(k.value);
  const head = (k.value as unknown[]).map(show).join(', ');
  return `${k.length} values${k.length ? `: [${head}${k.length > (k.value as unknown[]).length ? ', ...' : ''}]` : ''}`;
}

function human(s: ModelSummary): string[] {
  const lines: string[] = [];
  const params = s.parameters >= 1e9 ? `${(s.parameters / 1e9).toFixed(2)} B` : s.parameters >= 1e6 ? `${(s.parameters / 1e6).toFixed(2)} M` : `${(s.parameters / 1e3).toFixed(1)} K`;
  lines.push(`model: ${s.file}${s.files > 1 ? ` (${s.files} files)` : ''}`);
  lines.push(`architecture: ${s.architecture ?? '(none)'}   name: ${s.name ?? '(none)'}   file type: ${s.fileType ?? '(not set)'}`);
  lines.push(`parameters: ${s.parameters.toLocaleString('en-US')} (${params})   tensors: ${s.tensors.length}   tensor data: ${(s.tensorBytes / MiB).toFixed(2)} MiB (${s.bitsPerWeight.toFixed(2)} bpw)`);
  lines.push('', `metadata (${s.metadata.length} keys):`);
  const kw = Math.min(48, Math.max(...s.metadata.map((k) => k.key.length), 3));
  for (const k of s.metadata) lines.push(`  ${k.key.padEnd(kw)}  ${k.type.padEnd(9)}  ${kvText(k)}`);
  lines.push('', `tensors (${s.tensors.length}):`);
  const nw = Math.min(48, Math.max(...s.tensors.map((t) => t.name.length), 4));
  lines.push(`  ${'name'.padEnd(nw)}  ${'shape'.padEnd(22)}  ${'type'.padEnd(7)}  ${'size MiB'.padStart(10)}`);
  for (const t of s.tensors) lines.push(`  ${t.name.padEnd(nw)}  ${t.shape.join(' x ').padEnd(22)}  ${t.type.padEnd(7)}  ${(t.bytes / MiB).toFixed(3).padStart(10)}`);
  lines.push('');
  if (s.estimatesError) {
    lines.push(`what each type would produce: cannot plan this model: ${s.estimatesError}`);
    return lines;
  }
  lines.push('what each type would produce for this model (tensor data; imatrix: required, recommended, used or ignored;',
    'cpu/gpu: implemented in this version; llama.cpp: its published figures, ppl on Llama-3-8B (* Mistral-7B), bpw on Llama-3.1-8B):');
  lines.push(...ftypeTable(s.estimates, true));
  const notes: string[] = [];
  for (const e of s.estimates) {
    if (e.fallbacks?.length) {
      const groups = new Map<string, number>();
      for (const f of e.fallbacks) {
        const key = f.reason;
        groups.set(key, (groups.get(key) ?? 0) + 1);
      }
      notes.push(`  ${e.ftype}: ${e.fallbacks.length} tensor${e.fallbacks.length === 1 ? '' : 's'} fall back: ` +
        [...groups].map(([r, n]) => `${n} x ${r}`).join('; '));
    }
    if (e.missing?.cpu) notes.push(`  ${e.missing.cpu}`);
  }
  if (notes.length) lines.push('', 'fallbacks and missing types (--json lists every tensor):', ...notes);
  return lines;
}

export async function runInspect(argv: string[], log: { info(line: string): void }): Promise<number> {
  let json = false;
  let file: string | undefined;
  for (const a of argv) {
    if (a === '--json') json = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(INSPECT_USAGE);
      return 0;
    } else if (a.startsWith('-')) throw new UsageError(`inspect: unknown option '${a}' (see inspect --help)`);
    else if (file === undefined) file = a;
    else throw new UsageError(`inspect: unexpected argument '${a}' (one model file)`);
  }
  if (!file) throw new UsageError('inspect: no model given (webgpu-quantize inspect model.gguf [--json])');
  const model = await openGgufModelFile(file);
  try {
    const s = summariseModel(model);
    if (json) process.stdout.write(JSON.stringify(s) + '\n');
    // names, keys and strings come from the file: escaped so that no byte of it reaches the terminal raw
    else for (const line of human(s)) log.info(printable(line));
  } finally {
    await model.close();
  }
  return 0;
}
