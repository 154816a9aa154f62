/**
 * Chunk inputs from a tensor held in one Float32Array or from a row source (tensors larger than a typed
 * array can hold), reading each row range once.
 */
import type { Chunk } from './chunk-plan.js';

/** Values of rows [row0, row0 + nRows), row-major; called with increasing, non-overlapping ranges. */
export type RowSource = (row0: number, nRows: number) => Float32Array | Promise<Float32Array>;

export class RowReader {
  private cachedRow = -1;
  private cached: Float32Array | null = null;

  constructor(private readonly rows: Float32Array | RowSource, private readonly nPerRow: number, private readonly label: string) {}

  /** The chunk's values. */
  async chunk(c: Chunk, blockValues: number): Promise<Float32Array> {
    const n = c.nBlocks * blockValues;
    const src = this.rows;
    if (src instanceof Float32Array) return src.subarray(c.srcValueOffset, c.srcValueOffset + n);
    if (c.wholeRows) return this.checked(await src(c.row0, c.nRows), c.nRows);
    const row = await this.row(c.row0);
    const off = c.colBlock0 * blockValues;
    return row.subarray(off, off + n);
  }

  /** One whole row (for chunks that hold only part of it). */
  async row(r: number): Promise<Float32Array> {
    const src = this.rows;
    if (src instanceof Float32Array) return src.subarray(r * this.nPerRow, (r + 1) * this.nPerRow);
    if (this.cachedRow !== r) {
      this.cached = this.checked(await src(r, 1), 1);
      this.cachedRow = r;
    }
    return this.cached!;
  }

  private checked(a: Float32Array, nRows: number): Float32Array {
    if (a.length !== nRows * this.nPerRow) {
      throw new RangeError(`tensor '${this.label}': row source gave ${a.length} values for ${nRows} rows of ${this.nPerRow}`);
    }
    return a;
  }
}
