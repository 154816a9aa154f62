/**
 * The byte-level BPE tokenizer (`gpt2`) against llama.cpp v0.5.0's llama_tokenize (oracle), on real
 * vocabularies written as vocabulary-only GGUFs (bpe-vocab-fixtures.ts): Llama 3 (`llama-bpe`), Qwen3
 * (`qwen2`), GPT-2 (`gpt-2`), and GPT-2 with SmolLM's (`smollm`) and Qwen2's (`qwen2`) pre-tokenizers.
 * Texts: every paragraph of the TinyStories evaluation text, the calibration text whole, 400 random
 * strings, and edge cases (contractions in any case, digit runs, white space and newline runs, scripts and
 * emoji, code points newer than llama.cpp's Unicode tables, special tokens written in the text), each with
 * parse_special on and off. Also: the character classes over every code point against llama.cpp's own
 * tables, and the `tokenize` command.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { openGgufModelFile } from '../../src/node/file-io.js';
import { Tokenizer } from '../../src/model/tokenizer.js';
import { charClass, asciiLower, CLASS_LETTER, CLASS_NUMBER, CLASS_SPACE } from '../../src/model/unicode-classes.js';
import { oracleUnavailable } from '../oracle/llama-cpp.js';
import { ORACLE_REQUIRED } from '../oracle/require-oracle.js';
import { openTokenizeOracle, openUnicodeOracle } from '../oracle/llama-decode.js';
import { REPO_ROOT, SHARED } from '../golden/shared-paths.js';
import { mulberry32 } from '../../src/synthetic-model.js';
import { BPE_FIXTURES, bpeKvs, writeVocabGguf, type BpeFixture } from './bpe-vocab-fixtures.js';

const DATA = path.join(SHARED, 'data/tinystories');
const PARAGRAPHS = fs.readFileSync(path.join(DATA, 'eval.txt'), 'utf8').split(/\n\n+/).filter((p) => p.length);
const CALIB = fs.readFileSync(path.join(DATA, 'calib.txt'), 'utf8');

const EDGE = [
  '', ' ', '  ', '\n', '\n\n\n', ' \n \n', '\r\n', 'a', 'Hello world', 'Hello  world   again',
  "I'm He's THEY'RE we'VE it'LL you'D don't CAN'T", "'s 'S 'Ll 're 'x '", "O'Neil's ''''s", "x'", "'Tis HE'SX we'REd 'Dx", "x'The y'Really 1'Some\n'Llama",
  // words that are Llama 3 tokens but that its merges would not rebuild (its pre-tokenizer takes them whole)
  'Việt Nam có nhiều điều hợp lý, ngoài ra lardan mektedir ıldı',
  '1', '12', '123', '1234', '12345678901234567890', '3.14159 -42 1,000,000 $9.99', 'x1y22z333w4444', ' 1 22 333',
  '١٢٣٤ ½ ² Ⅻ ⑦', 'naïve café — “quotes” 你好世界 ☃', 'Здравствуй, мир!', 'مرحبا بالعالم', 'नमस्ते दुनिया', 'สวัสดีชาวโลก',
  'e\u0301 a\u0308 combining', '🙂 emoji 🚀🚀 👨‍👩‍👧 🇫🇷', '\t\ttabs\t', '   leading', 'trailing   ', 'a \t b',
  'line\r\nwindows\r\n', ' \n\n  \n x', '...\n\n', '!!!???...', '  !!', 'a!\n\nb', '\u00a0nbsp\u2003em\u3000ideo',
  '\u0085nel \u2028ls', '\ufeffbom', '\u0000nul\u0001', '\ud800lone', 'x\udc00', 'x\u{10D40}\u{10D41}y \u{13460}\u{13461}z',
  'new \u{11BF0}\u{11BF1} digits', 'function f(x) {\n  return x * 2; // ok\n}\n', '<a href="x">y</a>', 'ÿ\u00ff\u0100Ġ',
  ' '.repeat(300) + 'x', 'a'.repeat(1000), '\n'.repeat(50), '9'.repeat(101),
  '<|endoftext|>', 'a<|endoftext|>b', ' <|endoftext|> ', '<|begin_of_text|>Hi<|eot_id|>', '<|im_start|>user\nhi<|im_end|>\n',
  '<think>x</think>', '<|user|>  hi </s>\n\n x <s>  y <unk>\t z <|endoftext|>  w </s>', '</s> ', ' </s>\n', '<|end_of_text|><|end_of_text|>', '<|reserved_special_token_5|>', '<|fim_prefix|>a<|fim_suffix|>',
];

/**
 * Random strings over the characters the pre-tokenizers tell apart: ASCII letters of both cases (the
 * contraction letters often), digits, the quote, spaces, tabs, CR/LF, punctuation, other scripts' letters and
 * numbers, combining marks, emoji, exotic white space, and code points newer than llama.cpp's tables.
 */
function randomTexts(count: number, seed: number): string[] {
  const pool = [
    ..."sStTmMdDrReEvVlLxa'''   \n\n\r\t01234567899.,!?-_\"()<>|".split(''),
    'é', 'ß', 'İ', 'ſ', 'ǅ', 'я', 'Ж', 'ע', 'م', 'क', '्', 'ก', '你', '好', 'カ', '한', '\u0301', '١', '½', 'Ⅻ', '²',
    '🙂', '🚀', '\u200d', '\u00a0', '\u3000', '\u2028', '\u0085', '\ufeff', '\u000b', '\u000c', '\u{10D40}', '\u{11BF0}', '\u{13460}',
    "'s", "'LL", "'Re", "'ve", '<|endoftext|>', '<|im_end|>', '<think>',
  ];
  const rand = mulberry32(seed);
  return Array.from({ length: count }, () => {
    let t = '';
    for (let n = 1 + Math.floor(rand() * 24); n > 0; n--) t += pool[Math.floor(rand() * pool.length)];
    return t;
  });
}

const SHORT = [...EDGE, ...randomTexts(400, 9)];
const TEXTS = [...SHORT, ...PARAGRAPHS, CALIB];

describe('byte-level BPE tokenizer vs llama_tokenize (oracle)', () => {
  it('character classes and contraction case folding agree with llama.cpp on every code point', () => {
    const u = openUnicodeOracle();
    if (!u) {
      if (ORACLE_REQUIRED) throw new Error(oracleUnavailable);
      console.log(oracleUnavailable);
      return;
    }
    const bad: string[] = [];
    let folds = 0;
    for (let cp = 0; cp < 0x110000; cp++) {
      const f = u.flags(cp);
      const theirs = (f & 4 ? CLASS_LETTER : 0) | (f & 2 ? CLASS_NUMBER : 0) | (f & 0x100 ? CLASS_SPACE : 0);
      if (charClass(cp) !== theirs && bad.length < 10) bad.push(`U+${cp.toString(16)}: ours ${charClass(cp)}, llama.cpp ${theirs}`);
      // the contraction rule only asks whether a code point folds to one of these letters
      const low = u.tolower(cp);
      if ('stmdrvel'.includes(String.fromCharCode(low)) && low < 0x80) {
        folds++;
        if (asciiLower(cp) !== low) bad.push(`U+${cp.toString(16)} folds to ${low} in llama.cpp`);
      }
    }
    expect(bad).toEqual([]);
    expect(folds).toBe(16); // s t m d r v e l and their capitals
  });

  for (const f of BPE_FIXTURES) {
    const texts = f.short ? SHORT : TEXTS;
    it(`${f.name} (${f.pre}): ${texts.length} texts x parse_special, plus add_special off on the edge cases, identical`, async () => {
      const file = writeVocabGguf(bpeKvs(f, f.vocab()), f.name);
      try {
        const oracle = openTokenizeOracle(file);
        if (!oracle) {
          if (ORACLE_REQUIRED) throw new Error(oracleUnavailable);
          console.log(oracleUnavailable);
          return;
        }
        const m = await openGgufModelFile(file);
        const tok = Tokenizer.fromKvs(m.kvs, m.name);
        await m.close();
        let cases = 0;
        let ids = 0;
        const check = (text: string, add: boolean, parse: boolean) => {
          const theirs = oracle(text, add, parse);
          expect(tok.tokenize(text, add, parse), `${JSON.stringify(text.slice(0, 80))} add=${add} parse=${parse}`).toEqual(theirs);
          cases++;
          ids += theirs.length;
        };
        for (const text of texts) for (const parse of [true, false]) check(text, true, parse);
        for (const text of EDGE) for (const parse of [true, false]) check(text, false, parse);
        expect(cases).toBe(2 * texts.length + 2 * EDGE.length);
        console.log(`${f.name}: ${cases} cases, ${ids} ids identical`);
      } finally {
        fs.rmSync(path.dirname(file), { recursive: true, force: true });
      }
    }, 60_000);
  }

  // the command runs from dist/ (node scripts/build.mjs, as npm test does first)
  it('the tokenize command prints the ids for a gpt2 model, and names the file and value of an unsupported pre-tokenizer', async () => {
    const f = BPE_FIXTURES.find((x) => x.name === 'gpt2-smollm') as BpeFixture;
    const v = f.vocab();
    const good = writeVocabGguf(bpeKvs(f, v), 'good');
    const bad = writeVocabGguf(bpeKvs(f, v, 'deepseek-llm'), 'bad');
    const textFile = path.join(path.dirname(good), 'text.txt');
    const text = "Tom's 12345 apples.\n\nThey're <|endoftext|> red!\n";
    fs.writeFileSync(textFile, text);
    try {
      const cli = (model: string) => spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin/webgpu-quantize.js'), 'tokenize', '-m', model, '-f', textFile, '--ids'], { encoding: 'utf8' });
      const r = cli(good);
      expect(r.status, r.stderr).toBe(0);
      const last = r.stdout.trim().split('\n').at(-1)!;
      const oracle = openTokenizeOracle(good);
      if (!oracle) {
        if (ORACLE_REQUIRED) throw new Error(oracleUnavailable);
      } else {
        expect(JSON.parse(last)).toEqual(oracle(text, true, true));
      }
      expect(JSON.parse(last)[0]).toBe(50256); // add_bos_token = true
      const e = cli(bad);
      expect(e.status).not.toBe(0);
      expect(e.stdout).toBe('');
      const lines = e.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(bad);
      expect(lines[0]).toContain("tokenizer.ggml.pre 'deepseek-llm' is not supported");
    } finally {
      fs.rmSync(path.dirname(good), { recursive: true, force: true });
      fs.rmSync(path.dirname(bad), { recursive: true, force: true });
    }
  }, 60_000);
});
