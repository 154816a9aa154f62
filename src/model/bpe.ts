/**
 * Byte-level BPE (`tokenizer.ggml.model` = `gpt2`) as llama.cpp v0.5.0 applies it: the text is cut into
 * words by the pre-tokenizer that `tokenizer.ggml.pre` names, each word's UTF-8 bytes are written with
 * GPT-2's byte-to-character map, then adjacent symbols are merged by lowest merge rank (leftmost first on
 * ties). Symbols left that are not tokens fall back to one token per ASCII byte. Browser-safe.
 *
 * The pre-tokenizers follow the Hugging Face regexes below, with llama.cpp's reading of them (its
 * hand-written matchers, not a regex engine): contractions, letter runs, digit runs, punctuation runs,
 * newline runs and white space, tried in that order at each position of a segment.
 */
import { PairHeap, type SymbolPair } from './pair-heap.js';
import { asciiLower, charClass, CLASS_LETTER, CLASS_NUMBER, CLASS_SPACE } from './unicode-classes.js';

/** how a pre-tokenizer cuts text into words */
export type PreSplit =
  /** (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
  | 'llama3'
  /** the same with \p{N} (one digit per word) */
  | 'qwen2'
  /** 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
  | 'gpt2'
  /** every \p{N} isolated first, then gpt2 within the pieces */
  | 'digits-gpt2';

export interface PreTokenizer {
  readonly split: PreSplit;
  /** a word that is itself a token is emitted whole, without merging (llama.cpp's ignore_merges) */
  readonly ignoreMerges: boolean;
  /** BOS is added unless tokenizer.ggml.add_bos_token says otherwise */
  readonly addBos: boolean;
}

const LLAMA3: PreTokenizer = { split: 'llama3', ignoreMerges: true, addBos: true };
const QWEN2: PreTokenizer = { split: 'qwen2', ignoreMerges: false, addBos: false };
const GPT2: PreTokenizer = { split: 'gpt2', ignoreMerges: false, addBos: false };
const SMOLLM: PreTokenizer = { split: 'digits-gpt2', ignoreMerges: false, addBos: false };

/** `tokenizer.ggml.pre` values handled here, grouped as llama.cpp v0.5.0 groups them */
export const PRE_TOKENIZERS: ReadonlyMap<string, PreTokenizer> = new Map([
  ...['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2', 'jina-v5-nano'].map((n) => [n, LLAMA3] as const),
  ...['qwen2', 'deepseek-r1-qwen', 'kormo', 'f2llmv2', 'megrez'].map((n) => [n, QWEN2] as const),
  ...['smollm', 'starcoder', 'refact', 'command-r', 'codeshell', 'exaone', 'minerva-7b', 'mellum2'].map((n) => [n, SMOLLM] as const),
  ...['gpt-2', 'phi-2', 'mpt', 'olmo', 'jais', 'gigachat', 'a.x-4.0', 'mellum', 'exaone4', 'trillion', 'granite-docling'].map((n) => [n, GPT2] as const),
]);

// ---------------------------------------------------------------------------------------------------
// GPT-2's byte-to-character map: printable Latin-1 bytes stand for themselves, the other 68 bytes for
// U+0100.. in byte order.

const BYTE_CHAR: string[] = (() => {
  const out = new Array<string>(256);
  let next = 0x100;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCharCode(printable ? b : next++);
  }
  return out;
})();

const CHAR_BYTE: ReadonlyMap<string, number> = new Map(BYTE_CHAR.map((c, b) => [c, b]));

/** the text of a byte-level token as bytes; characters outside the map are kept as their UTF-8 */
export function byteLevelDecode(token: string): Uint8Array {
  const out: number[] = [];
  for (const ch of token) {
    const b = CHAR_BYTE.get(ch);
    if (b !== undefined) out.push(b);
    else out.push(...new TextEncoder().encode(ch));
  }
  return Uint8Array.from(out);
}

const utf8 = new TextEncoder();

function byteLevelEncode(s: string): string {
  let out = '';
  for (const b of utf8.encode(s)) out += BYTE_CHAR[b];
  return out;
}

// ---------------------------------------------------------------------------------------------------
// pre-tokenizers: each cuts the code points [lo, hi) of a segment and appends the word lengths

const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const QUOTE = 0x27;
/** set for positions inside the segment (llama.cpp's flags are never all-zero there) */
const INSIDE = 0x100;
const S_L_N = CLASS_SPACE | CLASS_LETTER | CLASS_NUMBER;

/** The word lengths of `cps` under a pre-tokenizer. */
export function preTokenize(cps: readonly number[], split: PreSplit): number[] {
  const out: number[] = [];
  if (split === 'digits-gpt2') {
    for (const [lo, hi] of isolateNumbers(cps)) splitGpt2(cps, lo, hi, out);
  } else if (split === 'gpt2') {
    splitGpt2(cps, 0, cps.length, out);
  } else {
    splitLlama3(cps, 0, cps.length, split === 'llama3' ? 3 : 1, out);
  }
  return out;
}

/** the pieces of \p{N} (each number character alone) and of the text between them */
function isolateNumbers(cps: readonly number[]): Array<[number, number]> {
  const segs: Array<[number, number]> = [];
  let start = 0;
  for (let i = 0; i < cps.length; i++) {
    if (!(charClass(cps[i]) & CLASS_NUMBER)) continue;
    if (i > start) segs.push([start, i]);
    segs.push([i, i + 1]);
    start = i + 1;
  }
  if (start < cps.length) segs.push([start, cps.length]);
  return segs;
}

/** a cursor over one segment: the code point and class of a position, -1 / 0 outside it */
function segment(cps: readonly number[], lo: number, hi: number) {
  return {
    cp: (p: number) => (p >= lo && p < hi ? cps[p] : -1),
    cls: (p: number) => (p >= lo && p < hi ? charClass(cps[p]) | INSIDE : 0),
  };
}

/** length of the contraction at `pos` ('s 't 'm 'd, 're 've 'll), 0 if none */
function contraction(cps: readonly number[], pos: number, hi: number, fold: (c: number) => number): number {
  if (cps[pos] !== QUOTE || pos + 1 >= hi) return 0;
  const a = fold(cps[pos + 1]);
  if (a === 0x73 || a === 0x74 || a === 0x6d || a === 0x64) return 2; // s t m d
  if (pos + 2 >= hi) return 0;
  const b = fold(cps[pos + 2]);
  if ((a === 0x72 && b === 0x65) || (a === 0x76 && b === 0x65) || (a === 0x6c && b === 0x6c)) return 3; // re ve ll
  return 0;
}

/** white space at `pos`: its length, and the end of its last CR/LF (0 when it has none) */
function whitespaceRun(seg: ReturnType<typeof segment>, pos: number): { n: number; nlEnd: number } {
  let n = 0;
  let nlEnd = 0;
  while (seg.cls(pos + n) & CLASS_SPACE) {
    const c = seg.cp(pos + n);
    if (c === CR || c === LF) nlEnd = pos + n + 1;
    n++;
  }
  return { n, nlEnd };
}

function splitLlama3(cps: readonly number[], lo: number, hi: number, maxDigits: number, out: number[]): void {
  const seg = segment(cps, lo, hi);
  let pos = lo;
  let last = lo;
  const cut = (end: number) => {
    if (end > last) out.push(end - last);
    last = end;
    pos = end;
  };
  while (pos < hi) {
    const c = cps[pos];
    const cls = seg.cls(pos);
    const k = contraction(cps, pos, hi, asciiLower);
    if (k) {
      cut(pos + k);
      continue;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (c !== CR && c !== LF && !(cls & CLASS_NUMBER) && ((cls & CLASS_LETTER) || (seg.cls(pos + 1) & CLASS_LETTER))) {
      let p = pos + 1;
      while (seg.cls(p) & CLASS_LETTER) p++;
      cut(p);
      continue;
    }
    // \p{N}{1,3} (llama3) or \p{N} (qwen2): a digit run cut into groups from its start
    if (cls & CLASS_NUMBER) {
      let p = pos;
      while (p < pos + maxDigits && seg.cls(p) & CLASS_NUMBER) p++;
      cut(p);
      continue;
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*': entered on the class of the character after a space, even past the end
    const after = c === SPACE ? seg.cls(pos + 1) : cls;
    if (!(after & S_L_N)) {
      let p = pos + (c === SPACE ? 1 : 0);
      while ((seg.cls(p) & INSIDE) && !(seg.cls(p) & S_L_N)) p++;
      while (seg.cp(p) === CR || seg.cp(p) === LF) p++;
      cut(p);
      continue;
    }
    const ws = whitespaceRun(seg, pos);
    if (ws.nlEnd > 0) cut(ws.nlEnd); // \s*[\r\n]+
    else if (ws.n > 1 && seg.cp(pos + ws.n) !== -1) cut(pos + ws.n - 1); // \s+(?!\S)
    else if (ws.n > 0) cut(pos + ws.n); // \s+
    else cut(pos + 1);
  }
}

function splitGpt2(cps: readonly number[], lo: number, hi: number, out: number[]): void {
  const seg = segment(cps, lo, hi);
  let pos = lo;
  let last = lo;
  const cut = (end: number) => {
    if (end > last) out.push(end - last);
    last = end;
    pos = end;
  };
  while (pos < hi) {
    const c = cps[pos];
    const k = contraction(cps, pos, hi, (x) => x);
    if (k) {
      cut(pos + k);
      continue;
    }
    const sp = c === SPACE ? 1 : 0;
    const after = sp ? seg.cls(pos + 1) : seg.cls(pos);
    // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
    const run = after & CLASS_LETTER ? CLASS_LETTER : after & CLASS_NUMBER ? CLASS_NUMBER : (after & INSIDE) && !(after & S_L_N) ? -1 : 0;
    if (run) {
      let p = pos + sp;
      if (run > 0) while (seg.cls(p) & run) p++;
      else while ((seg.cls(p) & INSIDE) && !(seg.cls(p) & S_L_N)) p++;
      cut(p);
      continue;
    }
    const ws = whitespaceRun(seg, pos);
    if (ws.n > 1 && seg.cp(pos + ws.n) !== -1) cut(pos + ws.n - 1); // \s+(?!\S)
    else if (ws.n > 0) cut(pos + ws.n); // \s+
    else cut(pos + 1);
  }
}

// ---------------------------------------------------------------------------------------------------
// merging

interface RankedPair extends SymbolPair {
  rank: number;
}

/** lowest merge rank first, then the leftmost pair */
const byRank = (x: RankedPair, y: RankedPair) => x.rank < y.rank || (x.rank === y.rank && x.left < y.left);

const WORD_CACHE_SIZE = 1 << 16;

/** The byte-level BPE of one vocabulary. */
export class BpeModel {
  private readonly ranks = new Map<string, number>();
  /** the ids of words already seen (a word's ids depend on nothing else) */
  private readonly cache = new Map<string, number[]>();

  constructor(
    private readonly ids: ReadonlyMap<string, number>,
    merges: readonly string[],
    readonly pre: PreTokenizer,
  ) {
    merges.forEach((m, i) => {
      // "left right", split at the first space after the first character
      const at = m.indexOf(' ', 1);
      if (at < 0) return;
      if (!this.ranks.has(m)) this.ranks.set(m, i);
    });
  }

  /** Append the ids of a text (no special tokens in it) to `out`. */
  encode(text: string, out: number[]): void {
    const cps: number[] = [];
    for (const ch of text) cps.push(ch.codePointAt(0)!);
    let cp = 0;
    let unit = 0;
    for (const n of preTokenize(cps, this.pre.split)) {
      const start = unit;
      for (const end = cp + n; cp < end; cp++) unit += cps[cp] > 0xffff ? 2 : 1;
      const word = text.slice(start, unit);
      let ids = this.cache.get(word);
      if (!ids) {
        ids = this.encodeWord(byteLevelEncode(word));
        if (this.cache.size >= WORD_CACHE_SIZE) this.cache.clear();
        this.cache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  private encodeWord(word: string): number[] {
    const whole = this.pre.ignoreMerges ? this.ids.get(word) : undefined;
    if (whole !== undefined) return [whole];
    const out: number[] = [];
    this.merge(word, out);
    return out;
  }

  /** merge the characters of a byte-level word by rank, then emit its symbols */
  private merge(word: string, out: number[]): void {
    // every character of a byte-level word is one UTF-16 unit; symbol i starts at i
    const count = word.length;
    const len = new Int32Array(count).fill(1);
    const prev = Int32Array.from({ length: count }, (_, i) => i - 1);
    const next = Int32Array.from({ length: count }, (_, i) => (i + 1 < count ? i + 1 : -1));
    const heap = new PairHeap<RankedPair>(byRank);
    const tryAdd = (l: number, r: number) => {
      if (l < 0 || r < 0) return;
      const rank = this.ranks.get(`${word.substr(l, len[l])} ${word.substr(r, len[r])}`);
      if (rank !== undefined) heap.push({ rank, left: l, right: r, size: len[l] + len[r] });
    };
    for (let i = 1; i < count; i++) tryAdd(i - 1, i);
    for (let b = heap.pop(); b; b = heap.pop()) {
      const { left, right } = b;
      // stale when either side has been merged away or grown since the pair was queued
      if (len[left] === 0 || len[right] === 0 || len[left] + len[right] !== b.size) continue;
      len[left] += len[right];
      len[right] = 0;
      next[left] = next[right];
      if (next[right] >= 0) prev[next[right]] = left;
      tryAdd(prev[left], left);
      tryAdd(left, next[left]);
    }
    for (let i = 0; i !== -1; i = next[i]) {
      const sym = word.substr(i, len[i]);
      const id = this.ids.get(sym);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // not a token: one token per byte of the symbol's UTF-8 whose one-byte text is a token
      for (const byte of utf8.encode(sym)) {
        const b = byte < 0x80 ? this.ids.get(String.fromCharCode(byte)) : undefined;
        if (b !== undefined) out.push(b);
      }
    }
  }
}
