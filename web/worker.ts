/** The quantization worker: runs one job per message (a quantization, or a quality check), so the page stays responsive on any model size. */
import { checkJob, runJob } from './run.js';
import type { JobMessage, WorkerMessage } from './protocol.js';

interface WorkerScope {
  onmessage: ((ev: MessageEvent<JobMessage>) => void) | null;
  postMessage(message: WorkerMessage): void;
}

const scope = self as unknown as WorkerScope;
scope.onmessage = (ev) => {
  const post = (m: WorkerMessage) => scope.postMessage(m);
  void (ev.data.type === 'check' ? checkJob(ev.data, post) : runJob(ev.data, post));
};
