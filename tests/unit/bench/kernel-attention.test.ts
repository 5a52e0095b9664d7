// benchAttention's contract: the keys it reports, both paths agreeing, and the flash path's peak memory
// below the plain path's (which holds the [B, H, T, S] scores and probabilities).
import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { benchAttention } from '../../../bench/kernel-attention';
import { fusedKernelsEnabled } from '../../../src/core/kernels';

describe('benchAttention', () => {
  it('reports times, peak bytes and the flash/plain difference for a GQA shape', async () => {
    const before = tf.memory().numTensors;
    const r = await benchAttention({ b: 1, h: 4, kvHeads: 2, t: 96, d: 16, iters: 2, warmup: 1 });
    expect(Object.keys(r)).toEqual([
      'kernel',
      'b',
      'h',
      'kvHeads',
      't',
      'd',
      'iters',
      'ms_fwd_flash',
      'ms_fwdbwd_flash',
      'ms_fwd_plain',
      'ms_fwdbwd_plain',
      'peak_bytes_flash',
      'peak_bytes_plain',
      'max_rel_err',
    ]);
    expect(r).toMatchObject({ kernel: 'attention', b: 1, h: 4, kvHeads: 2, t: 96, d: 16, iters: 2 });
    for (const key of ['ms_fwd_flash', 'ms_fwdbwd_flash', 'ms_fwd_plain', 'ms_fwdbwd_plain'] as const) expect(r[key]).toBeGreaterThan(0);
    expect(r.max_rel_err).toBeLessThanOrEqual(1e-3);
    expect(r.peak_bytes_plain).toBeGreaterThanOrEqual(1 * 4 * 96 * 96 * 4); // at least the scores
    expect(r.peak_bytes_flash).toBeLessThan(r.peak_bytes_plain);
    expect(tf.memory().numTensors).toBe(before);
    expect(fusedKernelsEnabled()).toBe(true);
  });

  it('rejects heads that kv heads do not divide', async () => {
    await expect(benchAttention({ b: 1, h: 6, kvHeads: 4, t: 8, d: 8, iters: 1, warmup: 0 })).rejects.toThrow(/multiple/);
  });
});
