/**
 * INSTALL TEST (slower: about 10 s; needs dist/ built and the npm registry or npm's cache for `webgpu`):
 * `npm pack` the repository, `npm install -g` the tarball into a temporary prefix, and run the installed
 * `webgpu-quantize` command from a folder outside the repository, as a new user would.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, SYNTH_DIR } from '../golden/shared-paths.js';

let tmp: string;
let bin: string;
let work: string;
const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));

function installed(args: string[]) {
  // TMPDIR inside the temporary folder: the demo's files go away with it
  const r = spawnSync(bin, args, { cwd: work, encoding: 'utf8', env: { ...process.env, TMPDIR: work, CI: '' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-install-'));
  work = path.join(tmp, 'work');
  fs.mkdirSync(work);
  // --ignore-scripts: pack the dist/ already built (the suite builds it) instead of rebuilding here
  const name = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', tmp], { cwd: REPO_ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
  execFileSync('npm', ['install', '-g', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', path.join(tmp, 'prefix'), path.join(tmp, name)], { cwd: tmp, stdio: 'pipe' });
  bin = path.join(tmp, 'prefix', 'bin', 'webgpu-quantize');
}, 180_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('packed and installed with npm install -g', () => {
  it('ships the built files and nothing from the repository work (no sources, tests, benches)', () => {
    const root = path.join(tmp, 'prefix', 'lib', 'node_modules', 'webgpu-quantize');
    for (const f of ['bin/webgpu-quantize.js', 'dist/cli.js', 'dist/quantize-worker.js', 'dist/web/index.html', 'dist/web/main.js', 'dist/web/worker.js', 'README.md']) {
      expect(fs.existsSync(path.join(root, f)), f).toBe(true);
    }
    for (const f of ['src', 'test', 'bench', 'dist/bench', 'node_modules/vitest']) expect(fs.existsSync(path.join(root, f)), f).toBe(false);
    // the documented API: compareBackends() from both entries
    for (const entry of ['webgpu-quantize', 'webgpu-quantize/node']) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const m = await import('${entry}'); console.log(typeof m.compareBackends, typeof m.quantizeModel)`],
        { cwd: path.join(tmp, 'prefix', 'lib'), encoding: 'utf8' });
      expect(r.stdout.trim(), `${entry} ${r.stderr}`).toBe('function function');
    }
    // runtime dependencies only: the dev tools stay out
    expect(Object.keys(pkg.dependencies)).toEqual(['webgpu']);
  });

  it('--version, -h and --help work from a folder outside the repository', () => {
    const v = installed(['--version']);
    expect(v.code).toBe(0);
    expect(v.out).toBe(`webgpu-quantize ${pkg.version}\n`);
    for (const h of ['-h', '--help']) {
      const r = installed([h]);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^usage: webgpu-quantize /);
    }
  });

  it('runs the demo (CPU) and quantizes a model given by path', () => {
    const demo = installed(['--backend', 'cpu']);
    expect(demo.code, demo.err).toBe(0);
    const demoOut = path.join(work, 'webgpu-quantize-demo', 'demo-Q4_K_M.gguf');
    expect(demo.out).toContain(`wrote ${demoOut}`);
    expect(fs.statSync(demoOut).size).toBeGreaterThan(0);
    const r = installed(['--backend', 'cpu', path.join(SYNTH_DIR, 'synth-f32.gguf'), path.join(work, 'q8.gguf'), 'Q8_0', '1']);
    expect(r.code, r.err).toBe(0);
    expect(fs.statSync(path.join(work, 'q8.gguf')).size).toBeGreaterThan(0);
  });

  it('inspect, compare and --json work from the installed command', () => {
    const synth = path.join(SYNTH_DIR, 'synth-f32.gguf');
    const i = installed(['inspect', synth, '--json']);
    expect(i.code, i.err).toBe(0);
    expect(JSON.parse(i.out).tensors).toHaveLength(21);
    const c = installed(['compare', '--backend', 'cpu', synth, 'Q8_0', '--json']);
    expect(c.code, c.err).toBe(0);
    expect(JSON.parse(c.out).identical).toBe(true);
    const d = installed(['--json', '--dry-run', synth, 'Q4_K_M']);
    expect(d.code, d.err).toBe(0);
    expect(JSON.parse(d.out).command).toBe('dry-run');
  });

  it('serve finds the packaged page', async () => {
    const child = spawn(bin, ['serve', '--port', '0'], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d) => {
          out += d;
          const m = /serving the page at (\S+)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
      });
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>webgpu-quantize');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
