// Puts every test file on the backend its vitest project names; a WebGPU project with no adapter fails
// here (initBackend throws) instead of silently running on the CPU.
import { beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../src/core/backend';

const want = (process.env.WHETSTONE_BACKEND ?? 'cpu') as BackendName;

beforeAll(async () => {
  const info = await initBackend(want);
  if (tf.getBackend() !== want) throw new Error(`expected the ${want} backend, got ${tf.getBackend()}`);
  if (want === 'webgpu' && !info.adapter) throw new Error('no WebGPU adapter');
});
