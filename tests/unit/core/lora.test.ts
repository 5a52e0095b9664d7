// PEFT adapters against peft: the fixture LoRA adapters applied to the fixture models give PEFT's logits,
// and merging them into the base weights gives the same logits again. Runs on CPU and on WebGPU.
import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../../../src/core/models/model';
import { createLora, loadPeftAdapter, matchesTarget, mergeLoraInPlace, parseAdapterConfig } from '../../../src/core/lora';
import { fixtureSource, readReference, relErr } from '../../helpers';

for (const [adapterName, modelName] of [
  ['lora-gpt2', 'model-gpt2'],
  ['lora-llama', 'model-llama'],
]) {
  describe(adapterName, () => {
    it('applied to the base gives the logits of PeftModel, and merged the same', async () => {
      const model = await loadModel(fixtureSource(modelName));
      const adapter = await loadPeftAdapter(model, fixtureSource(adapterName));
      expect(adapter.layers.size).toBeGreaterThan(0);
      const ref = await readReference(adapterName);
      const ids = tf.tensor2d(ref.get('input_ids')!.i32!, ref.get('input_ids')!.shape as [number, number], 'int32');
      const want = ref.get('logits')!.f32!;

      const base = tf.tidy(() => {
        const a = model.adapter;
        model.adapter = null;
        const out = model.forward(ids);
        model.adapter = a;
        return out;
      });
      // The adapter must change the output (else the comparison below proves nothing).
      expect(relErr(await base.data(), want)).toBeGreaterThan(1e-3);

      const withAdapter = tf.tidy(() => model.forward(ids));
      expect(relErr(await withAdapter.data(), want)).toBeLessThanOrEqual(1e-4);

      mergeLoraInPlace(model);
      expect(model.adapter).toBeNull();
      const merged = tf.tidy(() => model.forward(ids));
      expect(relErr(await merged.data(), want)).toBeLessThanOrEqual(1e-4);
      tf.dispose([ids, base, withAdapter, merged]);
      model.dispose();
    });
  });
}

describe('LoRA targets and init', () => {
  it('a created or loaded adapter frees all its memory when disposed (no tensor left behind by its init)', async () => {
    const model = await loadModel(fixtureSource('model-llama'));
    const before = tf.memory();
    createLora(model, { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', useRslora: false, fanInFanOut: false }, 1).dispose();
    expect(tf.memory().numTensors).toBe(before.numTensors);
    (await loadPeftAdapter(model, fixtureSource('lora-llama'))).dispose();
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    model.dispose();
  });


  it('matches names by equality or dotted suffix, all-linear, or a full regex', () => {
    expect(matchesTarget(['q_proj'], 'model.layers.0.self_attn.q_proj')).toBe(true);
    expect(matchesTarget(['proj'], 'model.layers.0.self_attn.q_proj')).toBe(false);
    expect(matchesTarget(['self_attn.q_proj'], 'model.layers.0.self_attn.q_proj')).toBe(true);
    expect(matchesTarget('all-linear', 'transformer.h.0.mlp.c_fc')).toBe(true);
    expect(matchesTarget('.*\\.0\\..*q_proj', 'model.layers.0.self_attn.q_proj')).toBe(true);
    expect(matchesTarget('.*\\.0\\..*q_proj', 'model.layers.1.self_attn.q_proj')).toBe(false);
  });

  it('a fresh adapter starts as a no-op (B = 0), freezes the base, and scales by alpha/r or alpha/√r', async () => {
    const model = await loadModel(fixtureSource('model-llama'));
    const ids = tf.tensor2d([[1, 5, 9, 13]], [1, 4], 'int32');
    const before = await tf.tidy(() => model.forward(ids)).data();
    const adapter = createLora(model, { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', useRslora: true, fanInFanOut: false }, 7);
    expect(adapter.layers.size).toBe(14);
    expect([...model.params.values()].every((v) => !v.trainable)).toBe(true);
    expect([...adapter.layers.values()][0].scale).toBeCloseTo(8 / 2);
    const after = await tf.tidy(() => model.forward(ids)).data();
    expect(relErr(after, before)).toBe(0);
    ids.dispose();
    model.dispose();
  });

  it('refuses adapters it cannot apply, by name', () => {
    expect(() => parseAdapterConfig({ peft_type: 'IA3', r: 4, target_modules: ['q_proj'] })).toThrow(/IA3/);
    expect(() => parseAdapterConfig({ peft_type: 'LORA', r: 4, target_modules: ['q_proj'], modules_to_save: ['lm_head'] })).toThrow(/modules_to_save/);
    expect(() => parseAdapterConfig({ peft_type: 'LORA', target_modules: ['q_proj'] })).toThrow(/missing field r/);
  });
});
