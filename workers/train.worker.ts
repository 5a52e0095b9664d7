// The training worker: WebGPU (or CPU) tfjs, the base model, training runs, generation and exports.
// A thin comlink shell over train-api.ts; the page imports only `type TrainApi`.
import { expose, transfer } from 'comlink';
import { api as session } from './train-api';

const api = {
  ...session,
  /** Export files move to the page without a copy. */
  async exportFiles(kind: Parameters<typeof session.exportFiles>[0]) {
    const result = await session.exportFiles(kind);
    const buffers = new Set<ArrayBuffer>();
    for (const bytes of Object.values(result.files)) buffers.add(bytes.buffer as ArrayBuffer);
    return transfer(result, [...buffers]);
  },
};

expose(api);

export type TrainApi = typeof api;
