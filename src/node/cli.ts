/**
 * `webgpu-quantize [options] model-f32.gguf [model-quant.gguf] [type] [nthreads]` — llama-quantize's
 * command line (same grammar, same per-tensor lines and totals), plus `--backend` and `--demo`, and the
 * `compare` subcommand for kernel developers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QuantizeError, printable } from '../errors.js';
import { parseArgs } from '../cli-args.js';
import { FileSink, readTextFileSync } from './file-io.js';
import { quantizeFile, resolveThreads } from './index.js';
import { FTYPES } from '../policy/ftype.js';
import type { QuantizeOptions } from '../pipeline/options.js';
import type { RunLog } from '../pipeline/quantize-model.js';
import { progressBar, timeLines } from '../pipeline/report.js';
import { syntheticModel, DEMO_SPEC } from '../synthetic-model.js';
import { calibrate, extractEvalSteps, measureKld } from './eval/quantize-steps.js';

const USAGE = `usage: webgpu-quantize [options] model-f32.gguf [model-quant.gguf] [type] [nthreads]
       webgpu-quantize compare model.gguf [type] [--imatrix file] [--backend gpu]
       webgpu-quantize tokenize -m model.gguf -f text.txt [--ids]
       webgpu-quantize imatrix -m model.gguf -f calib.txt [-o imatrix.gguf] [-c 512] [--chunks N]
       webgpu-quantize kld base.gguf quantized.gguf -f eval.txt [-c 512] [--chunks N] [--json]
       webgpu-quantize --demo

  type defaults to Q4_K_M; with no model given, a small built-in model is generated and quantized (--demo).
  type is a name from the list below or its plain number; anything else that starts with a digit
  (15abc, 0x0f, 7b.gguf, which llama-quantize reads as a number) is refused.
  nthreads is a whole number of CPU threads: 0 (the default) uses every core, and a larger count than
  the machine's cores is capped at the core count (with a notice); -1, 1e3 or 4.5 are refused.
  Inputs (model, shards, --imatrix, --tensor-type-file) must be regular files: directories, FIFOs and
  devices are refused. The output is written to a temporary file beside it, flushed to disk (fsync),
  then renamed into place, and the folder is flushed too.

  --allow-requantize            allow requantizing tensors that are already quantized
  --leave-output-tensor         leave output.weight un(re)quantized
  --pure                        no k-quant mixtures: every tensor gets the default type
  --imatrix file                importance matrix (GGUF or legacy .dat) for quant optimizations
  --include-weights name        use the imatrix only for tensors containing name (repeatable)
  --exclude-weights name        do not use the imatrix for tensors containing name (repeatable)
  --output-tensor-type type     ggml type for output.weight
  --token-embedding-type type   ggml type for token_embd.weight
  --tensor-type name=type       quantize tensors matching regex name to type (repeatable)
  --tensor-type-file file       NAME=TYPE entries separated by whitespace
  --prune-layers L0,L1,...      drop these layers and renumber the rest
  --keep-split                  write one output per input shard
  --override-kv KEY=TYPE:VALUE  set a metadata key (TYPE: int, float, bool, str)
  --dry-run                     show the plan and sizes, write nothing
  --max-buffer-size MiB         rows held in memory per slab (default 64)
  --backend auto|gpu|cpu        where to quantize (default auto: the GPU when an adapter exists)
  --demo                        quantize a generated demo model
  --calibrate calib.txt         make the importance matrix on this text first (written as <out>.imatrix.gguf), quantize with it
  --kld eval.txt                after writing, measure the output against the input (KL divergence, perplexities)
  --eval-ctx N                  context of --calibrate and --kld (default 512)

allowed quantization types:
${FTYPES.map((f) => `  ${f.name === 'COPY' ? '        ' : `${String(f.id).padStart(2)}  or  `}${f.name.padEnd(9)}: ${f.description}`).join('\n')}
`;

/** ftypes whose default type has at most 4 bits per weight in name (Q4_*, IQ1-4, Q2/Q3, TQ, MXFP4) */
const LOW_BIT = /^(Q[1234]_|IQ[1234]_|TQ|MXFP4)/;

/**
 * A stream whose reader went away (`webgpu-quantize ... | head`) gets EPIPE: stop writing to it and let
 * the run finish, rather than dying with an unhandled error and a temporary file.
 */
function guardedWriter(stream: NodeJS.WriteStream): (text: string) => void {
  let open = true;
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    open = false;
  });
  return (text) => {
    if (open) stream.write(text);
  };
}

function consoleLog(): RunLog & { finish(): void } {
  const tty = process.stderr.isTTY;
  const t0 = Date.now();
  const out = guardedWriter(process.stdout);
  const err = guardedWriter(process.stderr);
  let bar = false;
  const clear = () => {
    if (bar) err('\r\x1b[K');
    bar = false;
  };
  return {
    info: (line) => { clear(); out(line + '\n'); },
    warn: (line) => { clear(); err(line + '\n'); },
    progress: tty ? (done, total) => { clear(); err(progressBar(done, total, Date.now() - t0)); bar = true; } : undefined,
    finish: clear,
  };
}

function lowBitWarning(o: QuantizeOptions): string | null {
  if (o.imatrixPath || o.onlyCopy || !LOW_BIT.test(o.ftypeName)) return null;
  const bar = '='.repeat(76);
  return `${bar}\n WARNING: ${o.ftypeName} is a low-bit type (<= 4 bits per weight) and no importance matrix was given.\n` +
    ` Quality will suffer noticeably: compute one with llama-imatrix and pass --imatrix FILE.\n${bar}`;
}

async function runDemo(options: QuantizeOptions, log: RunLog & { finish(): void }) {
  const dir = path.join(os.tmpdir(), 'webgpu-quantize-demo');
  fs.mkdirSync(dir, { recursive: true });
  const input = path.join(dir, 'demo-f32.gguf');
  await syntheticModel(DEMO_SPEC).write(await FileSink.create(input));
  const output = path.join(dir, `demo-${options.ftypeName}.gguf`);
  log.info(`webgpu-quantize: demo: generated ${input} (${DEMO_SPEC.nLayer} layers, n_embd ${DEMO_SPEC.nEmbd}, F32)`);
  await runQuantize(input, output, options, log);
}

async function runQuantize(input: string, output: string | undefined, options: QuantizeOptions, log: RunLog & { finish(): void }): Promise<readonly string[]> {
  const t0 = Date.now();
  const threads = resolveThreads(options.nthreads, log);
  options.nthreads = threads;
  const warning = lowBitWarning(options);
  if (warning && !options.dryRun) log.warn(warning);
  log.info(options.dryRun
    ? `llama_quantize: calculating quantization size for '${input}' as ${options.ftypeName} using ${threads} threads`
    : `llama_quantize: quantizing '${input}' to '${output}' as ${options.ftypeName} using ${threads} threads`);
  const r = await quantizeFile({ input, output, options, log });
  log.finish();
  log.info('');
  for (const line of timeLines(r.quantizeMs, Date.now() - t0)) log.info(line);
  if (!options.dryRun) log.info(`webgpu-quantize: wrote ${r.outputs.join(', ')}`);
  return r.outputs;
}

export async function main(argv: string[]): Promise<number> {
  const log = consoleLog();
  try {
    if (argv[0] === 'compare') {
      const { runCompare } = await import('./compare-cli.js');
      return await runCompare(argv.slice(1), log);
    }
    if (argv[0] === 'tokenize') return await (await import('./eval/tokenize-cli.js')).runTokenize(argv.slice(1), log);
    if (argv[0] === 'imatrix') return await (await import('./eval/imatrix-cli.js')).runImatrix(argv.slice(1), log);
    if (argv[0] === 'kld') return await (await import('./eval/kld-cli.js')).runKld(argv.slice(1), log);
    const { argv: quantArgv, steps } = extractEvalSteps(argv);
    const args = parseArgs(quantArgv, readTextFileSync);
    if (args.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (args.demo && !args.input) await runDemo(args.options, log);
    else {
      if (steps.calibrate) args.options.imatrixPath = await calibrate(args.input!, args.output, steps, log);
      const outputs = await runQuantize(args.input!, args.output, args.options, log);
      if (steps.kld && outputs.length === 1) await measureKld(args.input!, outputs[0], steps, log);
    }
    return 0;
  } catch (e) {
    log.finish();
    if (e instanceof QuantizeError) {
      process.stderr.write(`webgpu-quantize: error: ${e.message}\n`);
      return e.exitCode;
    }
    // a bug, not bad input: the stack goes with it (each line made printable, since a message may quote file bytes)
    const stack = String((e as Error)?.stack ?? e).split('\n').map((l) => printable(l)).join('\n');
    process.stderr.write(`webgpu-quantize: internal error: ${stack}\n`);
    return 2;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
