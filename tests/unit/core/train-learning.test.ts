// LoRA learns: on the fixture Llama, Qwen2 and GPT-2 a small sentiment task halves the validation loss;
// the exported adapter has PEFT's names and shapes and reloads with identical logits; the merged export
// gives the same logits; early stopping stops an overfitting run and restores its best weights.
// (CPU backend only: the WebGPU project runs the trainer's exactness tests; this needs many steps.)
import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../../../src/core/models/model';
import { loadTokenizer } from '../../../src/core/tokenizer';
import { bytesSource } from '../../../src/core/files';
import { loadPeftAdapter } from '../../../src/core/lora';
import { openSafetensors } from '../../../src/core/safetensors';
import { resolveTrainConfig } from '../../../src/core/train/config';
import { prepareData, setupMethod, splitData } from '../../../src/core/train/job';
import { Trainer, type TrainEvent } from '../../../src/core/train/trainer';
import { exportPeftAdapter } from '../../../src/core/export/peft';
import { exportMergedModel } from '../../../src/core/export/merged';
import { dirSource } from '../../../cli/node-files';
import { modelFolder, relErr, sentimentJsonl } from '../../helpers';

for (const family of ['llama', 'qwen2', 'gpt2'] as const) {
  describe(`LoRA on the ${family} fixture`, () => {
    it('halves the validation loss of a small task; the adapter exports as PEFT and merges', async () => {
      const dir = modelFolder(family);
      const model = await loadModel(dirSource(dir));
      // The fixtures are random with N(0, 0.02) embeddings, and the LM head is tied to them: their logits
      // span about ±2 whatever a frozen-base adapter does, so no adapter could halve a 6.3 loss. A
      // pretrained model's embedding rows are ~50× larger; give the fixture that scale (same architecture).
      const embed = model.params.get(model.family.embeddingName)!;
      embed.assign(tf.tidy(() => tf.mul(embed, 50)));
      const tok = await loadTokenizer(dirSource(dir));
      const config = resolveTrainConfig({ mode: 'completion', method: 'lora', lora: { r: 8, alpha: 16, dropout: 0, targets: 'all-linear', rslora: false }, lr: 1e-2, batchSize: 8, steps: 30, valRatio: 0.2, seed: 3 });
      const data = await prepareData(new Blob([sentimentJsonl(60)]), 'sentiment.jsonl', tok, config);
      const { train, val } = splitData(data.sequences, config);
      const { trainables, noDecay } = setupMethod(model, config);
      const trainer = new Trainer(model, { config, train, val, padId: tok.eosTokenId ?? 0, trainables, noDecay });
      const before = await trainer.evaluate();
      const summary = await trainer.run();
      const after = await trainer.evaluate();
      expect(after.accuracy).toBeGreaterThan(before.accuracy + 0.3);
      expect(summary.steps).toBe(30);
      expect(summary.val_loss!).toBeLessThanOrEqual(before.loss / 2);

      const files = await exportPeftAdapter(model, { baseModelName: 'fixture' });
      const config_ = JSON.parse(new TextDecoder().decode(files.get('adapter_config.json')!));
      expect(config_).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 8, lora_alpha: 16, fan_in_fan_out: family === 'gpt2', modules_to_save: null });
      const st = await openSafetensors(files.get('adapter_model.safetensors')!, 'adapter_model.safetensors');
      const prefix = family === 'gpt2' ? 'base_model.model.transformer.h.0.attn.c_attn' : 'base_model.model.model.layers.0.self_attn.q_proj';
      const out0 = family === 'gpt2' ? 192 : 64;
      expect(st.get(`${prefix}.lora_A.weight`)!.shape).toEqual([8, 64]);
      expect(st.get(`${prefix}.lora_B.weight`)!.shape).toEqual([out0, 8]);
      expect(st.entries.every((e) => /^base_model\.model\..+\.lora_[AB]\.weight$/.test(e.name))).toBe(true);

      const ids = tf.tensor2d([train[0].inputIds], [1, train[0].inputIds.length], 'int32');
      const trained = await tf.tidy(() => model.forward(ids)).data();
      const reloaded = await loadModel(dirSource(dir));
      reloaded.params.get(model.family.embeddingName)!.assign(embed);
      await loadPeftAdapter(reloaded, bytesSource('exported', files));
      expect(relErr(await tf.tidy(() => reloaded.forward(ids)).data(), trained)).toBeLessThanOrEqual(1e-6);
      const merged = await loadModel(bytesSource('merged', await exportMergedModel(model, tok)));
      expect(merged.adapter).toBeNull();
      expect(relErr(await tf.tidy(() => merged.forward(ids)).data(), trained)).toBeLessThanOrEqual(1e-4);
      tf.dispose([ids]);
      [model, reloaded, merged].forEach((m) => m.dispose());
      trainer.dispose();
    });
  });
}

describe('early stopping', () => {
  it('stops a run that overfits and restores the best weights', async () => {
    const dir = modelFolder('llama');
    const model = await loadModel(dirSource(dir));
    const tok = await loadTokenizer(dirSource(dir));
    // Random labels: nothing generalises, so validation loss rises once the model memorises the 8 examples.
    const lines = Array.from({ length: 12 }, (_, i) => JSON.stringify({ prompt: `Item ${i * 7919 % 97}:`, completion: ` ${['alpha', 'beta', 'gamma', 'delta'][(i * 31) % 4]}` }));
    const config = resolveTrainConfig({ mode: 'completion', method: 'lora', lora: { r: 16, alpha: 32, dropout: 0, targets: 'all-linear', rslora: false }, lr: 3e-2, batchSize: 8, steps: 60, valRatio: 0.34, evalEvery: 2, patience: 2, seed: 1 });
    const data = await prepareData(new Blob([lines.join('\n')]), 'noise.jsonl', tok, config);
    const { train, val } = splitData(data.sequences, config);
    const { trainables, noDecay } = setupMethod(model, config);
    const events: TrainEvent[] = [];
    const trainer = new Trainer(model, { config, train, val, padId: 0, trainables, noDecay, onEvent: (e) => events.push(e) });
    const summary = await trainer.run();
    expect(summary.stopped_early).toBe(true);
    expect(summary.steps).toBeLessThan(60);
    const stop = events.find((e) => e.type === 'early-stop') as { bestStep: number; bestValLoss: number };
    expect(stop.bestStep).toBeLessThan(summary.steps);
    // The weights now in the model are the best ones: evaluating again gives the best validation loss.
    const now = await trainer.evaluate();
    expect(Math.abs(now.loss - stop.bestValLoss)).toBeLessThanOrEqual(1e-6);
    trainer.dispose();
    model.dispose();
  });
});
