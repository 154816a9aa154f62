/**
 * `webgpu-quantize [options] model-f32.gguf [model-quant.gguf] [type] [nthreads]` — llama-quantize's
 * command line (same grammar, same per-tensor lines and totals), plus `--backend`, `--demo`, `--json`,
 * `--calibrate`/`--kld`, and the subcommands `compare`, `inspect`, `serve`, `tokenize`, `imatrix`, `kld`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QuantizeError, printable } from '../errors.js';
import { parseArgs } from '../cli-args.js';
import { FileSink, readTextFileSync } from './file-io.js';
import { quantizeFile, resolveThreads } from './index.js';
import { helpTypeList } from '../type-list.js';
import { JsonRunReport, packageVersion } from './commands/json-report.js';
import type { QuantizeOptions } from '../pipeline/options.js';
import type { RunLog } from '../pipeline/quantize-model.js';
import { progressBar, timeLines } from '../pipeline/report.js';
import { syntheticModel, DEMO_SPEC } from '../synthetic-model.js';
import { calibrate, extractEvalSteps, measureKld } from './eval/quantize-steps.js';

const usage = () => `usage: webgpu-quantize [options] model-f32.gguf [model-quant.gguf] [type] [nthreads]
       webgpu-quantize compare model.gguf [type] [--imatrix file] [--backend gpu]
       webgpu-quantize inspect model.gguf [--json]     (tensors, metadata, and what each type would produce)
       webgpu-quantize serve [--port N] [--host H]     (the in-browser page, on http://127.0.0.1:8080/)
       webgpu-quantize tokenize -m model.gguf -f text.txt [--ids]
       webgpu-quantize imatrix -m model.gguf -f calib.txt [-o imatrix.gguf] [-c 512] [--chunks N]
       webgpu-quantize kld base.gguf quantized.gguf -f eval.txt [-c 512] [--chunks N] [--json]
         (imatrix and kld: --backend auto|gpu|cpu runs the forward pass there; --gpu-budget MIB, default 4096,
          is the device memory for resident weights, a model that does not fit streams its layers)
       webgpu-quantize --demo
       webgpu-quantize --version

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
  --json                        one JSON document on stdout (plan, per-tensor results, totals, timings,
                                backend); the usual lines go to stderr (also for compare)

${helpTypeList()}`;

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

/** With `json`, every human line goes to stderr: stdout carries the one JSON document. */
function consoleLog(json = false): CliLog {
  const tty = process.stderr.isTTY;
  const t0 = Date.now();
  const err = guardedWriter(process.stderr);
  const out = json ? err : guardedWriter(process.stdout);
  const report = json ? new JsonRunReport() : undefined;
  let bar = false;
  const clear = () => {
    if (bar) err('\r\x1b[K');
    bar = false;
  };
  return {
    info: (line) => { clear(); out(line + '\n'); },
    warn: (line) => { clear(); err(line + '\n'); report?.warnings.push(line); },
    progress: tty ? (done, total) => { clear(); err(progressBar(done, total, Date.now() - t0)); bar = true; } : undefined,
    tensor: report && ((r) => report.tensors.push(r)),
    finish: clear,
    report,
  };
}

type CliLog = RunLog & { finish(): void; report?: JsonRunReport };

async function runDemo(options: QuantizeOptions, log: CliLog) {
  const dir = path.join(os.tmpdir(), 'webgpu-quantize-demo');
  fs.mkdirSync(dir, { recursive: true });
  const input = path.join(dir, 'demo-f32.gguf');
  await syntheticModel(DEMO_SPEC).write(await FileSink.create(input));
  const output = path.join(dir, `demo-${options.ftypeName}.gguf`);
  log.info(`webgpu-quantize: demo: generated ${input} (${DEMO_SPEC.nLayer} layers, n_embd ${DEMO_SPEC.nEmbd}, F32)`);
  await runQuantize(input, output, options, log);
}

async function runQuantize(input: string, output: string | undefined, options: QuantizeOptions, log: CliLog): Promise<readonly string[]> {
  const t0 = Date.now();
  const threads = resolveThreads(options.nthreads, log);
  options.nthreads = threads;
  log.info(options.dryRun
    ? `llama_quantize: calculating quantization size for '${input}' as ${options.ftypeName} using ${threads} threads`
    : `llama_quantize: quantizing '${input}' to '${output}' as ${options.ftypeName} using ${threads} threads`);
  const r = await quantizeFile({ input, output, options, log });
  log.finish();
  log.info('');
  const totalMs = Date.now() - t0;
  for (const line of timeLines(r.quantizeMs, totalMs)) log.info(line);
  if (!options.dryRun) log.info(`webgpu-quantize: wrote ${r.outputs.join(', ')}`);
  log.report?.finishRun({ input, options, threads, result: r, totalMs, version: packageVersion() });
  return r.outputs;
}

/** subcommands that parse their whole command line (their own --json, where they have one) */
const OWN_FLAGS = new Set(['inspect', 'serve', 'tokenize', 'imatrix', 'kld']);

export async function main(argv: string[]): Promise<number> {
  // --json (quantize, --dry-run, compare; the subcommands with their own flags read it themselves):
  // the document on stdout, the lines on stderr
  const json = !OWN_FLAGS.has(argv[0]) && argv.includes('--json');
  if (json) argv = argv.filter((a) => a !== '--json');
  const log = consoleLog(json);
  try {
    if (argv[0] === '--version' || argv[0] === '-v') {
      process.stdout.write(`webgpu-quantize ${packageVersion()}\n`);
      return 0;
    }
    if (argv[0] === '-h') argv = ['--help', ...argv.slice(1)];
    if (argv[0] === 'inspect') return await (await import('./commands/inspect.js')).runInspect(argv.slice(1), log);
    if (argv[0] === 'serve') return await (await import('./commands/serve.js')).runServe(argv.slice(1), log);
    if (argv[0] === 'compare') {
      const { runCompare } = await import('./compare-cli.js');
      return await runCompare(argv.slice(1), log, log.report);
    }
    if (argv[0] === 'tokenize') return await (await import('./eval/tokenize-cli.js')).runTokenize(argv.slice(1), log);
    if (argv[0] === 'imatrix') return await (await import('./eval/imatrix-cli.js')).runImatrix(argv.slice(1), log);
    if (argv[0] === 'kld') return await (await import('./eval/kld-cli.js')).runKld(argv.slice(1), log);
    const { argv: quantArgv, steps } = extractEvalSteps(argv);
    const args = parseArgs(quantArgv, readTextFileSync);
    if (args.help) {
      process.stdout.write(usage());
      return 0;
    }
    if (args.demo && !args.input) await runDemo(args.options, log);
    else {
      if (steps.calibrate) args.options.imatrixPath = await calibrate(args.input!, args.output, steps, log);
      const outputs = await runQuantize(args.input!, args.output, args.options, log);
      if (steps.kld && outputs.length === 1) await measureKld(args.input!, outputs[0], steps, log);
    }
    log.report?.print();
    return 0;
  } catch (e) {
    log.finish();
    const code = e instanceof QuantizeError ? e.exitCode : 2;
    log.report?.printError(e as Error, code);
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
