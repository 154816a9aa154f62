/**
 * `QuantTraits`: everything this project knows about one quantization type, declared once in the type's own
 * file (`src/quant/<type>.ts`) and listed in `registry.ts`. The CPU registry, the GPU kernel table
 * (src/gpu/kernels.ts) and the tests that loop over types all derive from these descriptors.
 */
import type { TypeLayout } from '../core/ggml-type.js';

/** How a type uses an importance matrix (ggml_quantize_chunk / ggml_quantize_requires_imatrix). */
export type ImatrixUse =
  /** never read (F16, BF16, Q8_0): `quantizeRowRef` is the only path, an imatrix is accepted and ignored */
  | 'ignored'
  /** `quantizeRowRef` without an imatrix, `quantizeRowImpl` with one */
  | 'optional'
  /** ggml_quantize_requires_imatrix: only `quantizeRowImpl`, quantizing without an imatrix is an error */
  | 'required';

/** WGSL libraries (shaders/lib/) a kernel may ask for beyond the ABI, exact-f32 and half ones every module gets. */
export type WgslLib =
  /** the legacy imatrix paths' row-wide sigma2 (a pre-pass over whole rows) */
  | 'rowStats'
  /** the symmetric/asymmetric scale searches */
  | 'search'
  /** the K-quant super-block searches */
  | 'kSearch'
  /** the K-quant 6-bit scale packing */
  | 'kScales'
  /** the IQ4_NL/IQ4_XS scale search (best_index_int8, first fit + 15 trial scales) */
  | 'iq4Search'
  /** TQ1_0/TQ2_0: d = max|x| and the trits */
  | 'ternary'
  /** IQ1_S/IQ1_M (lanes kernels): sort, weights, split search, the iq1s grid's on-grid map and neighbour search (needs the grid's type tables) */
  | 'iq1Search'
  /**
   * IQ2 and IQ3 lanes kernels: sigma2, weights, signs and the lane-parallel grid-constrained scale search with
   * its neighbour fallback (needs the grid's type tables; the type file sets the IQG_* constants)
   */
  | 'iqGridSearch';

export interface QuantTraits {
  /** ggml's layout of the type (a row of core/ggml-type.ts TYPE_LAYOUTS): id, name, block size, bytes, fp16 fields */
  readonly layout: TypeLayout;
  readonly imatrix: ImatrixUse;
  /**
   * `quantize_row_<type>_ref`: the plain path, `n` values (whole blocks, rows back to back) into
   * `n / blockSize` blocks. Absent for 'required' types.
   */
  quantizeRowRef?(src: Float32Array, dst: Uint8Array, n: number): void;
  /**
   * `quantize_row_<type>_impl`: the imatrix path for ONE row of `nPerRow` values; `imatrix` holds its
   * `nPerRow` weights. Absent for 'ignored' types. Called with null only when the type has no
   * `quantizeRowRef` and is not 'required' (a type whose plain path is its impl without weights, as IQ4_NL's),
   * so a type with a `quantizeRowRef` may declare the parameter as `Float32Array`.
   */
  quantizeRowImpl?(src: Float32Array, dst: Uint8Array, nPerRow: number, imatrix: Float32Array | null): void;
  /** `dequantize_row_<type>`: `n` values (whole blocks) from `src` into `dst`. */
  dequantizeRow(src: Uint8Array, dst: Float32Array, n: number): void;
  /**
   * The WGSL kernel: `wgsl` is shaders/<type>.wgsl imported as text, `libs` the shaders/lib files it needs
   * (src/gpu/kernels.ts assembles the module). null: no kernel yet, the type is refused under --backend gpu.
   * `tables`: the kernel's read-only "type tables" (binding 6, `type_tables: array<u32>`, shaders/README.md),
   * e.g. a grid and its neighbour lists; called once per device, the buffer is cached with the pipelines.
   */
  readonly gpu: { readonly wgsl: string; readonly libs: readonly WgslLib[]; readonly tables?: () => Uint32Array } | null;
  /**
   * The forward pass's WGSL dequantizer: shaders/dequant/<type>.wgsl imported as text (its BLOCK_VALUES,
   * BLOCK_BYTES and `dequant_block`; the ABI is shaders/lib/dequant-abi.wgsl, assembled by
   * src/gpu/dequant.ts). Every type has one: the forward pass dequantizes its weights on the device only.
   */
  readonly gpuDequant: string;
}
