/** Paths of the shared reference data beside the repository (../shared), resolved from the repo root. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED = path.resolve(REPO_ROOT, '../shared');
export const SYNTH_DIR = path.join(SHARED, 'golden/synth-v050');
