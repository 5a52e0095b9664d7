// The row reductions (perRow's reduceSum / reduceMax: norms, cross-entropy) with subgroup operations and
// without, against the plain-op path: values ≤ 1e-4, gradients ≤ 1e-3, on rows narrower and wider than a
// workgroup (64 and 256 threads); the same bits on a second run. On webgpu the test adapter (SwiftShader)
// offers subgroups, so the probe must find them usable and the programs must be the subgroup ones.
// On cpu the same comparisons run the JS kernels (the switch changes nothing there).
import { describe, it, expect, afterEach } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { fusedCausalLmLoss, fusedLayerNorm, fusedRmsNorm, withPlainOps } from '../../../../src/core/kernels';
import { setSubgroups, subgroupsActive } from '../../../../src/core/kernels/subgroups';
import { backendInfo } from '../../../../src/core/backend';
import { layerNorm, rmsNorm } from '../../../../src/core/models/layers';
import { causalLmLoss } from '../../../../src/core/train/loss';
import { relErr } from '../../../helpers';

const FWD = 1e-4;
const GRAD = 1e-3;
let seed = 7;
const randn = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', seed++);

afterEach(() => setSubgroups(true));

function compiled(part: string): number {
  const cache = (tf.backend() as unknown as { pipelineCache?: Record<string, unknown> }).pipelineCache ?? {};
  return Object.keys(cache).filter((k) => k.includes(part)).length;
}

/** out(xs) and the gradients of Σ out · r with respect to every x. */
function withGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], r: tf.Tensor): tf.Tensor[] {
  const y = f(...xs);
  const g = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), r)))(xs);
  return [y, ...g];
}

interface Case {
  name: string;
  fused: (...xs: tf.Tensor[]) => tf.Tensor;
  plain: (...xs: tf.Tensor[]) => tf.Tensor;
  inputs: () => tf.Tensor[];
  /** Which inputs are differentiated (labels are not). */
  diff: number[];
}

const cases = (cols: number): Case[] => [
  {
    name: `LayerNorm ×${cols}`,
    fused: (x, g, b) => fusedLayerNorm(x, g, b, 1e-5),
    plain: (x, g, b) => layerNorm(x, g, b, 1e-5),
    inputs: () => [randn([5, cols]), randn([cols]), randn([cols])],
    diff: [0, 1, 2],
  },
  {
    name: `RMSNorm ×${cols}`,
    fused: (x, g) => fusedRmsNorm(x, g, 1e-6),
    plain: (x, g) => rmsNorm(x, g, 1e-6),
    inputs: () => [randn([5, cols]), randn([cols])],
    diff: [0, 1],
  },
  {
    name: `causal LM loss, vocabulary ${cols}`,
    fused: (logits, labels) => fusedCausalLmLoss(logits as tf.Tensor3D, labels as tf.Tensor2D),
    plain: (logits, labels) => causalLmLoss(logits as tf.Tensor3D, labels as tf.Tensor2D),
    inputs: () => [
      randn([2, 4, cols]),
      tf.tensor2d(
        [
          [1, 5, -100, 2],
          [cols - 1, 0, 3, -100],
        ],
        [2, 4],
        'int32',
      ),
    ],
    diff: [0],
  },
];

/** The values of `ts`, which are then disposed. */
async function values(ts: tf.Tensor[]): Promise<Float32Array[]> {
  const out = await Promise.all(ts.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(ts);
  return out;
}

describe('row reductions with and without subgroups', () => {
  it('the probe finds the test adapter’s subgroups usable (webgpu)', () => {
    if (tf.getBackend() !== 'webgpu') {
      expect(subgroupsActive()).toBe(false);
      return;
    }
    const info = backendInfo()!;
    expect(info.adapter?.features).toContain('subgroups');
    expect(info.subgroups?.usable, info.subgroups?.reason).toBe(true);
    expect([4, 8, 16, 32, 64, 128]).toContain(info.subgroups!.size);
  });

  for (const cols of [67, 2100]) {
    it(`norms and the loss over rows of ${cols} match the plain path either way, deterministically`, async () => {
      const webgpu = tf.getBackend() === 'webgpu';
      for (const c of cases(cols)) {
        const xs = c.inputs();
        const y = c.fused(...xs);
        const r = randn(y.shape);
        y.dispose();
        const grads = (f: Case['fused']) =>
          withGrads(
            (...d: tf.Tensor[]) => f(...xs.map((x, i) => (c.diff.includes(i) ? d[c.diff.indexOf(i)] : x))),
            c.diff.map((i) => xs[i]),
            r,
          );
        const want = await values(withPlainOps(() => grads(c.plain)));
        const withSub = await values(grads(c.fused));
        if (webgpu) expect(compiled('_sg'), `${c.name}: subgroup programs`).toBeGreaterThan(0);
        const again = await values(grads(c.fused));
        setSubgroups(false);
        const without = await values(grads(c.fused));
        setSubgroups(true);
        for (let i = 0; i < want.length; i++) {
          const tol = i === 0 ? FWD : GRAD;
          const what = `${c.name} ${i === 0 ? 'value' : `d/dx${c.diff[i - 1]}`}`;
          expect(relErr(withSub[i], want[i]), `${what} (subgroups)`).toBeLessThanOrEqual(tol);
          expect(relErr(without[i], want[i]), `${what} (workgroup tree)`).toBeLessThanOrEqual(tol);
          expect(Array.from(again[i]), `${what}: a second run gives the same bits`).toEqual(Array.from(withSub[i]));
        }
        tf.dispose([...xs, r]);
      }
    });
  }
});
