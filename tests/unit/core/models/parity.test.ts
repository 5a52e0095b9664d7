// The engine against Hugging Face transformers on the fixture models (GPT-2, Llama, Qwen2): logits, loss,
// gradients of every parameter, greedy generation and five AdamW steps. Runs on CPU and on WebGPU.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { loadModel, type CausalLM } from '../../../../src/core/models/model';
import { causalLmLoss } from '../../../../src/core/train/loss';
import { lossAndGrads } from '../../../../src/core/train/gradients';
import { AdamW, clipByGlobalNorm } from '../../../../src/core/train/adamw';
import { generate } from '../../../../src/core/generate';
import { fixtureJson, fixtureSource, readReference, relErr, type RefTensor } from '../../../helpers';

for (const name of ['model-gpt2', 'model-llama', 'model-qwen2']) {
  describe(name, () => {
    let model: CausalLM;
    let ref: Map<string, RefTensor>;
    let ids: tf.Tensor2D;
    let labels: tf.Tensor2D;
    const json = fixtureJson(name);

    beforeAll(async () => {
      model = await loadModel(fixtureSource(name));
      ref = await readReference(name);
      ids = tf.tensor2d(ref.get('input_ids')!.i32!, ref.get('input_ids')!.shape as [number, number], 'int32');
      labels = tf.tensor2d(ref.get('labels')!.i32!, ref.get('labels')!.shape as [number, number], 'int32');
    });
    afterAll(() => {
      model.dispose();
      ids.dispose();
      labels.dispose();
    });

    it('logits and loss match transformers', async () => {
      const logits = tf.tidy(() => model.forward(ids));
      expect(logits.shape).toEqual(ref.get('logits')!.shape);
      expect(relErr(await logits.data(), ref.get('logits')!.f32!)).toBeLessThanOrEqual(1e-4);
      const loss = causalLmLoss(logits, labels);
      expect(Math.abs((await loss.data())[0] - json.loss)).toBeLessThanOrEqual(1e-4);
      tf.dispose([logits, loss]);
    });

    it('gradients of every parameter match transformers', async () => {
      const { loss, grads } = lossAndGrads(model, ids, labels, model.params);
      expect(Math.abs((await loss.data())[0] - json.loss)).toBeLessThanOrEqual(1e-4);
      const refGrads = [...ref.keys()].filter((k) => k.startsWith('grad.'));
      expect(refGrads.length).toBe(model.params.size);
      for (const key of refGrads) {
        const g = grads.get(key.slice(5));
        expect(g, key).toBeDefined();
        expect(relErr(await g!.data(), ref.get(key)!.f32!), key).toBeLessThanOrEqual(1e-3);
      }
      tf.dispose([loss, ...grads.values()]);
    });

    it('greedy generation gives the same ids', async () => {
      const out = await generate(model, json.generate_prompt, { maxNewTokens: 16, greedy: true });
      expect(out).toEqual(json.generate_greedy);
    });

    it('five AdamW steps give the same losses as torch.optim.AdamW', async () => {
      const fresh = await loadModel(fixtureSource(name));
      const a = json.adamw;
      const opt = new AdamW({ beta1: a.betas[0], beta2: a.betas[1], eps: a.eps, weightDecay: a.weight_decay });
      const losses: number[] = [];
      for (let s = 0; s < a.losses.length; s++) {
        const { loss, grads } = lossAndGrads(fresh, ids, labels, fresh.params);
        losses.push((await loss.data())[0]);
        const names = [...grads.keys()];
        const clipped = clipByGlobalNorm([...grads.values()], a.clip_grad_norm);
        opt.apply(fresh.params, new Map(names.map((n, i) => [n, clipped.grads[i]])), a.lr);
        tf.dispose([loss, ...grads.values(), ...clipped.grads, clipped.norm]);
      }
      for (let s = 0; s < losses.length; s++) expect(Math.abs(losses[s] - a.losses[s]), `step ${s}`).toBeLessThanOrEqual(1e-4);
      opt.dispose();
      fresh.dispose();
    });
  });
}
