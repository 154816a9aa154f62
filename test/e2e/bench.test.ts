/**
 * Benches that cannot hurt: `--help` prints the usage and exits before generating anything, unknown flags
 * and bad values are refused, and Ctrl-C (SIGINT to the bench process only) stops its child processes and
 * leaves no file behind. Needs dist/ (the benches run from dist/bench/).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../golden/shared-paths.js';

const BENCHES = ['model-rss', 'gpu-soak', 'quantize-throughput', 'fsync-cost', 'imatrix-throughput', 'device-whole-model', 'page-memory'];
/** a bad value for a numeric flag of each bench */
const BAD_VALUE: Record<string, [string, string]> = {
  'model-rss': ['--gb', 'lots'], 'gpu-soak': ['--gb', 'lots'], 'quantize-throughput': ['--rows', '-3'],
  'fsync-cost': ['--repeats', '2.5'], 'imatrix-throughput': ['-c', '0'], 'device-whole-model': ['--layers', '1.5'],
  'page-memory': ['--size-gb', 'lots'],
};
const script = (b: string) => path.join(REPO_ROOT, 'dist/bench', `${b}.js`);
let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-bench-test-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(b: string, args: string[]) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [script(b), ...args], { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp }, timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, ms: Date.now() - t0 };
}

/** processes whose command line mentions `dir` (the bench's children write there) */
function processesUsing(dir: string): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
  return ps.split('\n').filter((l) => l.includes(dir));
}

describe('bench scripts', () => {
  it('every bench under bench/ is covered here', () => {
    const built = fs.readdirSync(path.join(REPO_ROOT, 'bench')).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, '')).sort();
    expect(built).toEqual([...BENCHES].sort());
  });

  it('npm run bench points at a built script', () => {
    const r = spawnSync('npm', ['run', '-s', 'bench', '--', '--help'], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, TMPDIR: tmp } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^usage: node dist\/bench\/quantize-throughput\.js /);
  });

  for (const b of BENCHES) {
    it(`${b}: --help prints the usage, exits 0 at once and creates nothing`, () => {
      for (const h of ['--help', '-h']) {
        const r = run(b, [h, '--gb', '50']);
        expect(r.code, r.err).toBe(0);
        expect(r.out).toMatch(new RegExp(`^usage: node dist/bench/${b}\\.js `));
        expect(r.ms).toBeLessThan(10_000);
        expect(fs.readdirSync(tmp)).toEqual([]);
      }
    });

    it(`${b}: an unknown flag or a bad value is one error line, exit 2, nothing created`, () => {
      const r = run(b, ['--bogus']);
      expect(r.code).toBe(2);
      expect(r.err.trim()).toBe("error: unknown option '--bogus' (see --help)");
      const [flag, bad] = BAD_VALUE[b];
      const v = run(b, [flag, bad]);
      expect(v.code).toBe(2);
      expect(v.err.trim()).toMatch(new RegExp(`^error: ${flag}: expected a (whole )?number > 0, got '${bad.replace('.', '\\.')}' \\(see --help\\)$`));
      expect(fs.readdirSync(tmp)).toEqual([]);
    });
  }

  /** Start `b`, wait for `ready` on stdout, SIGINT it alone; it must exit 130 leaving TMPDIR empty and no child running. */
  async function interrupt(b: string, args: string[], ready: RegExp, withChild = true) {
    const p = spawn(process.execPath, [script(b), ...args], { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      p.stdout.on('data', (d) => {
        out += d;
        if (ready.test(out)) resolve();
      });
      p.once('exit', (code) => reject(new Error(`${b} exited (${code}) before it was ready: ${out}`)));
    });
    await new Promise((r) => setTimeout(r, 500)); // let the child process start writing
    expect(fs.readdirSync(tmp).length).toBeGreaterThan(0);
    // the check below can see the child: it runs now, with its files in tmp
    if (withChild) expect(processesUsing(tmp).length).toBeGreaterThan(0);
    const code = await new Promise<number | null>((resolve) => {
      p.once('exit', (c) => resolve(c));
      p.kill('SIGINT');
    });
    expect(code).toBe(130);
    await new Promise((r) => setTimeout(r, 1000));
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(processesUsing(tmp)).toEqual([]);
  }

  it('model-rss: Ctrl-C while its child quantizes removes the generated model and stops the child', async () => {
    await interrupt('model-rss', ['--gb', '0.02', '--threads', '1', '--no-oracle'], /^generated /m);
  }, 60_000);

  it('gpu-soak: Ctrl-C during the first run removes the model and stops the run', async () => {
    await interrupt('gpu-soak', ['--gb', '0.02', '--runs', '1'], /^model: /m);
  }, 60_000);

  // a browser and its helper processes (renderers, GPU process, zygotes) are children too: all must go,
  // with the profile folder they write into (without Chromium this fails under CI, as the browser test does)
  it.skipIf(!fs.existsSync('/usr/bin/chromium') && process.env.CI !== 'true')('page-memory: Ctrl-C during a run in the page stops Chromium and all its helpers and removes model and profile', async () => {
    await interrupt('page-memory', ['--size-gb', '0.01'], /^running /m);
  }, 120_000);

  it('fsync-cost: Ctrl-C while it writes removes its folder (no child process)', async () => {
    await interrupt('fsync-cost', ['--sizes', '64', '--repeats', '50'], /^fsync cost: /m, false);
  }, 60_000);
});
