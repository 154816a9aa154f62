/**
 * The type lists of `--help` and `inspect`: per ftype, bits per weight, imatrix need, where it is
 * implemented (derived from the registries through type-catalog.ts) and llama.cpp's published figures.
 */
import { FTYPES } from './policy/ftype.js';
import { TYPE_LAYOUTS } from './core/ggml-type.js';
import { figuresText, ftypeCatalog, typeInfo, type FtypeEstimate } from './type-catalog.js';

const yesNo = (b: boolean | undefined) => (b ? 'yes' : 'no ');
const MiB = 1024 * 1024;

/** One table line per estimate; `sizes` adds the output size column (inspect, for a given model). */
export function ftypeTable(rows: FtypeEstimate[], sizes = false): string[] {
  const head = `  ${'id'.padStart(2)}  ${'name'.padEnd(10)}${sizes ? ` ${'size MiB'.padStart(10)}` : ''} ${'bpw'.padStart(6)}  ${'imatrix'.padEnd(11)}  cpu  gpu  ${'llama.cpp'.padEnd(22)}  description`;
  const lines = [head];
  for (const r of rows) {
    const id = String(r.id).padStart(2);
    const name = r.ftype.padEnd(10);
    if (r.error) {
      lines.push(`  ${id}  ${name}${sizes ? ` ${'-'.padStart(10)}` : ''} ${'-'.padStart(6)}  cannot: ${r.error}`);
      continue;
    }
    const size = sizes ? ` ${(r.bytes! / MiB).toFixed(2).padStart(10)}` : '';
    const fig = figuresText(r.figures, true);
    lines.push(`  ${id}  ${name}${size} ${r.bitsPerWeight!.toFixed(2).padStart(6)}  ${r.imatrix!.padEnd(11)}  ${yesNo(r.implemented?.cpu)}  ${yesNo(r.implemented?.gpu)}  ${(fig || '-').padEnd(22)}  ${r.description}`);
  }
  return lines;
}

/** The `allowed quantization types` section of --help. */
export function helpTypeList(): string {
  const aliases = FTYPES.filter((f) => f.alias).map((f) => `${f.name} = ${FTYPES.find((g) => g.id === f.id && !g.alias && !g.onlyCopy)!.name}`);
  const kinds = TYPE_LAYOUTS.filter((t) => t.isQuantized).map((t) => typeInfo(t.type));
  const done = (k: 'cpu' | 'gpu') => kinds.filter((t) => t[k]).map((t) => t.name).join(' ');
  return [
    'allowed quantization types (the type argument: a name, case-insensitive, or its id):',
    '  bpw: bits per weight of the mix on a llama-shaped model (F16 input, rows of 1024); `inspect model.gguf` gives',
    '  sizes for your model. imatrix: required (refused without one), recommended (low-bit tensors), used or',
    '  ignored. cpu/gpu: implemented in this version on the CPU reference / as a WebGPU kernel (a type without a',
    '  kernel runs on the CPU reference under --backend gpu). llama.cpp: its published figures (tools/quantize,',
    '  v0.5.0): perplexity increase on Llama-3-8B (* on Mistral-7B) and bits per weight on Llama-3.1-8B.',
    ...ftypeTable(ftypeCatalog()),
    `  aliases: ${aliases.join(', ')}; COPY copies every tensor unchanged`,
    '',
    `ggml types with a CPU reference: ${done('cpu')}`,
    `ggml types with a WebGPU kernel: ${done('gpu')}`,
    '',
  ].join('\n');
}
