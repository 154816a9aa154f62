/** The quantization worker: runs one job per message, so the page stays responsive on any model size. */
import { runJob } from './run.js';
import type { RunMessage, WorkerMessage } from './protocol.js';

interface WorkerScope {
  onmessage: ((ev: MessageEvent<RunMessage>) => void) | null;
  postMessage(message: WorkerMessage): void;
}

const scope = self as unknown as WorkerScope;
scope.onmessage = (ev) => {
  void runJob(ev.data, (m) => scope.postMessage(m));
};
