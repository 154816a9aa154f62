/**
 * GGUF strings (keys, tensor names, string values) are bytes, and llama.cpp copies them byte for byte
 * whether or not they are valid UTF-8. The code here works on JavaScript strings (rules match names with
 * `includes` and regexes), so the bytes are decoded losslessly: valid UTF-8 decodes as usual, and every
 * byte that is not part of a valid sequence becomes the lone surrogate U+DC00 + byte (U+DC80..U+DCFF,
 * Python's "surrogateescape"). A valid UTF-8 string never decodes to a lone surrogate, so `encodeString`
 * gives back exactly the bytes that were read. Browser-safe.
 */

const STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const ENCODER = new TextEncoder();

/** An escaped (invalid) byte: U+DC80..U+DCFF stands for byte 0x80..0xFF. */
export const ESCAPE_BASE = 0xdc00;

/** Length of the valid UTF-8 sequence at b[i] (1-4), or 0 when b[i] does not start one. */
function validSequence(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number) => i + k < b.length && (b[i + k] & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const c1 = b[i + 1];
    if (c === 0xe0 && c1 < 0xa0) return 0; // overlong
    if (c === 0xed && c1 >= 0xa0) return 0; // UTF-16 surrogates are not valid UTF-8
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const c1 = b[i + 1];
    if (c === 0xf0 && c1 < 0x90) return 0; // overlong
    if (c === 0xf4 && c1 >= 0x90) return 0; // past U+10FFFF
    return 4;
  }
  return 0;
}

/** Bytes to a string, losslessly (see the file comment). */
export function decodeString(b: Uint8Array): string {
  let ascii = true;
  for (let i = 0; i < b.length; i++) if (b[i] > 0x7f) { ascii = false; break; }
  // short ASCII strings (most vocabulary entries) decode much faster without TextDecoder
  if (ascii && b.length <= 256) return String.fromCharCode.apply(null, b as unknown as number[]);
  try {
    return STRICT.decode(b);
  } catch {
    // not valid UTF-8: decode piece by piece
  }
  let s = '';
  let i = 0;
  while (i < b.length) {
    let j = i;
    let n: number;
    while (j < b.length && (n = validSequence(b, j)) > 0) j += n;
    if (j > i) s += STRICT.decode(b.subarray(i, j));
    if (j < b.length) {
      s += String.fromCharCode(ESCAPE_BASE + b[j]);
      j++;
    }
    i = j;
  }
  return s;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A string to bytes: UTF-8, with escaped bytes (U+DC80..U+DCFF) written back as the bytes they stand for. */
export function encodeString(s: string): Uint8Array {
  if (!LONE_SURROGATE.test(s)) return ENCODER.encode(s);
  const parts: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
    if (c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      for (const x of ENCODER.encode(s.slice(i, i + 2))) parts.push(x);
      i++;
    } else if (c >= 0xdc80 && c <= 0xdcff) {
      parts.push(c - ESCAPE_BASE);
    } else {
      // other lone surrogates cannot come from decodeString; TextEncoder writes U+FFFD for them
      for (const x of ENCODER.encode(s[i])) parts.push(x);
    }
  }
  return Uint8Array.from(parts);
}

/** Byte length of `s` once encoded. */
export const encodedLength = (s: string): number => encodeString(s).length;

/** Byte-wise comparison of two strings' encodings (llama.cpp's std::string ordering). */
export function compareEncoded(a: string, b: string): number {
  const x = encodeString(a);
  const y = encodeString(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}
