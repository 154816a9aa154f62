/**
 * The tokenizer stored in a GGUF file (`tokenizer.ggml.*`), giving the token ids llama.cpp's
 * llama_tokenize gives: special-token partitioning of the text, BOS/EOS as the metadata says, and the
 * SentencePiece (`llama`) model: merges of UTF-8 characters by highest score, then byte fallback.
 * Browser-safe. `gpt2` (BPE) vocabularies are refused with a clear message (not implemented yet).
 */
import { QuantizeError } from '../errors.js';
import { findKv, kvNumber, kvStringValue, type GgufKv } from '../formats/gguf-kv.js';

/** llama_token_type as stored in tokenizer.ggml.token_type */
export enum TokenType {
  UNDEFINED = 0, NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6,
}

/** one piece of the input: raw text or an already-recognised special token */
type Fragment = { text: string } | { token: number };

/** U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's visible space */
const SPM_SPACE = '\u2581';

export class Tokenizer {
  readonly model: string;
  readonly nTokens: number;
  readonly bos: number;
  readonly eos: number;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  private readonly ids = new Map<string, number>();
  /** control, user-defined and unknown tokens, longest text first (llama.cpp's cache_special_tokens) */
  private readonly specials: number[];

  constructor(readonly tokens: readonly string[], readonly scores: Float32Array, readonly types: Int32Array, kvs: readonly GgufKv[], file: string) {
    this.model = kvStringValue(kvs, 'tokenizer.ggml.model') ?? '';
    if (this.model !== 'llama') {
      throw new QuantizeError(`${file}: tokenizer.ggml.model '${this.model}' is not supported yet (only 'llama', SentencePiece)`);
    }
    this.nTokens = tokens.length;
    tokens.forEach((t, i) => {
      if (!this.ids.has(t)) this.ids.set(t, i);
    });
    const id = (key: string, dflt: number) => {
      const v = kvNumber(kvs, key);
      return v === undefined || v >= this.nTokens ? dflt : v;
    };
    const flag = (key: string, dflt: boolean) => {
      const e = findKv(kvs, key);
      return e && !e.isArray ? Boolean(e.value) : dflt;
    };
    // SPM defaults (llama_vocab::impl::load): BOS 1, EOS 2, add BOS, no EOS, a space prefix
    this.bos = id('tokenizer.ggml.bos_token_id', 1);
    this.eos = id('tokenizer.ggml.eos_token_id', 2);
    this.addBos = flag('tokenizer.ggml.add_bos_token', true);
    this.addEos = flag('tokenizer.ggml.add_eos_token', false);
    this.addSpacePrefix = flag('tokenizer.ggml.add_space_prefix', true);
    const special = (t: number) => t === TokenType.CONTROL || t === TokenType.USER_DEFINED || t === TokenType.UNKNOWN;
    this.specials = [];
    for (let i = 0; i < this.nTokens; i++) if (special(types[i])) this.specials.push(i);
    this.specials.sort((a, b) => tokens[b].length - tokens[a].length || a - b);
  }

  /** The tokenizer of a model's metadata. */
  static fromKvs(kvs: readonly GgufKv[], file: string): Tokenizer {
    const arr = (key: string) => {
      const e = findKv(kvs, key);
      if (!e || !e.isArray) throw new QuantizeError(`${file}: no tokenizer in this GGUF (key '${key}' is missing)`);
      return e.value;
    };
    const tokens = arr('tokenizer.ggml.tokens') as string[];
    const n = tokens.length;
    const scoresKv = findKv(kvs, 'tokenizer.ggml.scores');
    const typesKv = findKv(kvs, 'tokenizer.ggml.token_type');
    const scores = scoresKv?.isArray ? Float32Array.from(scoresKv.value as ArrayLike<number>) : new Float32Array(n);
    const types = typesKv?.isArray ? Int32Array.from(typesKv.value as ArrayLike<number>) : new Int32Array(n).fill(TokenType.NORMAL);
    if (scores.length !== n || types.length !== n) {
      throw new QuantizeError(`${file}: tokenizer arrays disagree: ${n} tokens, ${scores.length} scores, ${types.length} types`);
    }
    return new Tokenizer(tokens, scores, types, kvs, file);
  }

  /**
   * llama_tokenize(text, add_special, parse_special): BOS (and EOS) when `addSpecial` and the metadata
   * asks for them; control and unknown tokens written in the text are recognised only with `parseSpecial`
   * (user-defined ones always).
   */
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): number[] {
    const out: number[] = [];
    const fragments = text.length ? this.partition(text, parseSpecial) : [];
    let prevSpecial = true; // a space prefix before the first text
    if (addSpecial && this.addBos) out.push(this.bos);
    for (const f of fragments) {
      if ('token' in f) {
        out.push(f.token);
        prevSpecial = true;
        continue;
      }
      const t = (this.addSpacePrefix && prevSpecial ? ' ' : '') + f.text;
      this.spm(t.replaceAll(' ', SPM_SPACE), out);
      prevSpecial = false;
    }
    if (addSpecial && this.addEos) out.push(this.eos);
    return out;
  }

  /** Split the text around special tokens, longest tokens first (tokenizer_st_partition). */
  private partition(text: string, parseSpecial: boolean): Fragment[] {
    let frags: Fragment[] = [{ text }];
    for (const id of this.specials) {
      const t = this.types[id];
      if (!parseSpecial && (t === TokenType.CONTROL || t === TokenType.UNKNOWN)) continue;
      const s = this.tokens[id];
      if (!s.length) continue;
      const next: Fragment[] = [];
      for (const f of frags) {
        if (!('text' in f) || !f.text.includes(s)) {
          next.push(f);
          continue;
        }
        const parts = f.text.split(s);
        parts.forEach((p, i) => {
          if (i > 0) next.push({ token: id });
          if (p.length) next.push({ text: p });
        });
      }
      frags = next;
    }
    return frags;
  }

  /**
   * The text of a token as llama_token_to_piece(special = true) gives it for SPM: control, unknown and
   * user-defined tokens as written, normal ones with ▁ as space, byte tokens as their byte; others empty.
   */
  piece(id: number): Uint8Array {
    const t = this.tokens[id] ?? '';
    const type = this.types[id];
    if (type === TokenType.CONTROL || type === TokenType.UNKNOWN || type === TokenType.USER_DEFINED) return new TextEncoder().encode(t);
    if (type === TokenType.NORMAL) return new TextEncoder().encode(t.replaceAll(SPM_SPACE, ' '));
    if (type === TokenType.BYTE) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
      if (m) return Uint8Array.of(parseInt(m[1], 16));
    }
    return new Uint8Array(0);
  }

  private byteToken(b: number): number {
    const hex = b.toString(16).toUpperCase().padStart(2, '0');
    const id = this.ids.get(`<0x${hex}>`);
    if (id === undefined) throw new QuantizeError(`tokenizer: byte ${b} has no <0x${hex}> token and is not in the vocabulary`);
    return id;
  }

  /**
   * SentencePiece merge: start from the text's characters, repeatedly merge the adjacent pair whose
   * concatenation is the vocabulary token of highest score (leftmost first on ties), then emit each symbol,
   * splitting symbols that are not tokens back along their merge history, down to UTF-8 byte tokens.
   */
  private spm(text: string, out: number[]): void {
    // symbols as [start, length] in UTF-16 units over `text`, linked by prev/next
    const start: number[] = [];
    const len: number[] = [];
    for (let i = 0; i < text.length;) {
      const cp = text.codePointAt(i)!;
      const n = cp > 0xffff ? 2 : 1;
      start.push(i);
      len.push(n);
      i += n;
    }
    const count = start.length;
    if (!count) return;
    const prev = Int32Array.from({ length: count }, (_, i) => i - 1);
    const next = Int32Array.from({ length: count }, (_, i) => (i + 1 < count ? i + 1 : -1));
    const heap = new BigramHeap();
    const revMerge = new Map<string, [number, number]>();
    const tryAdd = (l: number, r: number) => {
      if (l < 0 || r < 0) return;
      const s = text.substr(start[l], len[l] + len[r]);
      const id = this.ids.get(s);
      if (id === undefined) return;
      heap.push({ left: l, right: r, score: this.scores[id], size: len[l] + len[r] });
      revMerge.set(s, [l, r]);
    };
    for (let i = 1; i < count; i++) tryAdd(i - 1, i);
    for (let b = heap.pop(); b; b = heap.pop()) {
      if (len[b.left] === 0 || len[b.right] === 0 || len[b.left] + len[b.right] !== b.size) continue;
      len[b.left] += len[b.right];
      len[b.right] = 0;
      next[b.left] = next[b.right];
      if (next[b.right] >= 0) prev[next[b.right]] = b.left;
      tryAdd(prev[b.left], b.left);
      tryAdd(b.left, next[b.left]);
    }
    const resegment = (sym: number) => {
      const s = text.substr(start[sym], len[sym]);
      const id = this.ids.get(s);
      if (id !== undefined) {
        out.push(id);
        return;
      }
      const m = revMerge.get(s);
      if (!m) {
        for (const byte of new TextEncoder().encode(s)) out.push(this.byteToken(byte));
        return;
      }
      resegment(m[0]);
      resegment(m[1]);
    };
    for (let i = 0; i !== -1; i = next[i]) resegment(i);
  }
}

interface Bigram {
  left: number;
  right: number;
  score: number;
  size: number;
}

/** max-heap on score, then the smaller left index (llm_bigram_spm's comparator) */
class BigramHeap {
  private readonly a: Bigram[] = [];
  private static before(x: Bigram, y: Bigram): boolean {
    return x.score > y.score || (x.score === y.score && x.left < y.left);
  }
  push(b: Bigram): void {
    const a = this.a;
    a.push(b);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!BigramHeap.before(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): Bigram | undefined {
    const a = this.a;
    if (!a.length) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && BigramHeap.before(a[l], a[m])) m = l;
        if (r < a.length && BigramHeap.before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}
