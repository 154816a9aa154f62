/** worker_threads entry: runs the CPU reference on the rows it is sent (see cpu-workers.ts). */
import { parentPort } from 'node:worker_threads';
import { quantizeOnCpu, type QuantizeJob } from '../pipeline/backend.js';

parentPort!.on('message', (msg: { id: number; job: QuantizeJob }) => {
  try {
    const out = quantizeOnCpu(msg.job);
    parentPort!.postMessage({ id: msg.id, out }, [out.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: (e as Error).message });
  }
});
