/**
 * The table of WGSL quantization kernels and how each shader module is assembled: WGSL has no include,
 * so a module is the ABI (bindings + entry point), the exact binary32 library, the fp16/bf16 packers,
 * the optional row-statistic pass and scale searches, then the type file. shaders/README.md documents the
 * ABI; adding a type is one file in shaders/ and one line in KERNELS.
 */
import { GgmlType, typeLayout } from '../quant/ggml-type.js';
import abiWgsl from '../../shaders/lib/abi.wgsl';
import exactWgsl from '../../shaders/lib/exact-f32.wgsl';
import halfWgsl from '../../shaders/lib/half.wgsl';
import rowStatsWgsl from '../../shaders/lib/row-stats.wgsl';
import searchWgsl from '../../shaders/lib/search.wgsl';
import kSearchWgsl from '../../shaders/lib/k-search.wgsl';
import kScalesWgsl from '../../shaders/lib/k-scales.wgsl';
import iq4SearchWgsl from '../../shaders/lib/iq4-search.wgsl';
import ternaryWgsl from '../../shaders/lib/ternary.wgsl';
import f16Wgsl from '../../shaders/f16.wgsl';
import bf16Wgsl from '../../shaders/bf16.wgsl';
import q8_0Wgsl from '../../shaders/q8_0.wgsl';
import q4_0Wgsl from '../../shaders/q4_0.wgsl';
import q4_1Wgsl from '../../shaders/q4_1.wgsl';
import q5_0Wgsl from '../../shaders/q5_0.wgsl';
import q5_1Wgsl from '../../shaders/q5_1.wgsl';
import q2_kWgsl from '../../shaders/q2_k.wgsl';
import q3_kWgsl from '../../shaders/q3_k.wgsl';
import q4_kWgsl from '../../shaders/q4_k.wgsl';
import q5_kWgsl from '../../shaders/q5_k.wgsl';
import q6_kWgsl from '../../shaders/q6_k.wgsl';
import iq4_nlWgsl from '../../shaders/iq4_nl.wgsl';
import iq4_xsWgsl from '../../shaders/iq4_xs.wgsl';
import tq1_0Wgsl from '../../shaders/tq1_0.wgsl';
import tq2_0Wgsl from '../../shaders/tq2_0.wgsl';
import mxfp4Wgsl from '../../shaders/mxfp4.wgsl';
import q1_0Wgsl from '../../shaders/q1_0.wgsl';
import q2_0Wgsl from '../../shaders/q2_0.wgsl';

/** The library files every module starts with, in order. */
export const BASE_LIBS = { abi: abiWgsl, exactF32: exactWgsl, half: halfWgsl } as const;
/** Optional library files a type may ask for. */
export const LIBS = {
  rowStats: rowStatsWgsl, search: searchWgsl, kSearch: kSearchWgsl, kScales: kScalesWgsl,
  iq4Search: iq4SearchWgsl, ternary: ternaryWgsl,
} as const;
export type LibName = keyof typeof LIBS;

export type ImatrixUse =
  /** the type never reads an imatrix (Q8_0, F16, BF16): one pipeline */
  | 'ignored'
  /** without imatrix the reference path, with one the imatrix path (pipeline override USE_IMATRIX) */
  | 'optional'
  /** ggml_quantize_requires_imatrix types: quantizing without one is an error */
  | 'required';

export interface GpuKernel {
  readonly type: GgmlType;
  readonly name: string;
  readonly blockValues: number;
  readonly blockBytes: number;
  /** consecutive blocks one invocation quantizes, so that no two invocations write the same u32 */
  readonly blocksPerInvocation: number;
  readonly imatrix: ImatrixUse;
  /** the imatrix path needs the row-wide sigma2 = sum(x*x)/n_per_row (legacy types) */
  readonly rowSigma2: boolean;
  /** the complete WGSL module */
  readonly code: string;
}

interface KernelDef {
  type: GgmlType;
  source: string;
  imatrix: ImatrixUse;
  libs?: LibName[];
}

const KERNEL_DEFS: KernelDef[] = [
  { type: GgmlType.F16, source: f16Wgsl, imatrix: 'ignored' },
  { type: GgmlType.BF16, source: bf16Wgsl, imatrix: 'ignored' },
  { type: GgmlType.Q8_0, source: q8_0Wgsl, imatrix: 'ignored' },
  { type: GgmlType.Q4_0, source: q4_0Wgsl, imatrix: 'optional', libs: ['rowStats', 'search'] },
  { type: GgmlType.Q4_1, source: q4_1Wgsl, imatrix: 'optional', libs: ['rowStats', 'search'] },
  { type: GgmlType.Q5_0, source: q5_0Wgsl, imatrix: 'optional', libs: ['rowStats', 'search'] },
  { type: GgmlType.Q5_1, source: q5_1Wgsl, imatrix: 'optional', libs: ['rowStats', 'search'] },
  // K-quants compute their sigma2 per 256-value super-block themselves: no row statistic pass
  { type: GgmlType.Q2_K, source: q2_kWgsl, imatrix: 'optional', libs: ['search', 'kSearch', 'kScales'] },
  { type: GgmlType.Q3_K, source: q3_kWgsl, imatrix: 'optional', libs: ['search', 'kSearch', 'kScales'] },
  { type: GgmlType.Q4_K, source: q4_kWgsl, imatrix: 'optional', libs: ['search', 'kSearch', 'kScales'] },
  { type: GgmlType.Q5_K, source: q5_kWgsl, imatrix: 'optional', libs: ['search', 'kSearch', 'kScales'] },
  { type: GgmlType.Q6_K, source: q6_kWgsl, imatrix: 'optional', libs: ['search', 'kSearch', 'kScales'] },
  // IQ4_* compute their sigma2 per (super-)block themselves
  { type: GgmlType.IQ4_NL, source: iq4_nlWgsl, imatrix: 'optional', libs: ['iq4Search'] },
  { type: GgmlType.IQ4_XS, source: iq4_xsWgsl, imatrix: 'optional', libs: ['iq4Search'] },
  { type: GgmlType.TQ1_0, source: tq1_0Wgsl, imatrix: 'ignored', libs: ['ternary'] },
  { type: GgmlType.TQ2_0, source: tq2_0Wgsl, imatrix: 'ignored', libs: ['ternary'] },
  { type: GgmlType.MXFP4, source: mxfp4Wgsl, imatrix: 'ignored' },
  // Q1_0/Q2_0 run their reference row by row with an imatrix: the same bytes
  { type: GgmlType.Q1_0, source: q1_0Wgsl, imatrix: 'ignored' },
  { type: GgmlType.Q2_0, source: q2_0Wgsl, imatrix: 'ignored' },
];

/** Reads `const NAME: u32 = 12u;` from a type file, so the host and the shader share one definition. */
export function wgslU32Const(source: string, name: string): number {
  const m = new RegExp(`const\\s+${name}\\s*:\\s*u32\\s*=\\s*(\\d+)u\\s*;`).exec(source);
  if (!m) throw new Error(`WGSL kernel lacks "const ${name}: u32 = <n>u;"`);
  return Number(m[1]);
}

export function buildKernel(def: KernelDef): GpuKernel {
  const layout = typeLayout(def.type);
  const blockValues = wgslU32Const(def.source, 'BLOCK_VALUES');
  const blockBytes = wgslU32Const(def.source, 'BLOCK_BYTES');
  const blocksPerInvocation = wgslU32Const(def.source, 'BLOCKS_PER_INVOCATION');
  if (blockValues !== layout.blockSize || blockBytes !== layout.typeSize) {
    throw new Error(`${layout.name}.wgsl declares ${blockValues} values/${blockBytes} bytes per block, ggml has ${layout.blockSize}/${layout.typeSize}`);
  }
  if ((blockBytes * blocksPerInvocation) % 4 !== 0) {
    throw new Error(`${layout.name}.wgsl: BLOCK_BYTES * BLOCKS_PER_INVOCATION must be a multiple of 4`);
  }
  const libs = def.libs ?? [];
  const parts = [BASE_LIBS.abi, BASE_LIBS.exactF32, BASE_LIBS.half, ...libs.map((l) => LIBS[l]), def.source];
  return {
    type: def.type,
    name: layout.name,
    blockValues,
    blockBytes,
    blocksPerInvocation,
    imatrix: def.imatrix,
    rowSigma2: libs.includes('rowStats'),
    code: parts.join('\n'),
  };
}

const KERNELS = new Map<number, GpuKernel>(KERNEL_DEFS.map((d) => [d.type, buildKernel(d)]));

/** The WGSL kernel for `type`, or undefined when there is none yet. */
export function gpuKernel(type: GgmlType): GpuKernel | undefined {
  return KERNELS.get(type);
}

export function gpuKernelTypes(): GgmlType[] {
  return [...KERNELS.keys()];
}
