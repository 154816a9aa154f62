/**
 * What every bench script shares so that none can hurt: strict flags (`--help` prints the usage and exits
 * before anything is generated; an unknown flag or a bad value is an error), and a temporary folder that
 * is removed on exit, on an error, and on Ctrl-C / SIGTERM (child processes are stopped first).
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface FlagSpec {
  /** `number`: a finite number > 0 (`int`: a whole one); `string`: any value; `bool`: a switch */
  kind: 'number' | 'int' | 'string' | 'bool';
  default?: string;
  /** allowed values for a string */
  choices?: readonly string[];
  /** other spellings, e.g. llama.cpp's `-m` for `--model` */
  aliases?: readonly string[];
}

export type Flags = Record<string, string | boolean>;

/**
 * Parse `argv` against `spec` (names without the leading `--`). `--help`/`-h` prints `usage` and exits 0;
 * anything else unexpected prints one line and exits 2, before the script does any work.
 */
export function parseBenchFlags(argv: string[], spec: Record<string, FlagSpec>, usage: string): Flags {
  const fail = (msg: string): never => {
    process.stderr.write(`error: ${msg} (see --help)\n`);
    process.exit(2);
  };
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage.endsWith('\n') ? usage : usage + '\n');
    process.exit(0);
  }
  const out: Flags = {};
  for (const [k, s] of Object.entries(spec)) out[k] = s.kind === 'bool' ? false : s.default ?? '';
  const names = new Map<string, string>();
  for (const [k, s] of Object.entries(spec)) for (const a of [`--${k}`, ...(s.aliases ?? [])]) names.set(a, k);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = names.get(a);
    if (name === undefined) fail(a.startsWith('-') ? `unknown option '${a}'` : `unexpected argument '${a}'`);
    const s = spec[name!];
    if (s.kind === 'bool') {
      out[name!] = true;
      continue;
    }
    if (i + 1 >= argv.length) fail(`${a} needs a value`);
    const v = argv[++i];
    if (s.kind === 'number' || s.kind === 'int') {
      const n = Number(v);
      if (!(Number.isFinite(n) && n > 0) || (s.kind === 'int' && !Number.isInteger(n))) fail(`${a}: expected a ${s.kind === 'int' ? 'whole ' : ''}number > 0, got '${v}'`);
    }
    if (s.choices && !s.choices.includes(v)) fail(`${a}: expected one of ${s.choices.join(', ')}, got '${v}'`);
    out[name!] = v;
  }
  return out;
}

const children = new Set<ChildProcess>();
/** children started with `detached: true` whose whole process group is stopped (a browser and its helpers) */
const groups = new WeakSet<ChildProcess>();

function kill(c: ChildProcess): void {
  if (groups.has(c) && c.pid) {
    try {
      process.kill(-c.pid, 'SIGKILL');
      return;
    } catch {
      // the group is gone already; fall through to the process itself
    }
  }
  c.kill('SIGKILL');
}
const dirs = new Set<string>();
let installed = false;
let stopping = false;

/** true once Ctrl-C / SIGTERM was received: the handler is stopping the children and will exit */
export function interrupted(): boolean {
  return stopping;
}

/** Synchronous (it also runs from the 'exit' event): retries while a dying child still creates files. */
function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) kill(c);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
  dirs.clear();
}

/** Stop the children and wait (up to 5 s) until they have exited, so none writes after the folder is gone. */
async function stopChildren(): Promise<void> {
  const alive = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  const exited = alive.map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())));
  for (const c of alive) kill(c);
  await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 5000))]);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      stopping = true;
      process.stderr.write(`\n${sig}: stopping and removing temporary files\n`);
      void stopChildren().then(() => {
        cleanup();
        process.exit(sig === 'SIGINT' ? 130 : 143);
      });
    });
  }
}

/** A fresh folder under `parent` (default: the system's temporary folder), removed at exit unless `keep`. */
export function benchTempDir(prefix: string, keep = false, parent = os.tmpdir()): string {
  const dir = fs.mkdtempSync(path.join(parent, prefix));
  install();
  if (keep) process.stderr.write(`keeping ${dir} (--keep)\n`);
  else dirs.add(dir);
  return dir;
}

/**
 * Stop `child` if this process is interrupted; forget it once it exits. `group`: the child was spawned
 * with `detached: true` and its whole process group is stopped (a browser with its helper processes).
 */
export function trackChild<C extends ChildProcess>(child: C, opts: { group?: boolean } = {}): C {
  install();
  children.add(child);
  if (opts.group) groups.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
