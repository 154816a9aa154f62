/**
 * For test files that use the llama.cpp oracle: where it must load (linux-x64, the platform of its package,
 * and whenever CI=true), a missing or broken oracle registers a FAILING test with the reason, so that its
 * tests cannot pass by being skipped; elsewhere the oracle tests are reported skipped with the reason.
 * (Kept apart from llama-cpp.ts, which child processes load outside vitest.)
 */
import { expect, test } from 'vitest';
import { loadOracle, oracleUnavailable, type Oracle } from './llama-cpp.js';

export const ORACLE_REQUIRED = (process.platform === 'linux' && process.arch === 'x64') || process.env.CI === 'true';

export function requireOracle(): Oracle | null {
  const oracle = loadOracle();
  if (!oracle) {
    if (ORACLE_REQUIRED) {
      test(`the llama.cpp oracle loads (required on linux-x64 and under CI=true)`, () => {
        expect.fail(`${oracleUnavailable}; the oracle tests of this file were not run`);
      });
    } else {
      console.log(`${oracleUnavailable}: the oracle tests are skipped`);
    }
  }
  return oracle;
}
