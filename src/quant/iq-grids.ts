/**
 * The i-quant grids (spec §2.6): for each codebook its points as level vectors, the on-grid map from a level
 * key to a point, the ordered neighbour list of each off-grid key, and what the dequantizers read (the
 * ggml-common.h grid bytes, derived from the levels by the §1.6 mapping, and the parity-completed sign masks).
 * Built once per grid, lazily; neighbour lists are computed on first use of a key and cached.
 */
import { IQ1S_KEYS, IQ2S_KEYS, IQ2XS_KEYS, IQ2XXS_KEYS, IQ3S_KEYS, IQ3XXS_KEYS } from './iq-grid-data.js';

export interface IqGrid {
  readonly size: number;        // number of grid points (256, 512, 1024, 2048)
  readonly dim: number;         // coordinates per point: 8 (IQ2/IQ1 grids) or 4 (IQ3 grids)
  readonly bits: number;        // bits per level in a key: 2 or 3
  readonly levels: Uint8Array;  // size*dim level numbers L; point j, coordinate i = levels[j*dim + i]
  /** grid index of the level vector with key u = sum L_i << (bits*i), or -1 when off-grid */
  onGrid(key: number): number;
  /** the ordered neighbour list of an off-grid key (spec §2.6.2), computed lazily and cached */
  neighbours(key: number): Uint16Array;

  readonly name: IqGridName;
  /** how many distinct smallest distances a neighbour list keeps (spec §2.6.2) */
  readonly nwant: number;
  /** the key space of ggml's map (43692 for the 2-bit grids, 4096 for the 3-bit ones); keys below it are valid */
  readonly keySpace: number;
  /** level key of each point */
  readonly keys: Uint16Array;
  /** positions p = 2L + 1, laid out as `levels` */
  readonly positions: Uint8Array;
  /**
   * the dequantization grid (ggml-common.h `<name>_grid`) as bytes, laid out as `levels`: magnitudes 8/25/43
   * (IQ2), 4..62 (IQ3_XXS), 1..15 (IQ3_S); for iq1s the signed values −1/0/+1
   */
  readonly values: Int8Array;
}

export type IqGridName = 'iq2xxs' | 'iq2xs' | 'iq2s' | 'iq1s' | 'iq3xxs' | 'iq3s';

/**
 * `ksigns_iq2xs`: a 7-bit sign code completed by its parity bit (bit 7 set when the code has an odd number of
 * ones), so every 8-bit mask has an even number of negated elements (spec §1.5, §2.6.5).
 */
export const KSIGNS_IQ2XS: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (let c = 0; c < 128; c++) {
    let ones = 0;
    for (let b = 0; b < 7; b++) ones += (c >> b) & 1;
    t[c] = c | ((ones & 1) << 7);
  }
  return t;
})();

interface GridDef {
  keys: readonly number[];
  dim: number;
  bits: number;
  nwant: number;
  /** dequant byte of each level */
  byteOfLevel: readonly number[];
}

const IQ2_BYTES = [8, 25, 43];
const DEFS: Record<IqGridName, GridDef> = {
  iq2xxs: { keys: IQ2XXS_KEYS, dim: 8, bits: 2, nwant: 2, byteOfLevel: IQ2_BYTES },
  iq2xs: { keys: IQ2XS_KEYS, dim: 8, bits: 2, nwant: 2, byteOfLevel: IQ2_BYTES },
  iq2s: { keys: IQ2S_KEYS, dim: 8, bits: 2, nwant: 1, byteOfLevel: IQ2_BYTES },
  iq1s: { keys: IQ1S_KEYS, dim: 8, bits: 2, nwant: 3, byteOfLevel: [-1, 0, 1] },
  iq3xxs: { keys: IQ3XXS_KEYS, dim: 4, bits: 3, nwant: 2, byteOfLevel: [4, 12, 20, 28, 36, 44, 52, 62] },
  iq3s: { keys: IQ3S_KEYS, dim: 4, bits: 3, nwant: 3, byteOfLevel: [1, 3, 5, 7, 9, 11, 13, 15] },
};

class Grid implements IqGrid {
  readonly size: number;
  readonly dim: number;
  readonly bits: number;
  readonly nwant: number;
  readonly keySpace: number;
  readonly keys: Uint16Array;
  readonly levels: Uint8Array;
  readonly positions: Uint8Array;
  readonly values: Int8Array;
  private readonly map: Int16Array;
  private readonly lists: (Uint16Array | undefined)[];
  private readonly d2: Int32Array;
  private readonly minima: Int32Array;

  constructor(readonly name: IqGridName, def: GridDef) {
    const { keys, dim, bits, nwant, byteOfLevel } = def;
    this.size = keys.length;
    this.dim = dim;
    this.bits = bits;
    this.nwant = nwant;
    // ggml's map sizes: every key with levels <= 2 (2-bit grids: 2·(4^8 − 1)/3 = 43690) fits, plus two
    this.keySpace = bits === 2 ? 43692 : 4096;
    this.keys = Uint16Array.from(keys);
    this.levels = new Uint8Array(this.size * dim);
    this.positions = new Uint8Array(this.size * dim);
    this.values = new Int8Array(this.size * dim);
    this.map = new Int16Array(1 << (bits * dim)).fill(-1);
    const mask = (1 << bits) - 1;
    for (let j = 0; j < this.size; j++) {
      const key = keys[j];
      for (let i = 0; i < dim; i++) {
        const l = (key >> (bits * i)) & mask;
        this.levels[j * dim + i] = l;
        this.positions[j * dim + i] = 2 * l + 1;
        this.values[j * dim + i] = byteOfLevel[l];
      }
      this.map[key] = j;
    }
    this.lists = new Array(this.keySpace);
    this.d2 = new Int32Array(this.size);
    this.minima = new Int32Array(nwant);
  }

  onGrid(key: number): number {
    return this.map[key];
  }

  neighbours(key: number): Uint16Array {
    const cached = this.lists[key];
    if (cached) return cached;
    if (!(key >= 0 && key < this.keySpace) || this.map[key] >= 0) {
      throw new RangeError(`${this.name} grid: key ${key} is on the grid or outside 0..${this.keySpace - 1}; it has no neighbour list`);
    }
    const list = this.computeNeighbours(key);
    this.lists[key] = list;
    return list;
  }

  /**
   * Spec §2.6.2: every point sorted by (d2, index), kept while its d2 is among the `nwant` smallest distinct
   * distances. Done without a sort: find those distances, then list the points of each in index order.
   */
  private computeNeighbours(key: number): Uint16Array {
    const { dim, bits, size, positions, d2, minima, nwant } = this;
    const mask = (1 << bits) - 1;
    const p = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let i = 0; i < dim; i++) p[i] = 2 * ((key >> (bits * i)) & mask) + 1;
    let nMin = 0;
    for (let j = 0; j < size; j++) {
      let s = 0;
      for (let i = 0; i < dim; i++) {
        const t = positions[j * dim + i] - p[i];
        s += t * t;
      }
      d2[j] = s;
      // keep the nwant smallest distinct distances, ascending
      if (nMin === nwant && s >= minima[nMin - 1]) continue;
      let k = 0;
      while (k < nMin && minima[k] < s) k++;
      if (k < nMin && minima[k] === s) continue;
      if (nMin < nwant) nMin++;
      for (let m = nMin - 1; m > k; m--) minima[m] = minima[m - 1];
      minima[k] = s;
    }
    let count = 0;
    const limit = minima[nMin - 1];
    for (let j = 0; j < size; j++) if (d2[j] <= limit) count++;
    const list = new Uint16Array(count);
    let n = 0;
    for (let k = 0; k < nMin; k++) {
      const want = minima[k];
      for (let j = 0; j < size; j++) if (d2[j] === want) list[n++] = j;
    }
    return list;
  }
}

const BUILT = new Map<IqGridName, IqGrid>();

/** The grid `name`, built on first use. */
export function iqGrid(name: IqGridName): IqGrid {
  let g = BUILT.get(name);
  if (!g) {
    g = new Grid(name, DEFS[name]);
    BUILT.set(name, g);
  }
  return g;
}

/** Word offsets inside `iqGridGpuTables` (shaders that read the tables use the same constants). */
export const IQ_GPU_TABLE_MAP = 2048;
/** bit 31 of a map word: the key is on the grid, bits 0..15 its index */
export const IQ_GPU_ON_GRID = 0x80000000;

/**
 * The grid as one u32 array for a kernel's "type tables" binding (shaders/README.md), uploaded once per device:
 *  - words [0, size): the level key of each point (its levels, `bits` bits each);
 *  - words [IQ_GPU_TABLE_MAP, IQ_GPU_TABLE_MAP + keySpace): per key, `IQ_GPU_ON_GRID | index` when on the grid,
 *    else `(count << 20) | offset` of its neighbour list (0 for keys with a level no quantizer forms: level 3
 *    of the 2-bit grids; every key of the 3-bit grids has a list);
 *  - from `IQ_GPU_TABLE_MAP + keySpace`: the neighbour lists, one point index per word, in list order.
 */
export function iqGridGpuTables(name: IqGridName): Uint32Array {
  let t = GPU_TABLES.get(name);
  if (!t) {
    t = buildGpuTables(name);
    GPU_TABLES.set(name, t);
  }
  return t;
}

/** built once per process (a few hundred ms for iq1s: every off-grid key's neighbour list) */
const GPU_TABLES = new Map<IqGridName, Uint32Array>();

function buildGpuTables(name: IqGridName): Uint32Array {
  const g = iqGrid(name);
  if (g.size > IQ_GPU_TABLE_MAP) throw new Error(`${name}: ${g.size} points do not fit the GPU table layout`);
  const mask = (1 << g.bits) - 1;
  // the levels a quantizer forms: 0..2 on the 2-bit grids (level 3 never occurs), 0..7 on the 3-bit ones
  const topLevel = DEFS[name].byteOfLevel.length - 1;
  const validKey = (key: number) => {
    for (let i = 0; i < g.dim; i++) if (((key >> (g.bits * i)) & mask) > topLevel) return false;
    return true;
  };
  const lists: Uint16Array[] = [];
  const map = new Uint32Array(g.keySpace);
  const base = IQ_GPU_TABLE_MAP + g.keySpace;
  let offset = base;
  for (let key = 0; key < g.keySpace; key++) {
    const idx = g.onGrid(key);
    if (idx >= 0) {
      map[key] = (IQ_GPU_ON_GRID | idx) >>> 0;
    } else if (validKey(key)) {
      const list = g.neighbours(key);
      if (offset >= 1 << 20 || list.length >= 1 << 11) throw new Error(`${name}: neighbour lists overflow the GPU table layout`);
      map[key] = ((list.length << 20) | offset) >>> 0;
      lists.push(list);
      offset += list.length;
    }
  }
  const out = new Uint32Array(offset);
  out.set(g.keys, 0);
  out.set(map, IQ_GPU_TABLE_MAP);
  let o = base;
  for (const l of lists) {
    out.set(l, o);
    o += l.length;
  }
  return out;
}
