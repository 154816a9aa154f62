/**
 * How each WGSL quantization module is assembled, and the kernel table derived from the `QuantTraits`
 * descriptors (src/quant/registry.ts): every implemented type whose descriptor has `gpu: { wgsl, libs }`
 * gets a kernel; nothing here lists types. WGSL has no include, so a module is the ABI (bindings, Params,
 * put_u16/put_u32), its entry point (per invocation, or lanes when the type file declares LANES_PER_BLOCK), the exact binary32 library, the fp16/bf16 packers, the libraries the type asks for (row statistic
 * pass, scale searches), then the type file. shaders/README.md documents the ABI.
 */
import { type GgmlType } from '../core/ggml-type.js';
import { implementedTypes, type ImatrixUse, type QuantTraits, type WgslLib } from '../quant/registry.js';
import abiWgsl from '../../shaders/lib/abi.wgsl';
import abiInvocationWgsl from '../../shaders/lib/abi-invocation.wgsl';
import abiLanesWgsl from '../../shaders/lib/abi-lanes.wgsl';
import exactWgsl from '../../shaders/lib/exact-f32.wgsl';
import halfWgsl from '../../shaders/lib/half.wgsl';
import fusedWgsl from '../../shaders/lib/fused-f32.wgsl';
import rowStatsWgsl from '../../shaders/lib/row-stats.wgsl';
import searchWgsl from '../../shaders/lib/search.wgsl';
import kSearchWgsl from '../../shaders/lib/k-search.wgsl';
import kScalesWgsl from '../../shaders/lib/k-scales.wgsl';
import iq4SearchWgsl from '../../shaders/lib/iq4-search.wgsl';
import ternaryWgsl from '../../shaders/lib/ternary.wgsl';
import iq1SearchWgsl from '../../shaders/lib/iq1-search.wgsl';
import iqGridSearchWgsl from '../../shaders/lib/iq-grid-search.wgsl';

/** The library files every module starts with, in order. */
export const BASE_LIBS = { abi: abiWgsl, exactF32: exactWgsl, half: halfWgsl, fused: fusedWgsl } as const;
/**
 * The two entry points (shaders/README.md): one invocation per BLOCKS_PER_INVOCATION blocks, or, for a type
 * file that declares LANES_PER_BLOCK, one workgroup of LANES_PER_BLOCK lanes per BLOCKS_PER_INVOCATION blocks.
 */
export const ENTRY_LIBS = { invocation: abiInvocationWgsl, lanes: abiLanesWgsl } as const;
/** Workgroup size of the per-invocation entry point (shaders/lib/abi.wgsl WORKGROUP_SIZE). */
export const INVOCATION_WORKGROUP_SIZE = 64;
/** Optional library files a type may ask for (`QuantTraits.gpu.libs`). */
export const LIBS: Readonly<Record<WgslLib, string>> = {
  rowStats: rowStatsWgsl, search: searchWgsl, kSearch: kSearchWgsl, kScales: kScalesWgsl,
  iq4Search: iq4SearchWgsl, ternary: ternaryWgsl, iq1Search: iq1SearchWgsl, iqGridSearch: iqGridSearchWgsl,
};

/** One type's assembled WGSL module and the facts the host reads from it (derived from its QuantTraits). */
export interface GpuKernel {
  readonly type: GgmlType;
  readonly name: string;
  readonly blockValues: number;
  readonly blockBytes: number;
  /** consecutive blocks one invocation (lanes kernels: one workgroup) quantizes, so that no two write the same u32 */
  readonly blocksPerInvocation: number;
  /** lanes kernels: the workgroup size, all of whose lanes work on one block at a time; null: one invocation per block */
  readonly lanesPerBlock: number | null;
  /** consecutive blocks one workgroup quantizes: the dispatch covers ceil(n_blocks / this) workgroups */
  readonly blocksPerWorkgroup: number;
  readonly imatrix: ImatrixUse;
  /** the imatrix path needs the row-wide sigma2 = sum(x*x)/n_per_row (legacy types) */
  readonly rowSigma2: boolean;
  /** the kernel's read-only type tables (binding 6), or null when it declares none */
  readonly tables: (() => Uint32Array) | null;
  /** the complete WGSL module */
  readonly code: string;
}

/** The declaration added to a module whose descriptor has `gpu.tables` (binding 6 of the ABI). */
export const TYPE_TABLES_DECL = '@group(0) @binding(6) var<storage, read> type_tables: array<u32>;';

/** Reads `const NAME: u32 = 12u;` from a type file, so the host and the shader share one definition. */
export function wgslU32Const(source: string, name: string): number {
  const m = new RegExp(`const\\s+${name}\\s*:\\s*u32\\s*=\\s*(\\d+)u\\s*;`).exec(source);
  if (!m) throw new Error(`WGSL kernel lacks "const ${name}: u32 = <n>u;"`);
  return Number(m[1]);
}

/** Like wgslU32Const, or null when the type file does not declare `name`. */
export function wgslOptionalU32Const(source: string, name: string): number | null {
  return new RegExp(`const\\s+${name}\\s*:`).test(source) ? wgslU32Const(source, name) : null;
}

/** Assembles the module of a type whose descriptor has a kernel, checking its constants against the layout. */
export function buildKernel(traits: QuantTraits): GpuKernel {
  const { layout, gpu } = traits;
  if (!gpu) throw new Error(`${layout.name} has no WGSL kernel`);
  const blockValues = wgslU32Const(gpu.wgsl, 'BLOCK_VALUES');
  const blockBytes = wgslU32Const(gpu.wgsl, 'BLOCK_BYTES');
  const blocksPerInvocation = wgslU32Const(gpu.wgsl, 'BLOCKS_PER_INVOCATION');
  if (blockValues !== layout.blockSize || blockBytes !== layout.typeSize) {
    throw new Error(`${layout.name}.wgsl declares ${blockValues} values/${blockBytes} bytes per block, ggml has ${layout.blockSize}/${layout.typeSize}`);
  }
  if ((blockBytes * blocksPerInvocation) % 4 !== 0) {
    throw new Error(`${layout.name}.wgsl: BLOCK_BYTES * BLOCKS_PER_INVOCATION must be a multiple of 4`);
  }
  const lanesPerBlock = wgslOptionalU32Const(gpu.wgsl, 'LANES_PER_BLOCK');
  if (lanesPerBlock !== null && !(lanesPerBlock >= 1 && lanesPerBlock <= 256)) {
    throw new Error(`${layout.name}.wgsl: LANES_PER_BLOCK = ${lanesPerBlock} (a workgroup size of 1..256)`);
  }
  const libs = gpu.libs;
  const entry = lanesPerBlock === null ? ENTRY_LIBS.invocation : ENTRY_LIBS.lanes;
  const parts = [BASE_LIBS.abi, entry, ...(gpu.tables ? [TYPE_TABLES_DECL] : []), BASE_LIBS.exactF32, BASE_LIBS.half, ...libs.map((l) => LIBS[l]), gpu.wgsl];
  return {
    type: layout.type,
    name: layout.name,
    blockValues,
    blockBytes,
    blocksPerInvocation,
    lanesPerBlock,
    blocksPerWorkgroup: lanesPerBlock === null ? blocksPerInvocation * INVOCATION_WORKGROUP_SIZE : blocksPerInvocation,
    imatrix: traits.imatrix,
    rowSigma2: libs.includes('rowStats'),
    tables: gpu.tables ?? null,
    code: parts.join('\n'),
  };
}

const KERNELS = new Map<number, GpuKernel>(implementedTypes().filter((t) => t.gpu).map((t) => [t.layout.type, buildKernel(t)]));

/** The WGSL kernel for `type`, or undefined when there is none yet. */
export function gpuKernel(type: GgmlType): GpuKernel | undefined {
  return KERNELS.get(type);
}

export function gpuKernelTypes(): GgmlType[] {
  return [...KERNELS.keys()];
}
