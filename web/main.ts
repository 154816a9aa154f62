/**
 * The page: pick a model (and optionally an imatrix, or a calibration text to make one from), choose
 * llama-quantize's options, and quantize in a worker; then "check quality" compares the output with the
 * original on an evaluation text (KL divergence). Output streams into a file chosen with showSaveFilePicker where the browser has it (any model
 * size); elsewhere it is held in memory and offered as a download. `window.__wq` drives the same path
 * without dialogs (end-to-end tests, scripting).
 */
import { BlobSource } from '../src/formats/byte-source.js';
import { openGgufModel } from '../src/formats/gguf-model.js';
import { modelFacts, summariseModel, type ModelSummary } from '../src/model-summary.js';
import { FTYPES } from '../src/policy/ftype.js';
import type { ModelFacts } from '../src/policy/model-facts.js';
import { planTensorTypes } from '../src/policy/tensor-type.js';
import { GgmlType, typeLayout } from '../src/core/ggml-type.js';
import { implementedTypes } from '../src/quant/registry.js';
import type { BackendChoice } from '../src/pipeline/options.js';
import type { TensorResult } from '../src/pipeline/quantize-model.js';
import { figuresText, ftypeCatalog, typeInfo, type FtypeEstimate } from '../src/type-catalog.js';
import type { KldStats } from '../src/eval/kld.js';
import type { EvalText, JobMessage, OutputTarget, PageOptions, RunMessage, WorkerMessage } from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  drop: $<HTMLElement>('drop'),
  modelInput: $<HTMLInputElement>('model-input'),
  modelInfo: $<HTMLElement>('model-info'),
  form: $<HTMLFormElement>('form'),
  ftype: $<HTMLSelectElement>('ftype'),
  ftypeDesc: $<HTMLElement>('ftype-desc'),
  imatrixInput: $<HTMLInputElement>('imatrix-input'),
  calibInput: $<HTMLInputElement>('calib-input'),
  evalCtx: $<HTMLInputElement>('eval-ctx'),
  evalChunks: $<HTMLInputElement>('eval-chunks'),
  calibResult: $<HTMLElement>('calib-result'),
  evalInput: $<HTMLInputElement>('eval-input'),
  check: $<HTMLButtonElement>('check'),
  checkNote: $<HTMLElement>('check-note'),
  quality: $<HTMLTableElement>('quality'),
  outputType: $<HTMLSelectElement>('output-type'),
  embdType: $<HTMLSelectElement>('embd-type'),
  backend: $<HTMLSelectElement>('backend'),
  pure: $<HTMLInputElement>('pure'),
  leaveOutput: $<HTMLInputElement>('leave-output'),
  go: $<HTMLButtonElement>('go'),
  cancel: $<HTMLButtonElement>('cancel'),
  outputNote: $<HTMLElement>('output-note'),
  gpuNote: $<HTMLElement>('gpu-note'),
  progress: $<HTMLProgressElement>('progress'),
  progressText: $<HTMLElement>('progress-text'),
  error: $<HTMLElement>('error'),
  result: $<HTMLElement>('result'),
  log: $<HTMLElement>('log'),
  adapter: $<HTMLElement>('adapter'),
  modelSummary: $<HTMLElement>('model-summary'),
  estimate: $<HTMLElement>('estimate'),
  bpwBars: $<HTMLElement>('bpw-bars'),
  lowBit: $<HTMLElement>('lowbit-warning'),
  tensorBox: $<HTMLElement>('tensor-box'),
  tensorRows: document.querySelector('#tensors tbody') as HTMLTableSectionElement,
};

type SaveFilePicker = (opts: { suggestedName?: string; types?: { description: string; accept: Record<string, string[]> }[] }) => Promise<FileSystemFileHandle>;
const savePicker = (): SaveFilePicker | undefined => (window as unknown as { showSaveFilePicker?: SaveFilePicker }).showSaveFilePicker;

const MiB = 1024 * 1024;
const fmtSize = (n: number) => (n >= 1024 * MiB ? `${(n / 1024 / MiB).toFixed(2)} GiB` : `${(n / MiB).toFixed(2)} MiB`);

// ---- form setup ---------------------------------------------------------------------------------

/** the generic list (a llama-shaped model): bpw, imatrix need, implemented, derived from the registries */
const CATALOG = new Map(ftypeCatalog().map((e) => [e.ftype, e]));

/** `Q4_K_M (4.86 bpw)`, `IQ2_XXS (2.31 bpw, needs an imatrix, CPU only: no GPU kernel yet)` or `X (..., not implemented yet)` */
function ftypeLabel(name: string, e: FtypeEstimate | undefined): string {
  if (!e || e.error) return name;
  const notes = [`${e.bitsPerWeight!.toFixed(2)} bpw`];
  if (e.imatrix === 'required') notes.push('needs an imatrix');
  if (!e.implemented!.cpu) notes.push('not implemented yet');
  else if (!e.implemented!.gpu) notes.push('CPU only: no GPU kernel yet');
  return `${name} (${notes.join(', ')})`;
}

function fillSelects(): void {
  for (const f of FTYPES) {
    const e = CATALOG.get(f.name) ?? CATALOG.get(FTYPES.find((g) => g.id === f.id && !g.alias && !g.onlyCopy)?.name ?? '');
    ui.ftype.add(new Option(f.alias ? `${f.name} (= ${e?.ftype ?? '?'})` : ftypeLabel(f.name, e), f.name));
  }
  const describe = () => {
    const f = FTYPES.find((x) => x.name === ui.ftype.value);
    const e = CATALOG.get(ui.ftype.value);
    const fig = e ? figuresText(e.figures) : '';
    ui.ftypeDesc.textContent = `${f?.description ?? ''}${fig ? `; llama.cpp: ${fig}` : ''}`;
    updateEstimate();
  };
  ui.ftype.addEventListener('change', describe);
  for (const el of [ui.imatrixInput, ui.calibInput, ui.pure, ui.leaveOutput]) el.addEventListener('change', () => updateEstimate());
  ui.ftype.value = 'Q4_K_M';
  describe();
  const types = [typeLayout(GgmlType.F32), ...implementedTypes().map((t) => t.layout)].sort((a, b) => a.type - b.type);
  for (const sel of [ui.outputType, ui.embdType]) {
    sel.add(new Option('default (llama-quantize\'s choice)', ''));
    for (const t of types) sel.add(new Option(t.name, t.name));
  }
  ui.outputNote.textContent = savePicker()
    ? 'You will pick where to save the output; it is written there as it is produced, so models of any size fit.'
    : 'This browser cannot write files directly: the output is held in memory until you download it, so it needs free memory about the size of the output.';
  ui.gpuNote.textContent = 'gpu' in navigator ? '' : 'WebGPU is not available in this browser: quantization runs on the CPU (slower).';
}

let modelFiles: File[] = [];
let summary: ModelSummary | null = null;
let facts: ModelFacts | null = null;

function setModelFiles(files: File[]): void {
  modelFiles = files;
  const total = modelFiles.reduce((n, f) => n + f.size, 0);
  ui.modelInfo.textContent = modelFiles.length === 0 ? ''
    : modelFiles.length === 1 ? `${modelFiles[0].name} (${fmtSize(total)})`
    : `${modelFiles.length} files (${fmtSize(total)}): ${modelFiles.map((f) => f.name).join(', ')}`;
  ui.go.disabled = busy || modelFiles.length === 0;
  void summariseFiles(files);
}

/** Read the model's header (not its data) to show what it is and what the chosen type will make of it. */
async function summariseFiles(files: File[]): Promise<void> {
  summary = null;
  facts = null;
  ui.modelSummary.hidden = true;
  updateEstimate();
  if (!files.length) return;
  const first = files.find((f) => /-0*1-of-\d+\.gguf$/i.test(f.name)) ?? files[0];
  const byName = new Map(files.map((f) => [f.name, f]));
  try {
    const model = await openGgufModel(new BlobSource(first, first.name), async (name) => {
      const f = byName.get(name);
      if (!f) throw new Error(`shard '${name}' was not given`);
      return new BlobSource(f, f.name);
    });
    try {
      if (files !== modelFiles) return; // another choice came in meanwhile
      summary = summariseModel(model);
      facts = summary.estimatesError ? null : modelFacts(model);
    } finally {
      await model.close();
    }
    const s = summary;
    const params = s.parameters >= 1e9 ? `${(s.parameters / 1e9).toFixed(2)} B` : s.parameters >= 1e6 ? `${(s.parameters / 1e6).toFixed(1)} M` : `${(s.parameters / 1e3).toFixed(1)} K`;
    ui.modelSummary.textContent = `${s.architecture ?? 'unknown architecture'}${s.name ? ` “${s.name}”` : ''}: ${params} parameters, ` +
      `${s.tensors.length} tensors, ${fmtSize(s.tensorBytes)} of tensor data (${s.bitsPerWeight.toFixed(2)} bits per weight)` +
      (s.fileType ? `, file type ${s.fileType}` : '') + (s.estimatesError ? `. Cannot plan it: ${s.estimatesError}` : '');
  } catch (e) {
    ui.modelSummary.textContent = `Cannot read this model: ${(e as Error).message}`;
  }
  ui.modelSummary.hidden = false;
  updateEstimate();
}

/** The chosen type for the chosen model: size, bits per weight, imatrix need, implemented, bits per tensor. */
function updateEstimate(): void {
  const e = summary?.estimates.find((x) => x.ftype === (FTYPES.find((f) => f.name === ui.ftype.value && f.alias) ? CATALOG.get(ui.ftype.value)?.ftype : ui.ftype.value))
    ?? summary?.estimates.find((x) => x.id === FTYPES.find((f) => f.name === ui.ftype.value)?.id && !FTYPES.find((f) => f.name === x.ftype)?.onlyCopy);
  const generic = CATALOG.get(ui.ftype.value) ?? e;
  // a calibration text makes the imatrix before quantizing: it satisfies the requirement as --calibrate does
  const hasImatrix = !!ui.imatrixInput.files?.length || !!ui.calibInput.files?.length;
  ui.estimate.hidden = !e;
  ui.bpwBars.hidden = true;
  if (e) {
    ui.estimate.textContent = '';
    if (e.error) {
      ui.estimate.append(Object.assign(document.createElement('span'), { className: 'no', textContent: `${ui.ftype.value} cannot be made for this model: ${e.error}` }));
    } else {
      ui.estimate.append(`For this model: ${fmtSize(e.bytes!)} (${e.bitsPerWeight!.toFixed(2)} bits per weight)` +
        `${e.fallbacks!.length ? `; ${e.fallbacks!.length} tensors fall back to another type (their rows do not fit the blocks)` : ''}. `);
      if (e.missing?.cpu) ui.estimate.append(Object.assign(document.createElement('span'), { className: 'no', textContent: `${e.missing.cpu}.` }));
      drawBars();
    }
  }
  const need = (e && !e.error ? e.imatrix : generic?.imatrix) ?? 'ignored';
  ui.lowBit.hidden = hasImatrix || (need !== 'recommended' && need !== 'required');
  ui.lowBit.textContent = need === 'required'
    ? `${ui.ftype.value} needs an importance matrix: llama.cpp refuses it without one. Choose an imatrix file (made with llama-imatrix) or a calibration text to make one here.`
    : `${ui.ftype.value} without an importance matrix: ${e && !e.error ? 'this model\'s' : 'its'} low-bit tensors will lose noticeable quality. An imatrix (made with llama-imatrix, or here from a calibration text) is strongly recommended.`;
}

/** Bits per weight of every tensor under the chosen type, in write order. */
function drawBars(): void {
  if (!facts) return;
  const f = FTYPES.find((x) => x.name === ui.ftype.value);
  if (!f) return;
  let plan;
  try {
    plan = planTensorTypes(facts, { ftype: f.id, hasImatrix: true, onlyCopy: f.onlyCopy, pure: ui.pure.checked, leaveOutputTensor: ui.leaveOutput.checked, dryRun: true });
  } catch {
    return;
  }
  ui.bpwBars.textContent = '';
  for (const en of plan.entries) {
    const bpw = typeInfo(en.targetType).bitsPerWeight;
    const bar = document.createElement('span');
    bar.style.height = `${Math.max(4, (100 * bpw) / 32)}%`;
    bar.title = `${en.name}: ${typeLayout(en.targetType).name}, ${bpw.toFixed(2)} bpw`;
    ui.bpwBars.append(bar);
  }
  ui.bpwBars.hidden = false;
}

/** The WebGPU adapter this page would use, shown before any run (name, software or hardware, limits). */
async function showAdapter(): Promise<void> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) {
    ui.adapter.textContent = 'No WebGPU in this browser: quantization runs on the CPU path (slower, same bytes).';
    return;
  }
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) {
    ui.adapter.textContent = 'WebGPU is present but offers no adapter: quantization runs on the CPU path (slower, same bytes).';
    return;
  }
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  const name = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'unnamed adapter';
  const software = (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter || (info as unknown as { isFallbackAdapter?: boolean })?.isFallbackAdapter || /swiftshader|llvmpipe|software/i.test(name);
  const l = adapter.limits;
  ui.adapter.textContent = `GPU adapter: ${name} — `;
  ui.adapter.append(Object.assign(document.createElement('span'), { className: software ? 'soft' : '', id: 'adapter-kind', textContent: software ? 'software (auto uses the CPU path; choose GPU to force it)' : 'hardware' }),
    `. Largest buffer ${fmtSize(l.maxBufferSize)}, storage binding ${fmtSize(l.maxStorageBufferBindingSize)}, ${l.maxComputeWorkgroupsPerDimension} workgroups per dimension.`);
}

function wireInputs(): void {
  ui.modelInput.addEventListener('change', () => setModelFiles([...(ui.modelInput.files ?? [])]));
  ui.drop.addEventListener('click', (ev) => {
    if ((ev.target as HTMLElement).tagName !== 'LABEL') ui.modelInput.click();
  });
  ui.drop.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') ui.modelInput.click();
  });
  ui.drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    ui.drop.classList.add('over');
  });
  ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
  ui.drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    ui.drop.classList.remove('over');
    setModelFiles([...(ev.dataTransfer?.files ?? [])]);
  });
  // a file dropped anywhere else would make the browser navigate away from the page
  window.addEventListener('dragover', (ev) => ev.preventDefault());
  window.addEventListener('drop', (ev) => ev.preventDefault());
  ui.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void quantizeFromForm();
  });
  ui.cancel.addEventListener('click', () => cancelRun());
  ui.evalInput.addEventListener('change', () => updateCheck());
  ui.check.addEventListener('click', () => void checkFromForm());
}

function formOptions(): PageOptions {
  return {
    ftype: ui.ftype.value,
    pure: ui.pure.checked,
    leaveOutputTensor: ui.leaveOutput.checked,
    outputTensorType: ui.outputType.value || undefined,
    tokenEmbeddingType: ui.embdType.value || undefined,
    backend: ui.backend.value as BackendChoice,
  };
}

/** The -c and --chunks fields, checked as the CLI checks its flags. */
function chunkFields(): { ctx: number; chunks: number } {
  const ctx = ui.evalCtx.value.trim();
  const chunks = ui.evalChunks.value.trim();
  if (!/^\d+$/.test(ctx) || Number(ctx) < 2) throw new Error(`error: the context (-c) must be an integer of at least 2, got '${ctx}'`);
  if (!/^-?\d+$/.test(chunks) || Number(chunks) < -1) throw new Error(`error: chunks (--chunks) must be an integer, -1 for all, got '${chunks}'`);
  return { ctx: Number(ctx), chunks: Number(chunks) };
}

/** `model-f32.gguf` -> `model-Q4_K_M.gguf`; a split model loses its shard suffix. */
export function outputNameFor(files: readonly File[], ftype: string): string {
  const first = files.find((f) => /-0*1-of-\d+\.gguf$/i.test(f.name)) ?? files[0];
  let base = (first?.name ?? 'model.gguf').replace(/-\d{5,}-of-\d{5,}\.gguf$/i, '').replace(/\.gguf$/i, '');
  base = base.replace(/[-_.](f32|f16|bf16)$/i, '');
  return `${base}-${ftype}.gguf`;
}

// ---- running ------------------------------------------------------------------------------------

interface RunOutcome {
  backend: string;
  ms: number;
  blob: Blob | null;
  bytesWritten: number;
  log: string[];
}

let worker: Worker | null = null;
let busy = false;
let rejectRun: ((e: Error) => void) | null = null;
let downloadUrl: string | null = null;
let imatrixUrl: string | null = null;

/** What the last run wrote, for "check quality": the model it read and a way to read its output again. */
interface LastOutput {
  model: File[];
  name: string;
  /** the in-memory Blob, or the saved file read again (no second copy is held) */
  read(): Promise<Blob>;
}
let lastOutput: LastOutput | null = null;

function getWorker(): Worker {
  worker ??= new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'webgpu-quantize' });
  return worker;
}

function setBusy(b: boolean): void {
  busy = b;
  for (const el of ui.form.querySelectorAll<HTMLInputElement | HTMLSelectElement>('input, select')) el.disabled = b;
  ui.modelInput.disabled = b;
  ui.go.disabled = b || modelFiles.length === 0;
  ui.evalInput.disabled = b;
  updateCheck();
  ui.cancel.hidden = !b;
  ui.drop.style.pointerEvents = b ? 'none' : '';
}

function updateCheck(): void {
  ui.check.disabled = busy || !lastOutput || !ui.evalInput.files?.length;
  ui.checkNote.textContent = lastOutput ? `Compares ${lastOutput.name} with ${lastOutput.model.length === 1 ? lastOutput.model[0].name : 'the model it was made from'}.`
    : 'Quantize a model first.';
}

function appendLog(line: string, warn: boolean): void {
  const atBottom = ui.log.scrollTop + ui.log.clientHeight >= ui.log.scrollHeight - 4;
  const node = warn ? Object.assign(document.createElement('span'), { className: 'warn', textContent: line + '\n' }) : document.createTextNode(line + '\n');
  ui.log.append(node);
  if (atBottom) ui.log.scrollTop = ui.log.scrollHeight;
}

function showProgress(done: number, total: number, t0: number): void {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  ui.progress.value = frac;
  const s = (performance.now() - t0) / 1000;
  const rate = s > 0 ? done / s : 0;
  const eta = rate > 0 ? Math.round((total - done) / rate) : 0;
  ui.progressText.textContent = `${Math.floor(frac * 100)}%  ·  ${fmtSize(done)} of ${fmtSize(total)}  ·  ${(rate / 1e6).toFixed(1)} MB/s  ·  ETA ${Math.floor(eta / 60)}:${String(eta % 60).padStart(2, '0')}`;
}

/** `288 × 256`: trailing dimensions of 1 left out */
function shapeText(ne: readonly number[]): string {
  let n = ne.length;
  while (n > 1 && ne[n - 1] === 1) n--;
  return ne.slice(0, n).join(' × ');
}

function addTensorRow(r: TensorResult): void {
  const tr = document.createElement('tr');
  const cells: [string, string?][] = [
    [String(r.index), 'num'], [r.name], [shapeText(r.ne)], [r.sourceType],
    [r.type], [r.fallback ?? (r.quantized ? '' : 'copied'), 'why'], [(r.bytesIn / MiB).toFixed(3), 'num'], [(r.bytesOut / MiB).toFixed(3), 'num'], [String(r.ms), 'num'],
  ];
  for (const [text, cls] of cells) tr.append(Object.assign(document.createElement('td'), { textContent: text, className: cls ?? '' }));
  ui.tensorRows.append(tr);
  ui.tensorBox.hidden = false;
}

function resetStatus(): void {
  ui.tensorRows.textContent = '';
  ui.tensorBox.hidden = true;
  ui.log.textContent = '';
  ui.error.hidden = true;
  ui.result.hidden = true;
  ui.result.textContent = '';
  ui.calibResult.hidden = true;
  ui.calibResult.textContent = '';
  ui.quality.hidden = true;
  lastOutput = null;
  if (imatrixUrl) URL.revokeObjectURL(imatrixUrl);
  imatrixUrl = null;
  ui.progress.value = 0;
  ui.progressText.textContent = '';
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = null;
}

function showError(message: string): void {
  ui.error.textContent = message;
  ui.error.hidden = false;
}

/**
 * One job in the worker, its messages rendered on the page; resolves with what `done` makes of the message
 * that ends it, rejects with the one-line error the page shows.
 */
function talk<T>(job: JobMessage, log: string[], done: (m: WorkerMessage) => T | undefined): Promise<T> {
  if (busy) return Promise.reject(new Error('a job is already running'));
  setBusy(true);
  // the quantization's rate and ETA count from the end of the calibration's forward passes
  let t0 = performance.now();
  return new Promise<T>((resolve, reject) => {
    const w = getWorker();
    const finish = () => {
      w.onmessage = null;
      w.onerror = null;
      rejectRun = null;
      setBusy(false);
    };
    const fail = (e: Error) => {
      finish();
      showError(e.message);
      reject(e);
    };
    rejectRun = fail;
    w.onerror = (ev) => {
      ev.preventDefault();
      fail(new Error(`internal error: the quantization worker failed (${ev.message || 'could not load worker.js'})`));
    };
    w.onmessage = (ev: MessageEvent<WorkerMessage>) => {
      const m = ev.data;
      if (m.type === 'log') {
        log.push(m.line);
        appendLog(m.line, m.level === 'warn');
      } else if (m.type === 'progress') {
        showProgress(m.done, m.total, t0);
      } else if (m.type === 'chunk') {
        showChunk(m.step, m.done, m.total, m.value);
        t0 = performance.now();
      } else if (m.type === 'tensor') {
        addTensorRow(m.result);
      } else if (m.type === 'imatrix') {
        showImatrix(m);
      } else if (m.type === 'error') {
        const e = new Error(m.quantizeError ? `error: ${m.message}` : `internal error: ${m.name}: ${m.message}`);
        e.name = m.name;
        fail(e);
      } else {
        const r = done(m);
        if (r === undefined) return;
        finish();
        ui.progress.value = 1;
        resolve(r);
      }
    };
    w.postMessage(job);
  });
}

/** One quantization run in the worker, rendered on the page. */
function run(job: RunMessage): Promise<RunOutcome> {
  if (busy) return Promise.reject(new Error('a quantization is already running'));
  resetStatus();
  const log: string[] = [];
  return talk(job, log, (m) => (m.type === 'done' ? { backend: m.backend, ms: m.ms, blob: m.blob, bytesWritten: m.bytesWritten, log } : undefined));
}

/** a forward pass's chunk: llama-imatrix's running perplexity, or the check's running mean KLD */
function showChunk(step: 'imatrix' | 'check', done: number, total: number, value: number): void {
  ui.progress.value = total > 0 ? done / total : 1;
  ui.progressText.textContent = step === 'imatrix'
    ? `imatrix: ${done} of ${total} chunks  ·  PPL ${value.toFixed(4)}`
    : `quality: ${done} of ${total} chunks  ·  mean KLD ${value.toFixed(6)}`;
}

function showImatrix(m: Extract<WorkerMessage, { type: 'imatrix' }>): void {
  if (imatrixUrl) URL.revokeObjectURL(imatrixUrl);
  imatrixUrl = URL.createObjectURL(m.blob);
  ui.calibResult.textContent = '';
  ui.calibResult.append(
    Object.assign(document.createElement('span'), { id: 'calib-summary', textContent: `imatrix made from ${m.dataset}, ${m.chunks} chunks of ${m.chunkSize} tokens` }),
    ` (${m.entries} matrices, PPL ${m.ppl[0].toFixed(4)} ± ${m.ppl[1].toFixed(5)}, forward pass on ${m.matmul}); quantizing with it. `,
    Object.assign(document.createElement('a'), { href: imatrixUrl, download: m.name, id: 'imatrix-download', textContent: `Download ${m.name}` }),
  );
  ui.calibResult.hidden = false;
}

function cancelRun(): void {
  // terminating the worker drops its unfinished writable stream, which discards what it wrote
  worker?.terminate();
  worker = null;
  ui.progress.value = 0;
  ui.progressText.textContent = '';
  rejectRun?.(new Error('cancelled: nothing was written'));
}

function showResult(name: string, out: RunOutcome, savedToFile: boolean, ftype: string): void {
  const what = `${fmtSize(out.bytesWritten)}, ${ftype}, quantized on ${out.backend} in ${(out.ms / 1000).toFixed(1)} s`;
  ui.result.textContent = '';
  if (savedToFile) {
    ui.result.append(`Saved ${name}: ${what}.`);
  } else if (out.blob) {
    downloadUrl = URL.createObjectURL(out.blob);
    const a = Object.assign(document.createElement('a'), { href: downloadUrl, download: name, id: 'download', textContent: `Download ${name}` });
    ui.result.append(a, `: ${what}. It is held in memory until you download it.`);
  }
  ui.result.hidden = false;
}

async function quantizeFromForm(): Promise<void> {
  if (modelFiles.length === 0) return showError('error: no model file given');
  const options = formOptions();
  const calibText = ui.calibInput.files?.[0] ?? null;
  let calibration: EvalText | null = null;
  try {
    if (calibText) calibration = { text: calibText, ...chunkFields() };
  } catch (e) {
    return showError((e as Error).message);
  }
  const outputName = outputNameFor(modelFiles, options.ftype);
  let output: OutputTarget = { kind: 'memory' };
  const picker = savePicker();
  if (picker) {
    try {
      const handle = await picker({ suggestedName: outputName, types: [{ description: 'GGUF model', accept: { 'application/octet-stream': ['.gguf'] } }] });
      output = { kind: 'file', handle };
    } catch (e) {
      if ((e as Error).name === 'AbortError') return; // the user closed the dialog
      return showError(`error: cannot choose where to save: ${(e as Error).message}`);
    }
  }
  const name = output.kind === 'file' ? output.handle.name : outputName;
  const imatrix = ui.imatrixInput.files?.[0] ?? null;
  try {
    const model = modelFiles;
    const out = await run({ type: 'run', model, imatrix, options, outputName: name, output, calibration });
    showResult(name, out, output.kind === 'file', options.ftype);
    rememberOutput(model, name, output, out);
  } catch {
    // shown on the page by run()
  }
}

function rememberOutput(model: File[], name: string, output: OutputTarget, out: RunOutcome): void {
  const blob = out.blob;
  lastOutput = output.kind === 'file' ? { model, name, read: () => output.handle.getFile() }
    : blob ? { model, name, read: async () => blob } : null;
  updateCheck();
}

const pm = (v: [number, number], d: number, unit = '') => `${v[0].toFixed(d)} ± ${v[1].toFixed(d)}${unit}`;

/** "Check quality": KLD of the last output against its model on the evaluation text. */
async function checkFromForm(): Promise<void> {
  const last = lastOutput;
  const text = ui.evalInput.files?.[0];
  if (!last) return showError('error: quantize a model first: the check compares its output with the original');
  if (!text) return showError('error: choose an evaluation text');
  let ev: EvalText;
  try {
    ev = { text, ...chunkFields() };
  } catch (e) {
    return showError((e as Error).message);
  }
  ui.error.hidden = true;
  ui.quality.hidden = true;
  ui.progress.value = 0;
  ui.progressText.textContent = '';
  let quantized: Blob;
  try {
    quantized = await last.read();
  } catch (e) {
    return showError(`error: ${last.name}: cannot read the output again: ${(e as Error).message}`);
  }
  appendLog('', false);
  try {
    const r = await talk({ type: 'check', model: last.model, quantized, quantizedName: last.name, eval: ev, backend: ui.backend.value as BackendChoice },
      [], (m) => (m.type === 'checked' ? m : undefined));
    showQuality(r.stats, `${last.name} vs ${last.model[0].name} on ${text.name}: ${r.stats.chunks} chunks of ${ev.ctx} tokens ` +
      `(${r.stats.tokens} tokens scored), forward passes on ${r.matmul}, ${(r.ms / 1000).toFixed(1)} s.`);
  } catch {
    // shown on the page by talk()
  }
}

function showQuality(s: KldStats, note: string): void {
  const set = (id: string, text: string) => {
    $(id).textContent = text;
  };
  set('q-ppl-base', pm(s.ppl_base, 6));
  set('q-ppl-q', pm(s.ppl_q, 6));
  set('q-kld', pm(s.mean_kld, 6));
  set('q-rms-dp', pm(s.rms_dp_pct, 3, ' %'));
  set('q-same-top', pm(s.same_top_p_pct, 3, ' %'));
  ui.checkNote.textContent = note;
  ui.quality.hidden = false;
}

// ---- scripting / test hook ----------------------------------------------------------------------

export interface ScriptOptions extends Partial<PageOptions> {
  imatrix?: File | Blob | null;
  /** `memory` (default): bytes come back; `opfs`: streamed into an origin-private file, then read back */
  output?: 'memory' | 'opfs';
}

export interface ScriptResult {
  bytes: Uint8Array;
  log: string[];
  backend: string;
  outputName: string;
}

const asFile = (b: File | Blob, name: string) => (b instanceof File ? b : new File([b], name));

async function quantizeScripted(model: File | Blob | (File | Blob)[], opts: ScriptOptions = {}): Promise<ScriptResult> {
  const files = (Array.isArray(model) ? model : [model]).map((b, i) => asFile(b, i ? `model-${i}.gguf` : 'model.gguf'));
  const { imatrix: imatrixBlob, output: outputKind, ...given } = opts;
  const options: PageOptions = { ftype: 'Q4_K_M', pure: false, leaveOutputTensor: false, backend: 'auto', ...given };
  const outputName = outputNameFor(files, options.ftype);
  let output: OutputTarget = { kind: 'memory' };
  if (outputKind === 'opfs') {
    const dir = await navigator.storage.getDirectory();
    output = { kind: 'file', handle: await dir.getFileHandle(outputName, { create: true }) };
  }
  const imatrix = imatrixBlob ? asFile(imatrixBlob, 'imatrix.gguf') : null;
  const out = await run({ type: 'run', model: files, imatrix, options, outputName, output });
  showResult(outputName, out, output.kind === 'file', options.ftype);
  rememberOutput(files, outputName, output, out);
  const blob = output.kind === 'file' ? await output.handle.getFile() : out.blob!;
  return { bytes: new Uint8Array(await blob.arrayBuffer()), log: out.log, backend: out.backend, outputName };
}

declare global {
  interface Window {
    __wq: { quantize: typeof quantizeScripted; outputNameFor: typeof outputNameFor; ready: true };
  }
}

fillSelects();
wireInputs();
setModelFiles([]);
updateCheck();
void showAdapter();
window.__wq = { quantize: quantizeScripted, outputNameFor, ready: true };
