/**
 * The tokenizer stored in a GGUF file (`tokenizer.ggml.*`), giving the token ids llama.cpp v0.5.0's
 * llama_tokenize gives: special-token partitioning of the text, BOS/EOS as the metadata says, then either
 * the SentencePiece model (`llama`: merges of UTF-8 characters by highest score, then byte fallback) or
 * byte-level BPE (`gpt2`, bpe.ts, with the pre-tokenizer `tokenizer.ggml.pre` names). Browser-safe.
 */
import { QuantizeError } from '../errors.js';
import { findKv, kvNumber, kvStringValue, type GgufKv } from '../formats/gguf-kv.js';
import { BpeModel, byteLevelDecode, PRE_TOKENIZERS } from './bpe.js';
import { PairHeap, type SymbolPair } from './pair-heap.js';

/** llama_token_type as stored in tokenizer.ggml.token_type */
export enum TokenType {
  UNDEFINED = 0, NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6,
}

/** llama_token_attr bits (what llama.cpp derives from the token types, then adjusts by token text) */
const enum Attr {
  UNKNOWN = 1 << 0, UNUSED = 1 << 1, NORMAL = 1 << 2, CONTROL = 1 << 3, USER_DEFINED = 1 << 4, BYTE = 1 << 5,
  RSTRIP = 1 << 8,
}

const TYPE_ATTR: Record<number, number> = {
  [TokenType.UNKNOWN]: Attr.UNKNOWN, [TokenType.UNUSED]: Attr.UNUSED, [TokenType.NORMAL]: Attr.NORMAL,
  [TokenType.CONTROL]: Attr.CONTROL, [TokenType.USER_DEFINED]: Attr.USER_DEFINED, [TokenType.BYTE]: Attr.BYTE,
};

/**
 * Token texts llama.cpp v0.5.0 treats as end-of-generation whatever their type, and so makes control
 * tokens (which then split the text only with parse_special).
 */
const EOG_TEXTS = new Set([
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>',
  '<|endoftext|>', '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>',
  '<end_of_utterance>', '<eos>', '<turn|>', '<|tool_response>', '<\uff5cend\u2581of\u2581sentence\uff5c>', '[e~[',
]);

/** fill-in-the-middle token texts by the id key that, when absent, makes llama.cpp look for them */
const FIM_TEXTS: ReadonlyArray<readonly [string[], string[]]> = [
  [['fim_pre_token_id', 'prefix_token_id'], ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<\uff5cfim\u2581begin\uff5c>', '<PRE>', '\u2581<PRE>', '<|code_prefix|>', '<|prefix|>']],
  [['fim_suf_token_id', 'suffix_token_id'], ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<\uff5cfim\u2581hole\uff5c>', '<SUF>', '\u2581<SUF>', '<|code_suffix|>', '<|suffix|>']],
  [['fim_mid_token_id', 'middle_token_id'], ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<\uff5cfim\u2581end\uff5c>', '<MID>', '\u2581<MID>', '<|code_middle|>', '<|middle|>']],
  [['fim_pad_token_id'], ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]']],
  [['fim_rep_token_id'], ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>']],
  [['fim_sep_token_id'], ['<|file_sep|>']],
];

/** texts llama.cpp always renders, made user-defined whatever their type (gpt-oss) */
const ALWAYS_USER_DEFINED = ['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>'];

/** one piece of the input: raw text or an already-recognised special token */
type Fragment = { text: string } | { token: number };

/** U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's visible space */
const SPM_SPACE = '\u2581';

const utf8Length = (s: string) => new TextEncoder().encode(s).length;

/** lone UTF-16 surrogates become U+FFFD, as the UTF-8 encoding of the text handed to llama.cpp has them */
const wellFormed = (s: string) => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

/** C isspace over the ASCII range (the strip rules of special tokens) */
const C_SPACE = /[ \t\n\v\f\r]/;

export class Tokenizer {
  readonly model: string;
  readonly nTokens: number;
  /** -1 when the model has none */
  readonly bos: number;
  readonly eos: number;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  /** llama_token_attr of each token */
  readonly attrs: Uint16Array;
  private readonly ids = new Map<string, number>();
  /** control, user-defined and unknown tokens, longest UTF-8 text first (llama.cpp's cache_special_tokens) */
  private readonly specials: number[];
  private readonly bpe: BpeModel | null = null;

  constructor(readonly tokens: readonly string[], readonly scores: Float32Array, readonly types: Int32Array, kvs: readonly GgufKv[], file: string) {
    this.model = kvStringValue(kvs, 'tokenizer.ggml.model') ?? '';
    if (this.model !== 'llama' && this.model !== 'gpt2') {
      throw new QuantizeError(`${file}: tokenizer.ggml.model '${this.model}' is not supported (only 'llama', SentencePiece, and 'gpt2', byte-level BPE)`);
    }
    this.nTokens = tokens.length;
    const n = this.nTokens;
    // llama.cpp names empty tokens [EMPTY_<id>]
    this.tokens = tokens = tokens.map((t, i) => (t.length ? t : `[EMPTY_${i}]`));
    tokens.forEach((t, i) => {
      if (!this.ids.has(t)) this.ids.set(t, i);
    });
    const flag = (key: string, dflt: boolean) => {
      const e = findKv(kvs, key);
      return e && !e.isArray ? Boolean(e.value) : dflt;
    };
    const hasId = (key: string) => {
      const v = kvNumber(kvs, `tokenizer.ggml.${key}`);
      return v !== undefined && v < n;
    };
    const id = (key: string, dflt: number) => {
      const v = kvNumber(kvs, `tokenizer.ggml.${key}`);
      return v !== undefined && v < n ? v : dflt < n ? dflt : -1;
    };
    let addBos: boolean;
    if (this.model === 'gpt2') {
      const preName = kvStringValue(kvs, 'tokenizer.ggml.pre');
      const pre = preName === undefined ? undefined : PRE_TOKENIZERS.get(preName);
      if (!pre) {
        const what = preName === undefined ? 'no tokenizer.ggml.pre' : `tokenizer.ggml.pre '${preName}' is not supported`;
        throw new QuantizeError(`${file}: ${what} (supported: ${[...PRE_TOKENIZERS.keys()].join(', ')})`);
      }
      const merges = findKv(kvs, 'tokenizer.ggml.merges');
      if (!merges?.isArray || !Array.isArray(merges.value) || typeof merges.value[0] !== 'string') {
        throw new QuantizeError(`${file}: gpt2 tokenizer without tokenizer.ggml.merges (a string array)`);
      }
      this.bpe = new BpeModel(this.ids, merges.value as string[], pre);
      // BPE defaults (llama_vocab::impl::load): BOS = EOS = 11, BOS only for the pre-tokenizers that add it
      this.bos = id('bos_token_id', 11);
      this.eos = id('eos_token_id', 11);
      addBos = pre.addBos;
    } else {
      // SPM defaults: BOS 1, EOS 2, add BOS
      this.bos = id('bos_token_id', 1);
      this.eos = id('eos_token_id', 2);
      addBos = true;
    }
    this.addBos = flag('tokenizer.ggml.add_bos_token', addBos);
    this.addEos = flag('tokenizer.ggml.add_eos_token', false);
    this.addSpacePrefix = flag('tokenizer.ggml.add_space_prefix', this.model === 'llama');

    // attributes: from the types, then llama.cpp's adjustments by token text
    this.attrs = Uint16Array.from({ length: n }, (_, i) => TYPE_ATTR[types[i]] ?? 0);
    const attrs = this.attrs;
    const set = (text: string, fn: (a: number) => number) => {
      const i = this.ids.get(text);
      if (i !== undefined) attrs[i] = fn(attrs[i]);
    };
    for (const [keys, texts] of FIM_TEXTS) {
      if (keys.some(hasId)) continue;
      // llama.cpp marks the first of these it meets (hash order); vocabularies hold at most one of a group
      for (const t of texts) set(t, (a) => a | Attr.CONTROL);
    }
    for (const t of EOG_TEXTS) set(t, (a) => a | Attr.CONTROL);
    for (const t of ALWAYS_USER_DEFINED) set(t, () => Attr.USER_DEFINED);
    const has = (t: string) => this.ids.has(t);
    const hasCall = has('<|call|>') || has('<|calls|>');
    if (has('<|end|>') && hasCall && (has('<|return|>') || has('<|flush|>'))) set('<|end|>', () => Attr.USER_DEFINED);
    if (has('<|tool_response>')) set('</s>', () => Attr.NORMAL);

    this.specials = [];
    for (let i = 0; i < n; i++) if (attrs[i] & (Attr.CONTROL | Attr.USER_DEFINED | Attr.UNKNOWN)) this.specials.push(i);
    const bytes = new Map(this.specials.map((i) => [i, utf8Length(tokens[i])]));
    this.specials.sort((a, b) => bytes.get(b)! - bytes.get(a)! || a - b);

    // Phi-3 (by general.name): special tokens eat the white space after them, except <unk>, <s>, <|endoftext|>
    const name = (kvStringValue(kvs, 'general.name') ?? '').toLowerCase();
    if (name.includes('phi-3') || name.includes('phi3')) {
      for (const i of this.specials) attrs[i] |= Attr.RSTRIP;
      set('</s>', (a) => a | Attr.RSTRIP);
      for (const t of ['<unk>', '<s>', '<|endoftext|>']) set(t, (a) => a & ~Attr.RSTRIP);
    }
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
    const fragments = text.length ? this.partition(wellFormed(text), parseSpecial) : [];
    if (addSpecial && this.addBos) out.push(this.special(this.bos, 'BOS'));
    if (this.bpe) {
      for (const f of fragments) {
        if ('token' in f) out.push(f.token);
        else this.bpe.encode(f.text, out);
      }
    } else {
      let prevSpecial = true; // a space prefix before the first text
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
    }
    if (addSpecial && this.addEos) out.push(this.special(this.eos, 'EOS'));
    return out;
  }

  private special(id: number, what: string): number {
    if (id < 0) throw new QuantizeError(`tokenizer: the model asks for a ${what} token but has none`);
    return id;
  }

  /**
   * Split the text around special tokens, longest tokens first (tokenizer_st_partition), dropping the
   * white space after a token with the RSTRIP attribute. (llama.cpp's LSTRIP is set only for vocabularies
   * this tokenizer refuses: jina-v2, modern-bert.)
   */
  private partition(text: string, parseSpecial: boolean): Fragment[] {
    let frags: Fragment[] = [{ text }];
    for (const id of this.specials) {
      const a = this.attrs[id];
      if (!parseSpecial && a & (Attr.CONTROL | Attr.UNKNOWN)) continue;
      const s = this.tokens[id];
      const next: Fragment[] = [];
      for (const f of frags) {
        if (!('text' in f) || !f.text.includes(s)) {
          next.push(f);
          continue;
        }
        let rest = f.text;
        for (;;) {
          const at = rest.indexOf(s);
          if (at < 0) {
            if (rest.length) next.push({ text: rest });
            break;
          }
          if (at > 0) next.push({ text: rest.slice(0, at) });
          next.push({ token: id });
          rest = rest.slice(at + s.length);
          if (a & Attr.RSTRIP) while (rest.length && C_SPACE.test(rest[0])) rest = rest.slice(1);
        }
      }
      frags = next;
    }
    return frags;
  }

  /**
   * The text of a token as llama_token_to_piece(special = true) gives it: control, unknown and
   * user-defined tokens as written; normal ones with ▁ as space (SPM) or through the GPT-2 byte map (BPE);
   * byte tokens as their byte; others empty.
   */
  piece(id: number): Uint8Array {
    const t = this.tokens[id] ?? '';
    const a = this.attrs[id] ?? 0;
    if (a & (Attr.CONTROL | Attr.UNKNOWN | Attr.USER_DEFINED)) return new TextEncoder().encode(t);
    if (a & Attr.NORMAL) return this.bpe ? byteLevelDecode(t) : new TextEncoder().encode(t.replaceAll(SPM_SPACE, ' '));
    if (a & Attr.BYTE) {
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
    const heap = new PairHeap<ScoredPair>(byScore);
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

interface ScoredPair extends SymbolPair {
  score: number;
}

/** highest score first, then the leftmost pair (llm_bigram_spm's order) */
const byScore = (x: ScoredPair, y: ScoredPair) => x.score > y.score || (x.score === y.score && x.left < y.left);
