/**
 * The three character classes the BPE pre-tokenizers look at, as llama.cpp v0.5.0 sees them: letter
 * (\p{L}), number (\p{N}) and white space (the Unicode White_Space property, which includes U+0085 and
 * excludes U+FEFF, unlike JavaScript's \s). Letters and numbers come from the JavaScript engine's Unicode
 * tables, less the code points that llama.cpp's tables (an older Unicode version) leave unassigned.
 * test/eval/bpe-oracle.test.ts compares every code point with the oracle's unicode_cpt_flags_from_cpt.
 * Browser-safe.
 */

/**
 * Letters and numbers added in Unicode 16 and 17 (inclusive ranges): unassigned in llama.cpp v0.5.0's
 * tables, so neither letter nor number there. Data: the difference between Node 20's Unicode 17 tables and
 * llama.cpp's, measured over all code points.
 */
const NEWER_THAN_LLAMA: ReadonlyArray<readonly [number, number]> = [
  [0x88f, 0x88f], [0xc5c, 0xc5c], [0xcdc, 0xcdc], [0x1c89, 0x1c8a], [0xa7cb, 0xa7cf], [0xa7d2, 0xa7d2],
  [0xa7d4, 0xa7d4], [0xa7da, 0xa7dc], [0xa7f1, 0xa7f1], [0x105c0, 0x105f3], [0x10940, 0x10959],
  [0x10d40, 0x10d65], [0x10d6f, 0x10d85], [0x10ec2, 0x10ec7], [0x11380, 0x11389], [0x1138b, 0x1138b],
  [0x1138e, 0x1138e], [0x11390, 0x113b5], [0x113b7, 0x113b7], [0x113d1, 0x113d1], [0x113d3, 0x113d3],
  [0x116d0, 0x116e3], [0x11bc0, 0x11be0], [0x11bf0, 0x11bf9], [0x11db0, 0x11ddb], [0x11de0, 0x11de9],
  [0x13460, 0x143fa], [0x16100, 0x1611d], [0x16130, 0x16139], [0x16d40, 0x16d6c], [0x16d70, 0x16d79],
  [0x16ea0, 0x16eb8], [0x16ebb, 0x16ed3], [0x16ff2, 0x16ff6], [0x187f8, 0x187ff], [0x18cff, 0x18cff],
  [0x18d09, 0x18d1e], [0x18d80, 0x18df2], [0x1ccf0, 0x1ccf9], [0x1e5d0, 0x1e5ed], [0x1e5f0, 0x1e5fa],
  [0x1e6c0, 0x1e6de], [0x1e6e0, 0x1e6e2], [0x1e6e4, 0x1e6e5], [0x1e6e7, 0x1e6ed], [0x1e6f0, 0x1e6f4],
  [0x1e6fe, 0x1e6ff], [0x2b73a, 0x2b73f], [0x2cea2, 0x2cead], [0x323b0, 0x33479],
];

export const CLASS_LETTER = 1;
export const CLASS_NUMBER = 2;
export const CLASS_SPACE = 4;
const KNOWN = 8;

const RE_LETTER = /^\p{L}$/u;
const RE_NUMBER = /^\p{N}$/u;
const RE_SPACE = /^\p{White_Space}$/u;

/** per code point: KNOWN | class bits, filled on first use */
let table: Uint8Array | null = null;

function newerThanLlama(cp: number): boolean {
  let lo = 0;
  let hi = NEWER_THAN_LLAMA.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = NEWER_THAN_LLAMA[mid];
    if (cp < a) hi = mid - 1;
    else if (cp > b) lo = mid + 1;
    else return true;
  }
  return false;
}

/** CLASS_LETTER, CLASS_NUMBER and/or CLASS_SPACE bits of a code point (0 for none) */
export function charClass(cp: number): number {
  if (cp < 0 || cp > 0x10ffff) return 0;
  table ??= new Uint8Array(0x110000);
  const t = table[cp];
  if (t) return t & ~KNOWN;
  let c = 0;
  if (cp < 0xd800 || cp > 0xdfff) {
    const s = String.fromCodePoint(cp);
    if (!newerThanLlama(cp)) {
      if (RE_LETTER.test(s)) c |= CLASS_LETTER;
      if (RE_NUMBER.test(s)) c |= CLASS_NUMBER;
    }
    if (RE_SPACE.test(s)) c |= CLASS_SPACE;
  }
  table[cp] = c | KNOWN;
  return c;
}

/**
 * Case folding for the contraction rule ('s, 'T, 'Re ...): A-Z to a-z, anything else unchanged. Of
 * llama.cpp's lower-case map, only the ASCII capitals land on the letters of the contractions (checked
 * over all code points against the oracle's unicode_tolower), so this is all the rule needs.
 */
export function asciiLower(cp: number): number {
  return cp >= 0x41 && cp <= 0x5a ? cp + 0x20 : cp;
}
