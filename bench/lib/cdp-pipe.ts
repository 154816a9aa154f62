/**
 * A headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: fd 3 in,
 * fd 4 out, NUL-separated JSON), with flattened sessions, so that one client reaches the browser, a page
 * and the page's dedicated workers. Used by the page-memory bench, which needs the worker's own session
 * (Playwright's CDPSession cannot address the sessions of a page's workers) and the browser's process ids.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

type Listener = (params: Record<string, unknown>, sessionId: string | undefined) => void;

export class CdpPipe {
  private nextId = 1;
  private pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; method: string }>();
  private listeners = new Map<string, Set<Listener>>();
  private pieces: Buffer[] = [];
  private closed: Error | null = null;

  private constructor(readonly proc: ChildProcess, private readonly out: NodeJS.WritableStream, input: NodeJS.ReadableStream) {
    // a message can be many MB (an output read back as base64) in 64 KiB pieces: keep the pieces and look
    // for the separator only in the new one
    input.on('data', (d: Buffer) => {
      let start = 0;
      let i;
      while ((i = d.indexOf(0, start)) >= 0) {
        this.pieces.push(d.subarray(start, i));
        const msg = JSON.parse(Buffer.concat(this.pieces).toString('utf8'));
        this.pieces = [];
        start = i + 1;
        this.dispatch(msg);
      }
      if (start < d.length) this.pieces.push(d.subarray(start));
    });
    proc.once('exit', (code, signal) => {
      this.closed = new Error(`chromium exited (${signal ?? code})`);
      for (const p of this.pending.values()) p.reject(this.closed);
      this.pending.clear();
    });
  }

  /**
   * Start `executable` with `args` plus the pipe; the caller tracks the process (bench-cli trackChild).
   * `tmpDir`: its TMPDIR (Chromium leaves files there when it is killed).
   */
  static launch(executable: string, args: string[], tmpDir: string): CdpPipe {
    fs.mkdirSync(tmpDir, { recursive: true });
    const proc = spawn(executable, [...args, '--remote-debugging-pipe'], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, TMPDIR: tmpDir },
      // its own process group, so that all its helper processes can be stopped together
      detached: true,
    });
    let stderr = '';
    proc.stderr!.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
    // a killed browser resets its pipes: the 'exit' handler reports that, not an unhandled 'error' event
    for (const s of [proc.stdio[3], proc.stdio[4], proc.stderr]) s?.on('error', () => undefined);
    const cdp = new CdpPipe(proc, proc.stdio[3] as NodeJS.WritableStream, proc.stdio[4] as NodeJS.ReadableStream);
    cdp.stderrTail = () => stderr;
    return cdp;
  }

  stderrTail: () => string = () => '';

  private dispatch(msg: { id?: number; method?: string; params?: Record<string, unknown>; result?: unknown; error?: { message: string }; sessionId?: string }): void {
    if (msg.id !== undefined) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
      else p.resolve(msg.result);
    } else if (msg.method) {
      for (const l of this.listeners.get(msg.method) ?? []) l(msg.params ?? {}, msg.sessionId);
    }
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    this.out.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    return new Promise<T>((resolve, reject) => this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, method }));
  }

  on(method: string, fn: Listener): () => void {
    let set = this.listeners.get(method);
    if (!set) this.listeners.set(method, (set = new Set()));
    set.add(fn);
    return () => set!.delete(fn);
  }

  /** Evaluate `expression` in a session (awaiting a promise), return its JSON value; a thrown error rejects. */
  async evaluate<T>(sessionId: string, expression: string): Promise<T> {
    const r = await this.send<{ result: { value?: T }; exceptionDetails?: { exception?: { description?: string }; text: string } }>('Runtime.evaluate',
      { expression, awaitPromise: true, returnByValue: true }, sessionId);
    if (r.exceptionDetails) throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text);
    return r.result.value as T;
  }
}

export interface ProcMem {
  pid: number;
  /** Chromium's process type: browser, renderer, gpu-process, utility, zygote, ... */
  kind: string;
  rssKiB: number;
  /** the kernel's own peak RSS of the process (VmHWM) */
  hwmKiB: number;
}

/** `pid` and all its descendants, from /proc (Linux), with their RSS and peak RSS. */
export function processTree(root: number): ProcMem[] {
  const parent = new Map<number, number>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const inTree = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parent) if (!inTree.has(pid) && inTree.has(ppid)) { inTree.add(pid); grew = true; }
  }
  const out: ProcMem[] = [];
  for (const pid of inTree) {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
      // a helper's command line is one string (Chromium rewrites its argv), the browser's is NUL-separated
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const type = /--type=(\S+)/.exec(cmd)?.[1];
      const sub = /--utility-sub-type=(\S+)/.exec(cmd)?.[1].replace(/^.*\./, '');
      const kind = type ? (sub ? `${type}:${sub}` : type) : /chromium(\s|$)/.test(cmd) ? 'browser' : cmd.split(' ')[0].split('/').pop() ?? '?';
      out.push({ pid, kind, rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
