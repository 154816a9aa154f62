/**
 * `webgpu-quantize tokenize -m model.gguf (-f text.txt | -p text) [--ids] [--no-bos] [--no-parse-special]
 * [--show-count]`: llama-tokenize's output. The file is read verbatim (llama-tokenize does not drop the
 * trailing newline); special tokens written in the text are parsed by default, as llama-tokenize does.
 */
import type { RunLog } from '../../pipeline/quantize-model.js';
import { UsageError } from '../../errors.js';
import { loadTokenizer, parseFlags, readPromptFile, requireFlag } from './cli-common.js';

const CMD = 'tokenize';

export async function runTokenize(argv: string[], log: RunLog): Promise<number> {
  const flags = parseFlags(argv, {
    values: { model: ['-m', '--model'], file: ['-f', '--file'], prompt: ['-p', '--prompt'] },
    bools: { ids: ['--ids'], noBos: ['--no-bos'], noParseSpecial: ['--no-parse-special'], showCount: ['--show-count'] },
  }, CMD);
  const model = requireFlag(flags, 'model', CMD);
  const file = flags.values.get('file');
  const prompt = flags.values.get('prompt');
  if ((file === undefined) === (prompt === undefined)) throw new UsageError(`${CMD}: give exactly one of -f FILE or -p TEXT`);
  const text = file !== undefined ? readPromptFile(file, false) : prompt!;
  const tok = await loadTokenizer(model);
  const ids = tok.tokenize(text, !flags.bools.has('noBos'), !flags.bools.has('noParseSpecial'));
  if (flags.bools.has('ids')) log.info(`[${ids.join(', ')}]`);
  else {
    const dec = new TextDecoder();
    for (const id of ids) log.info(`${String(id).padStart(6)} -> '${dec.decode(tok.piece(id))}'`);
  }
  if (flags.bools.has('showCount')) log.info(`Total number of tokens: ${ids.length}`);
  return 0;
}
