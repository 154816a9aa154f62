/**
 * Console lines in llama-quantize's format (per-tensor lines and totals, which users' scripts parse),
 * plus a progress bar with ETA for terminals. Pure formatting: where the lines go is the caller's choice.
 */
import { typeLayout, type GgmlType } from '../core/ggml-type.js';

const MiB = 1024 * 1024;

const pad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const padEnd = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const fixed = (v: number, width: number, digits: number) => pad(v.toFixed(digits), width);

export function formatShape(ne: readonly number[]): string {
  const dims = [0, 1, 2, 3].map((i) => pad(String(ne[i] ?? 1), 6));
  return dims.join(', ');
}

/** `[   3/  21] token_embd.weight                    - [   256,    288,      1,      1], type =    f32, ` */
export function tensorLinePrefix(index: number, total: number, name: string, ne: readonly number[], type: GgmlType): string {
  return `[${pad(String(index), 4)}/${pad(String(total), 4)}] ${padEnd(name, 36)} - [${formatShape(ne)}], type = ${pad(typeLayout(type).name, 6)}, `;
}

export function convertedSuffix(target: GgmlType, before: number, after: number): string {
  return `converting to ${typeLayout(target).name} .. size = ${fixed(before / MiB, 8, 2)} MiB -> ${fixed(after / MiB, 8, 2)} MiB`;
}

export function dryRunSuffix(target: GgmlType, before: number, after: number): string {
  return `size = ${fixed(before / MiB, 8, 2)} MiB -> ${fixed(after / MiB, 8, 2)} MiB (${typeLayout(target).name})`;
}

export function copiedSuffix(size: number): string {
  return `size = ${fixed(size / MiB, 8, 3)} MiB`;
}

export function totalsLines(sizeIn: number, sizeOut: number, nElements: number): string[] {
  const bpw = (bytes: number) => (nElements ? (bytes * 8) / nElements : 0).toFixed(2);
  return [
    `llama_model_quantize_impl: model size  = ${fixed(sizeIn / MiB, 8, 2)} MiB (${bpw(sizeIn)} BPW)`,
    `llama_model_quantize_impl: quant size  = ${fixed(sizeOut / MiB, 8, 2)} MiB (${bpw(sizeOut)} BPW)`,
  ];
}

export function timeLines(quantizeMs: number, totalMs: number): string[] {
  return [
    `llama_quantize: quantize time = ${fixed(quantizeMs, 8, 2)} ms`,
    `llama_quantize:    total time = ${fixed(totalMs, 8, 2)} ms`,
  ];
}

/** `[#########-----------]  45%  1.2 GB/s  ETA 0:42` */
export function progressBar(done: number, total: number, elapsedMs: number, width = 30): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(frac * width);
  const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
  const etaS = rate > 0 ? (total - done) / rate : 0;
  const eta = `${Math.floor(etaS / 60)}:${String(Math.floor(etaS % 60)).padStart(2, '0')}`;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${pad(String(Math.floor(frac * 100)), 3)}%  ${(rate / 1e6).toFixed(1)} MB/s  ETA ${eta}`;
}
