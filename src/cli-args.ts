/**
 * The llama-quantize argument grammar: `[options] model-f32.gguf [model-quant.gguf] [type] [nthreads]`,
 * plus this tool's own `--backend` and `--demo`. The type defaults to Q4_K_M here (llama-quantize
 * requires it). Browser-safe: reading --tensor-type-file is left to the caller through `readTextFile`.
 */
import { UsageError } from './errors.js';
import { typeByName, type GgmlType } from './core/ggml-type.js';
import { ftypeName, parseFtype } from './policy/ftype.js';
import { defaultOptions, type KvOverride, type QuantizeOptions, type TensorTypeOverride, type BackendChoice } from './pipeline/options.js';

export interface ParsedArgs {
  options: QuantizeOptions;
  input?: string;
  output?: string;
  demo: boolean;
  help: boolean;
}

export function parseGgmlTypeName(name: string, option: string): GgmlType {
  const t = typeByName(name);
  if (!t) throw new UsageError(`${option}: invalid ggml_type '${name}'`);
  return t.type;
}

export function parseTensorType(arg: string, option = '--tensor-type'): TensorTypeOverride {
  const eq = arg.indexOf('=');
  if (eq < 0) throw new UsageError(`${option}: malformed tensor type '${arg}' (expected NAME=TYPE)`);
  if (eq === 0) throw new UsageError(`${option}: missing tensor name in '${arg}'`);
  if (eq === arg.length - 1) throw new UsageError(`${option}: missing quantization type in '${arg}'`);
  return { pattern: arg.slice(0, eq).toLowerCase(), type: parseGgmlTypeName(arg.slice(eq + 1), option) };
}

/**
 * `KEY=TYPE:VALUE` as llama.cpp's string_parse_kv_override reads it, except that a value that is not a
 * number is refused: llama.cpp's atol/atof would silently write 0 for `int:zz`.
 */
export function parseKvOverride(arg: string): KvOverride {
  const eq = arg.indexOf('=');
  if (eq < 0 || eq >= 128) throw new UsageError(`--override-kv: malformed KV override '${arg}'`);
  const key = arg.slice(0, eq);
  const rest = arg.slice(eq + 1);
  if (rest.startsWith('int:')) {
    const v = rest.slice(4);
    if (!/^[+-]?\d+$/.test(v)) throw new UsageError(`--override-kv: '${arg}': '${v}' is not an integer`);
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new UsageError(`--override-kv: '${arg}': ${v} is beyond ±2^53, the integers kept exactly`);
    return { key, kind: 'int', value: n };
  }
  if (rest.startsWith('float:')) {
    const v = rest.slice(6);
    if (!FLOAT_SYNTAX.test(v)) throw new UsageError(`--override-kv: '${arg}': '${v}' is not a number`);
    return { key, kind: 'float', value: Number(v.replace(/^([+-]?)inf(inity)?$/i, '$1Infinity').replace(/^[+-]?nan$/i, 'NaN')) };
  }
  if (rest.startsWith('bool:')) {
    const v = rest.slice(5);
    if (v !== 'true' && v !== 'false') throw new UsageError(`--override-kv: invalid boolean value for KV override '${arg}'`);
    return { key, kind: 'bool', value: v === 'true' };
  }
  if (rest.startsWith('str:')) {
    const v = rest.slice(4);
    if (new TextEncoder().encode(v).length > 127) throw new UsageError(`--override-kv: malformed KV override '${arg}', value cannot exceed 127 chars`);
    return { key, kind: 'str', value: v };
  }
  throw new UsageError(`--override-kv: invalid type for KV override '${arg}' (int, float, bool or str)`);
}

/** a decimal number as strtod reads it whole (inf and nan included), nothing after it */
const FLOAT_SYNTAX = /^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf(inity)?|nan)$/i;

export function parsePruneLayers(arg: string): number[] {
  const ids = arg.split(',').map((s) => {
    const m = /^\s*[+-]?\d+/.exec(s);
    const id = m ? Number(m[0]) : -1;
    if (id < 0) throw new UsageError(`--prune-layers: invalid layer id '${s}'`);
    return id;
  });
  return [...new Set(ids)].sort((a, b) => a - b);
}

/** options that take a value (the next argument) */
export const OPTIONS_WITH_VALUE = new Set([
  '--output-tensor-type', '--token-embedding-type', '--tensor-type', '--tensor-type-file', '--prune-layers',
  '--override-kv', '--imatrix', '--include-weights', '--exclude-weights', '--max-buffer-size', '--backend',
]);

/** Options first, positionals after, keeping each one's order (for `compare model.gguf Q4_K_M --imatrix F`). */
export function optionsFirst(argv: string[]): string[] {
  const opts: string[] = [];
  const pos: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i].startsWith('--')) pos.push(argv[i]);
    else if (OPTIONS_WITH_VALUE.has(argv[i]) && i + 1 < argv.length) opts.push(argv[i], argv[++i]);
    else opts.push(argv[i]);
  }
  return [...opts, ...pos];
}

export function parseArgs(argv: string[], readTextFile: (path: string) => string): ParsedArgs {
  const options = defaultOptions();
  let demo = false;
  let help = false;
  let i = 0;
  const value = (opt: string): string => {
    if (i + 1 >= argv.length) throw new UsageError(`${opt} needs a value`);
    return argv[++i];
  };
  for (; i < argv.length && argv[i].startsWith('--'); i++) {
    const opt = argv[i];
    switch (opt) {
      case '--leave-output-tensor': options.leaveOutputTensor = true; break;
      case '--output-tensor-type': options.outputTensorType = parseGgmlTypeName(value(opt), opt); break;
      case '--token-embedding-type': options.tokenEmbeddingType = parseGgmlTypeName(value(opt), opt); break;
      case '--tensor-type': options.tensorTypes.push(parseTensorType(value(opt))); break;
      case '--tensor-type-file': {
        const file = value(opt);
        let text: string;
        try {
          text = readTextFile(file);
        } catch (e) {
          throw new UsageError(`--tensor-type-file: failed to open file '${file}': ${(e as Error).message}`);
        }
        for (const tok of text.split(/\s+/).filter(Boolean)) options.tensorTypes.push(parseTensorType(tok, `--tensor-type-file ${file}`));
        break;
      }
      case '--prune-layers': options.pruneLayers = parsePruneLayers(value(opt)); break;
      case '--override-kv': options.overrideKv.push(parseKvOverride(value(opt))); break;
      case '--dry-run': options.dryRun = true; break;
      case '--allow-requantize': options.allowRequantize = true; break;
      case '--pure': options.pure = true; break;
      case '--imatrix': options.imatrixPath = value(opt); break;
      case '--include-weights': options.includeWeights.push(value(opt)); break;
      case '--exclude-weights': options.excludeWeights.push(value(opt)); break;
      case '--keep-split': options.keepSplit = true; break;
      case '--max-buffer-size': {
        const v = value(opt);
        const mib = /^\d+$/.test(v) ? Number(v) : NaN;
        if (!(mib > 0 && mib <= 1024 * 1024)) throw new UsageError(`--max-buffer-size: invalid value '${v}' (MiB, 1 to 1048576)`);
        options.maxBufferSize = mib * 1024 * 1024;
        break;
      }
      case '--backend': {
        const v = value(opt);
        if (v !== 'auto' && v !== 'gpu' && v !== 'cpu') throw new UsageError(`--backend: expected auto, gpu or cpu, got '${v}'`);
        options.backend = v as BackendChoice;
        break;
      }
      case '--demo': demo = true; break;
      case '--help': help = true; break;
      default: throw new UsageError(`unknown option '${opt}' (see --help)`);
    }
  }
  if (options.includeWeights.length && options.excludeWeights.length) {
    throw new UsageError('--include-weights and --exclude-weights cannot be used together');
  }
  const pos = argv.slice(i);
  const parsed: ParsedArgs = { options, demo, help };
  if (pos.length === 0) return { ...parsed, demo: true };
  for (const p of pos) if (p.startsWith('--')) throw new UsageError(`options must come before the positional arguments: '${p}'`);
  parsed.input = pos[0];
  let k = 1;
  const asFtype = pos[k] !== undefined ? ftypeArg(pos[k], true) : undefined;
  if (pos[k] !== undefined && asFtype) {
    setFtype(options, asFtype);
    k++;
  } else if (pos[k] !== undefined) {
    parsed.output = pos[k++];
    if (pos[k] !== undefined) {
      const f = ftypeArg(pos[k], false);
      if (!f) throw new UsageError(`invalid ftype '${pos[k]}' (see --help for the list)`);
      setFtype(options, f);
      k++;
    }
  }
  if (pos[k] !== undefined) {
    options.nthreads = parseThreadCount(pos[k]);
    k++;
  }
  if (pos[k] !== undefined) throw new UsageError(`unexpected argument '${pos[k]}'`);
  if (parsed.output === undefined && !options.dryRun) parsed.output = defaultOutputPath(parsed.input, options);
  return parsed;
}

/**
 * A positional that may be the type. llama-quantize reads a number with std::stoi, which takes any
 * leading number (`15abc`, `0x0f` -> 0, `7b.gguf` -> 7): such an argument is refused here, with the type
 * llama-quantize would have used, rather than guessed. A name, or a plain decimal number, is a type.
 */
function ftypeArg(arg: string, mayBeOutput: boolean): ReturnType<typeof parseFtype> {
  const f = parseFtype(arg);
  if (!f || /^\d+$/.test(arg) || asciiUpperEq(arg, f.name)) return f;
  const name = ftypeName(f.id);
  throw new UsageError(`type '${arg}' is neither a type name nor a plain number (llama-quantize would read it as ${f.id} = ${name}); ` +
    `give ${name} or ${f.id}${mayBeOutput ? `, or write the output file as './${arg}'` : ''}`);
}

const asciiUpperEq = (a: string, b: string) => a.replace(/[a-z]/g, (c) => c.toUpperCase()) === b;

/**
 * The thread count: a plain decimal number, 0 for all cores (llama.cpp's rule). Negative, fractional or
 * other forms (`-1`, `1e3`, `4.5`) are refused; counts above the core count are capped when the run starts.
 */
export function parseThreadCount(arg: string): number {
  if (!/^\d+$/.test(arg)) throw new UsageError(`invalid nthread '${arg}': give a whole number of threads, 0 for all cores`);
  return Number(arg);
}

function setFtype(options: QuantizeOptions, f: { id: number; name: string }) {
  options.ftype = f.id;
  options.ftypeName = f.name;
  options.onlyCopy = f.name === 'COPY';
}

/** llama-quantize's default: `<input dir>/ggml-model-<TYPE>.gguf` (no extension with --keep-split). */
export function defaultOutputPath(input: string, options: QuantizeOptions): string {
  const slash = Math.max(input.lastIndexOf('/'), input.lastIndexOf('\\'));
  const dir = slash >= 0 ? input.slice(0, slash + 1) : '';
  return `${dir}ggml-model-${options.ftypeName}${options.keepSplit ? '' : '.gguf'}`;
}
