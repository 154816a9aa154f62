/**
 * A llama-shaped F16 model spec of about `gb` GB for the benches: Llama-2-7B's shape (n_embd 4096,
 * n_ff 11008, vocab 32000) from about 2 GB up, narrower shapes below so that a small size really is small
 * (the embeddings alone of the 7B shape are 0.5 GB).
 */
import { GgmlType } from '../../src/core/ggml-type.js';
import type { SyntheticSpec } from '../../src/synthetic-model.js';

export function llamaSpecForSize(gb: number, name: string, seed: number): SyntheticSpec {
  const bytes = gb * 1e9;
  const widths = [4096, 2048, 1024, 512, 256];
  const shape = (nEmbd: number) => {
    const nVocab = nEmbd >= 1024 ? 32000 : 8192;
    const nFf = Math.round((nEmbd * 2.6875) / 256) * 256;
    const nHead = Math.max(4, nEmbd / 128);
    const nHeadKv = Math.max(1, nHead / 4);
    const kvDim = (nEmbd / nHead) * nHeadKv;
    const perLayer = 2 * (2 * nEmbd * nEmbd + 2 * nEmbd * kvDim + 3 * nEmbd * nFf);
    const fixed = 2 * 2 * nEmbd * nVocab;
    return { nEmbd, nVocab, nFf, nHead, nHeadKv, perLayer, fixed };
  };
  // the widest shape whose embeddings take at most a third of the size
  const s = shape(widths.find((w) => shape(w).fixed <= bytes / 3) ?? 256);
  const nLayer = Math.max(1, Math.round((bytes - s.fixed) / s.perLayer));
  return { nLayer, nEmbd: s.nEmbd, nFf: s.nFf, nHead: s.nHead, nHeadKv: s.nHeadKv, nVocab: s.nVocab, dtype: GgmlType.F16, name, seed };
}
