/**
 * Runs one llama_model_quantize call in its own process, for combinations where llama.cpp aborts
 * (GGML_ASSERT) instead of returning an error: `node --import tsx oracle-child.ts <json>` with
 * {input, output, params}; prints {rc, error} as JSON when the call returns at all.
 */
import { loadOracle, oracleUnavailable } from '../oracle/llama-cpp.js';
import { loadReferenceImatrix } from '../oracle/imatrix-reference.js';

const { input, output, params } = JSON.parse(process.argv[2]);
const oracle = loadOracle();
if (!oracle) {
  console.error(oracleUnavailable);
  process.exit(3);
}
if (params.imatrixFile) await loadReferenceImatrix(params.imatrixFile.path);
const rc = oracle.modelQuantize(input, output, params);
process.stdout.write(JSON.stringify({ rc, error: oracle.lastQuantizeError() }));
