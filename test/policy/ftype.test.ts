import { describe, it, expect } from 'vitest';
import { GgmlType } from '../../src/core/ggml-type.js';
import { FTYPES, LlamaFtype, parseFtype, ftypeName, ftypeDefaultType, LLAMA_FTYPE_GUESSED } from '../../src/policy/ftype.js';
import { PolicyError } from '../../src/policy/errors.js';

describe('ftype table (spec §4.1)', () => {
  it('names 35 file types plus COPY, with the three aliases', () => {
    const ids = new Set(FTYPES.filter((f) => !f.onlyCopy).map((f) => f.id));
    expect(ids.size).toBe(35);
    expect(FTYPES.filter((f) => f.alias).map((f) => f.name).sort()).toEqual(['Q3_K', 'Q4_K', 'Q5_K']);
    expect(FTYPES.filter((f) => f.onlyCopy).map((f) => [f.name, f.id])).toEqual([['COPY', 0]]);
    expect(ids.has(LlamaFtype.NVFP4)).toBe(false);
  });

  it('default types where the name does not say it', () => {
    expect(ftypeDefaultType(LlamaFtype.IQ2_S)).toBe(GgmlType.IQ2_XS);
    expect(ftypeDefaultType(LlamaFtype.IQ2_M)).toBe(GgmlType.IQ2_S);
    expect(ftypeDefaultType(LlamaFtype.IQ3_XS)).toBe(GgmlType.IQ3_S);
    expect(ftypeDefaultType(LlamaFtype.IQ3_M)).toBe(GgmlType.IQ3_S);
    expect(ftypeDefaultType(LlamaFtype.Q2_K_S)).toBe(GgmlType.Q2_K);
    expect(ftypeDefaultType(LlamaFtype.MXFP4_MOE)).toBe(GgmlType.MXFP4);
    expect(ftypeDefaultType(LlamaFtype.ALL_F32)).toBe(GgmlType.F32);
  });

  it('NVFP4 and unknown ids are "invalid output file type"', () => {
    expect(() => ftypeDefaultType(39)).toThrow(/invalid output file type 39/);
    expect(() => ftypeDefaultType(5)).toThrow(/invalid output file type 5/);
    expect(() => parseFtype('NVFP4')).toThrow(PolicyError);
    expect(() => parseFtype('39')).toThrow(/invalid output file type 39/);
  });
});

describe('parseFtype (llama-quantize try_parse_ftype)', () => {
  it('matches names case-insensitively and keeps the table spelling', () => {
    expect(parseFtype('q4_k_m')).toEqual({ id: 15, name: 'Q4_K_M', onlyCopy: false, defaultType: GgmlType.Q4_K });
    expect(parseFtype('Q4_k')?.name).toBe('Q4_K');
    expect(parseFtype('mxfp4_moe')?.id).toBe(38);
    expect(parseFtype('copy')).toEqual({ id: 0, name: 'COPY', onlyCopy: true, defaultType: GgmlType.F32 });
  });

  it('numbers resolve to the first table entry with that id', () => {
    expect(parseFtype('12')?.name).toBe('Q3_K');
    expect(parseFtype('15')?.name).toBe('Q4_K');
    expect(parseFtype('17')?.name).toBe('Q5_K');
    expect(parseFtype('0')).toMatchObject({ name: 'F32', onlyCopy: false });
    expect(parseFtype('40')?.name).toBe('Q1_0');
  });

  it('reads numbers the way std::stoi does', () => {
    expect(parseFtype(' +7')?.name).toBe('Q8_0');
    expect(parseFtype('7b-model.gguf')?.name).toBe('Q8_0');
    expect(parseFtype('5')).toBeUndefined();
    expect(parseFtype('out.gguf')).toBeUndefined();
    expect(parseFtype('99999999999')).toBeUndefined();
  });

  it('ftypeName gives the canonical name', () => {
    expect(ftypeName(12)).toBe('Q3_K_M');
    expect(ftypeName(0)).toBe('F32');
    expect(ftypeName(39)).toBe('NVFP4');
    expect(ftypeName(15 | LLAMA_FTYPE_GUESSED)).toBe('Q4_K_M (guessed)');
    for (const f of FTYPES) if (!f.alias && !f.onlyCopy) expect(parseFtype(ftypeName(f.id))?.id).toBe(f.id);
  });
});
