import { defineConfig } from 'vitest/config';

// Tests that compute with tfjs run twice: on the CPU backend and on WebGPU (Dawn + SwiftShader in Node).
const onBothBackends = [
  'tests/unit/core/models/**/*.test.ts',
  'tests/unit/core/lora*.test.ts',
  'tests/unit/core/train/**/*.test.ts',
  'tests/unit/core/kernels/**/*.test.ts',
  'tests/unit/core/memory.test.ts',
  'tests/unit/core/tape.test.ts',
  'tests/unit/bench/buffer-meter.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 300_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'cpu',
          include: ['tests/unit/**/*.test.ts', 'tests/cli/**/*.test.ts'],
          setupFiles: ['tests/setup-backend.ts'],
          env: { WHETSTONE_BACKEND: 'cpu' },
        },
      },
      {
        extends: true,
        test: {
          name: 'webgpu',
          include: [...onBothBackends, 'tests/gpu/**/*.test.ts'],
          setupFiles: ['tests/setup-backend.ts'],
          env: { WHETSTONE_BACKEND: 'webgpu' },
        },
      },
    ],
  },
});
