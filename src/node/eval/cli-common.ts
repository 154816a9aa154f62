/**
 * What the `tokenize`, `imatrix` and `kld` subcommands share: a small flag parser (llama.cpp's spellings),
 * reading the text as common's `-f` does, loading a model with its tokenizer, and writing an output file
 * whole or not at all.
 */
import fs from 'node:fs';
import path from 'node:path';
import { QuantizeError, UsageError } from '../../errors.js';
import { errnoWords } from '../../errno-words.js';
import { openGgufModelFile } from '../file-io.js';
import { CPU_MATMUL, LlamaModel, type MatmulBackend } from '../../model/llama.js';
import type { GpuDeviceHandle } from '../../gpu/device.js';
import { Tokenizer } from '../../model/tokenizer.js';
import { promptText } from '../../eval/chunks.js';

export interface FlagSpec {
  /** flags taking a value, each with its aliases, e.g. ['-m', '--model'] */
  values: Record<string, readonly string[]>;
  /** boolean flags */
  bools: Record<string, readonly string[]>;
}

export interface Flags {
  values: Map<string, string>;
  bools: Set<string>;
  positional: string[];
}

export function parseFlags(argv: readonly string[], spec: FlagSpec, command: string): Flags {
  const byAlias = new Map<string, { key: string; takesValue: boolean }>();
  for (const [key, aliases] of Object.entries(spec.values)) for (const a of aliases) byAlias.set(a, { key, takesValue: true });
  for (const [key, aliases] of Object.entries(spec.bools)) for (const a of aliases) byAlias.set(a, { key, takesValue: false });
  const out: Flags = { values: new Map(), bools: new Set(), positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const f = byAlias.get(a);
    if (!f) {
      if (a.startsWith('-') && a.length > 1) throw new UsageError(`${command}: unknown option '${a}'`);
      out.positional.push(a);
      continue;
    }
    if (!f.takesValue) {
      out.bools.add(f.key);
      continue;
    }
    if (i + 1 >= argv.length) throw new UsageError(`${command}: option '${a}' needs a value`);
    out.values.set(f.key, argv[++i]);
  }
  return out;
}

/** A positive integer flag value, or `dflt` when absent. */
export function intFlag(flags: Flags, key: string, dflt: number, command: string): number {
  const v = flags.values.get(key);
  if (v === undefined) return dflt;
  if (!/^-?\d+$/.test(v)) throw new UsageError(`${command}: '${key}' must be an integer, got '${v}'`);
  return Number(v);
}

export function requireFlag(flags: Flags, key: string, command: string): string {
  const v = flags.values.get(key);
  if (v === undefined) throw new UsageError(`${command}: ${key} is required`);
  return v;
}

/** The text of `-f FILE`: common's reader drops one trailing newline. */
export function readPromptFile(file: string, stripNewline = true): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new QuantizeError(`${file}: cannot read: ${errnoWords(e)}`);
  }
  return stripNewline ? promptText(text) : text;
}

export async function loadTokenizer(file: string): Promise<Tokenizer> {
  const m = await openGgufModelFile(file);
  try {
    return Tokenizer.fromKvs(m.kvs, m.name);
  } finally {
    await m.close();
  }
}

export async function loadModel(file: string): Promise<{ model: LlamaModel; tokenizer: Tokenizer }> {
  const m = await openGgufModelFile(file);
  try {
    return { model: await LlamaModel.load(m), tokenizer: Tokenizer.fromKvs(m.kvs, m.name) };
  } finally {
    await m.close();
  }
}

/** devices stay referenced for the process lifetime (Dawn's create() result must not be collected) */
const liveDevices: GpuDeviceHandle[] = [];

/**
 * `--backend`: cpu; gpu (a hardware adapter, else SwiftShader); auto (default): a hardware adapter when
 * there is one, else the CPU with a one-line notice. On a GPU the whole forward pass runs there
 * (GpuForward); `--gpu-budget MIB` bounds the device memory for resident weights (default 4096): a model
 * that does not fit streams its layers.
 */
export async function matmulBackend(flags: Flags, command: string, log: (line: string) => void): Promise<MatmulBackend> {
  const b = flags.values.get('backend') ?? 'auto';
  if (b !== 'cpu' && b !== 'gpu' && b !== 'auto') throw new UsageError(`${command}: --backend must be auto, gpu or cpu, got '${b}'`);
  if (b === 'cpu') return CPU_MATMUL;
  const { nodeGpuDevice } = await import('../gpu-device.js');
  let h: GpuDeviceHandle;
  try {
    h = await nodeGpuDevice({ software: b === 'gpu' ? 'auto' : 'never', log });
  } catch (e) {
    if (b === 'gpu') throw e;
    log(`${command}: no hardware GPU adapter (${(e as Error).message}); running the forward pass on the CPU`);
    return CPU_MATMUL;
  }
  if (b === 'auto' && h.isSoftware) {
    log(`${command}: only a software adapter (${h.adapterName}); running the forward pass on the CPU`);
    return CPU_MATMUL;
  }
  liveDevices.push(h);
  const budget = intFlag(flags, 'gpuBudget', 4096, command);
  if (budget < 0) throw new UsageError(`${command}: --gpu-budget must be a number of MiB >= 0, got ${budget}`);
  const { GpuForward } = await import('../../model/gpu-forward.js');
  return new GpuForward(h.device, h.adapterName, { budgetBytes: budget * 2 ** 20, software: h.isSoftware });
}

/** Write the whole file under a temporary name beside `out`, then rename it into place. */
export function writeFileWhole(out: string, bytes: Uint8Array): void {
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.tmp-${process.pid}`);
  try {
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, out);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new QuantizeError(`${out}: cannot write: ${errnoWords(e)}`);
  }
}
