/**
 * Per-stage timing of a run (read, convert, quantize, write, and the GPU's upload / device wait / deliver),
 * to see which stage a whole-model run waits on. Off unless WEBGPU_QUANTIZE_PROFILE=1 (Node) or
 * `stageClock.enable()`; then each stage's summed busy time, its count and the share of the run's wall
 * time in which at least one such stage was running are printed at the end of a run.
 */
export class StageClock {
  private enabled = false;
  private t0 = 0;
  private readonly stages = new Map<string, { busy: number; n: number; open: number; since: number; covered: number }>();

  constructor() {
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
    this.enabled = env?.WEBGPU_QUANTIZE_PROFILE === '1';
  }

  get on(): boolean {
    return this.enabled;
  }

  enable(): void {
    this.enabled = true;
  }

  reset(): void {
    this.stages.clear();
    this.t0 = performance.now();
  }

  /** Starts a stage; call the returned function when it ends. Stages of one name may overlap. */
  start(stage: string): () => void {
    if (!this.enabled) return noop;
    const t = performance.now();
    let s = this.stages.get(stage);
    if (!s) this.stages.set(stage, (s = { busy: 0, n: 0, open: 0, since: 0, covered: 0 }));
    if (s.open++ === 0) s.since = t;
    const st = s;
    return () => {
      const e = performance.now();
      st.busy += e - t;
      st.n++;
      if (--st.open === 0) st.covered += e - st.since;
    };
  }

  async time<T>(stage: string, p: Promise<T> | (() => Promise<T>)): Promise<T> {
    const end = this.start(stage);
    try {
      return await (typeof p === 'function' ? p() : p);
    } finally {
      end();
    }
  }

  /** Milliseconds since reset(). */
  wallMs(): number {
    return performance.now() - this.t0;
  }

  /** One line per stage: summed ms, count, and the share of the wall time it was active. */
  report(): string[] {
    const wall = this.wallMs();
    const lines = [`profile: wall ${wall.toFixed(0)} ms`];
    for (const [name, s] of [...this.stages.entries()].sort((a, b) => b[1].covered - a[1].covered)) {
      lines.push(`profile: ${name.padEnd(14)} busy ${s.busy.toFixed(0).padStart(7)} ms  active ${(100 * s.covered / wall).toFixed(1).padStart(5)}% of wall  n=${s.n}`);
    }
    return lines;
  }
}

const noop = () => {};

/** The process-wide clock (one run at a time is profiled). */
export const stageClock = new StageClock();
