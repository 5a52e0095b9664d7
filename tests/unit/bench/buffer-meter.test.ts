// The buffer meter (bench/buffer-meter.ts): each buffer once however many tensors share it (a reshape, a
// clone), where tf.memory's numBytes counts every tensor; freed when the last tensor goes; the peak; buffers
// from before the start never counted. On WebGPU it is checked against the backend's own count of bytes in
// GPU buffers. CPU and WebGPU.
import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { meterBuffers } from '../../../bench/buffer-meter';

const gpuBytes = () => (tf.memory() as { numBytesInGPU?: number }).numBytesInGPU;

describe('meterBuffers', () => {
  it('counts a buffer once for all the tensors that share it, and frees it with the last', async () => {
    const old = tf.tidy(() => tf.add(tf.zeros([8]), 1));
    const meter = meterBuffers();
    const bytesBefore = tf.memory().numBytes;
    const gpuBefore = gpuBytes();
    const n = 64 * 32 * 4;
    // x is a kernel output (on WebGPU a GPU buffer, and ones is uploaded for it); the scalar 1 is freed.
    const [ones, x] = tf.tidy(() => {
      const o = tf.ones([64, 32]);
      return [o, tf.add(o, 1)];
    });
    const views = [x.reshape([32, 64]), x.clone(), tf.reshape(x, [2048])];
    await x.data();
    expect(tf.memory().numBytes - bytesBefore).toBe(5 * n); // ones, x and its three views
    expect(meter.bytes).toBe(2 * n);
    if (gpuBefore !== undefined) expect(gpuBytes()! - gpuBefore).toBe(2 * n);
    ones.dispose();
    x.dispose();
    views[0].dispose();
    views[1].dispose();
    expect(meter.bytes).toBe(n);
    views[2].dispose();
    expect(meter.bytes).toBe(0);
    old.dispose(); // allocated before the start: not counted either way
    expect(meter.bytes).toBe(0);
    expect(meter.peak).toBe(2 * n + 4); // the scalar 1 was alive when x was made
    meter.resetPeak();
    expect(meter.peak).toBe(meter.bytes);
    const y = tf.tidy(() => tf.add(tf.zeros([10]), 2));
    expect(meter.bytes).toBe(40);
    expect(meter.peak).toBe(84); // zeros, the scalar 2 and y
    meter.stop();
    y.dispose();
    expect(meter.bytes).toBe(40); // stopped: no longer watching
  });

  it('nests: an inner meter stopped leaves the outer one watching', () => {
    const outer = meterBuffers();
    const inner = meterBuffers();
    const a = tf.tidy(() => tf.add(tf.zeros([4]), 1));
    expect(inner.bytes).toBe(16);
    inner.stop();
    const b = tf.tidy(() => tf.add(tf.zeros([4]), 1));
    expect(outer.bytes).toBe(32);
    expect(inner.bytes).toBe(16);
    tf.dispose([a, b]);
    outer.stop();
  });
});
