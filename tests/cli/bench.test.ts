// `whetstone bench` contract: JSON keys, and the Speed I kernel budget (≤ 600 tfjs kernels per full
// training step of the 6-layer gpt-10m structure, far below the plain path measured in the same run).
// Counts, not times: timings are only meaningful on a real GPU.
import { describe, it, expect } from 'vitest';
import { whetstone } from './run-cli';

describe('whetstone bench', () => {
  it('reports ≤ 600 kernels per step fused against the naive count, with a flat tensor count', () => {
    const r = whetstone(['bench', '--shape', 'gpt-10m', '--d', '64', '--seq', '32', '--batch', '2', '--naive', '--steps', '2', '--warmup', '1', '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    for (const key of ['shape', 'backend', 'adapter', 'tokensPerSecond', 'msPerStep', 'kernelsPerStep', 'gpuMsPerStep', 'wallOverGpu', 'peakBytes', 'tensorsBefore', 'tensorsAfter', 'naive']) {
      expect(r.json, key).toHaveProperty(key);
    }
    expect(r.json.shape).toBe('gpt-10m');
    expect(r.json.kernelsPerStep).toBeLessThanOrEqual(600);
    expect(r.json.naive.kernelsPerStep).toBeGreaterThan(2 * r.json.kernelsPerStep);
    expect(r.json.tensorsAfter).toBe(r.json.tensorsBefore);
    // Same function either way: the fused and plain paths start from the same loss.
    expect(Math.abs(r.json.firstLoss - r.json.naive.firstLoss)).toBeLessThan(1e-4);
  });
});
