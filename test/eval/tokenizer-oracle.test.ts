/**
 * The SentencePiece tokenizer against llama.cpp's llama_tokenize (oracle, vocabulary of stories260K) on the
 * cases the golden texts do not reach: empty text, leading and repeated spaces, newlines and tabs, special
 * tokens written in the text (parsed or not), characters outside the vocabulary (byte fallback), emoji
 * (surrogate pairs), and every add_special / parse_special combination.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openGgufModelFile } from '../../src/node/file-io.js';
import { Tokenizer } from '../../src/model/tokenizer.js';
import { oracleUnavailable } from '../oracle/llama-cpp.js';
import { ORACLE_REQUIRED } from '../oracle/require-oracle.js';
import { openTokenizeOracle } from '../oracle/llama-decode.js';
import { SHARED } from '../golden/shared-paths.js';

const MODEL = path.join(SHARED, 'models/stories260K-gguf/stories260K.gguf');
const CASES = [
  '', ' ', '  ', 'a', ' a', 'Hello world', '  two  spaces  ', 'line\nbreak\n\n', '\ttab\t', 'end ',
  '<s>', 'x<s>y', ' </s> and <unk>', '<s><s>', 'Once upon a time<s>there was</s>',
  'naïve café — “quotes” 你好 ☃', '🙂 emoji 🚀🚀', '\u0000nul', 'ÿ\u00ff\u0100', 'Lily said, "Can I play?"',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'The the THE tHe', '1234567890 3.14159 -42',
];

describe('tokenizer vs llama_tokenize (oracle)', () => {
  it(`stories260K: ${CASES.length} texts x add_special x parse_special identical`, async () => {
    const oracle = openTokenizeOracle(MODEL);
    if (!oracle) {
      if (ORACLE_REQUIRED) throw new Error(oracleUnavailable);
      console.log(oracleUnavailable);
      return;
    }
    const m = await openGgufModelFile(MODEL);
    const tok = Tokenizer.fromKvs(m.kvs, m.name);
    await m.close();
    let n = 0;
    for (const text of CASES) {
      for (const addSpecial of [true, false]) {
        for (const parseSpecial of [true, false]) {
          expect(tok.tokenize(text, addSpecial, parseSpecial), `${JSON.stringify(text)} add=${addSpecial} parse=${parseSpecial}`).toEqual(oracle(text, addSpecial, parseSpecial));
          n++;
        }
      }
    }
    expect(n).toBe(CASES.length * 4);
  });
});
