// PEFT adapter export: the fixture adapters (saved by peft 0.21) go out with PEFT's config keys, tensor
// names, shapes and values, and come back through the PEFT loader with identical logits.
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadModel, type CausalLM } from '../../../../src/core/models/model';
import { createLora, loadPeftAdapter } from '../../../../src/core/lora';
import { openSafetensors } from '../../../../src/core/safetensors';
import { bytesSource } from '../../../../src/core/files';
import { exportPeftAdapter, peftTargetModules } from '../../../../src/core/export/peft';
import type { ExportFiles } from '../../../../src/core/export/files';
import { fixture, fixtureSource, readReference, relErr } from '../../../helpers';

const CONFIG_KEYS = [
  'alpha_pattern',
  'base_model_name_or_path',
  'bias',
  'fan_in_fan_out',
  'inference_mode',
  'init_lora_weights',
  'lora_alpha',
  'lora_dropout',
  'modules_to_save',
  'peft_type',
  'r',
  'rank_pattern',
  'target_modules',
  'task_type',
  'use_rslora',
];

function asSource(files: ExportFiles, label = 'exported') {
  return bytesSource(label, files);
}

function json(files: ExportFiles, file: string): any {
  return JSON.parse(new TextDecoder().decode(files.get(file)!));
}

async function logits(model: CausalLM, ids: tf.Tensor2D): Promise<Float32Array> {
  const out = tf.tidy(() => model.forward(ids));
  const data = (await out.data()) as Float32Array;
  out.dispose();
  return data;
}

/** Sets every B (and A) of the adapter to seeded random values, so that the adapter changes the output. */
function randomizeAdapter(model: CausalLM, seed: number): void {
  let i = 0;
  for (const l of model.adapter!.layers.values()) {
    l.A.assign(tf.randomNormal(l.A.shape, 0, 0.2, 'float32', seed + i++));
    l.B.assign(tf.randomNormal(l.B.shape, 0, 0.2, 'float32', seed + i++));
  }
}

const CASES = [
  { adapter: 'lora-gpt2', model: 'model-gpt2', targets: ['c_attn', 'c_proj'], fanInFanOut: true },
  { adapter: 'lora-llama', model: 'model-llama', targets: ['gate_proj', 'o_proj', 'q_proj', 'v_proj'], fanInFanOut: false },
];

for (const c of CASES) {
  describe(`exportPeftAdapter: ${c.adapter}`, () => {
    it('writes PEFT’s config keys, tensor names, shapes and values, and reloads with identical logits', async () => {
      const model = await loadModel(fixtureSource(c.model));
      await loadPeftAdapter(model, fixtureSource(c.adapter));
      const files = await exportPeftAdapter(model, { baseModelName: 'org/tiny-base' });
      expect([...files.keys()].sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);

      const config = json(files, 'adapter_config.json');
      expect(Object.keys(config)).toEqual(CONFIG_KEYS);
      expect(config).toEqual({
        alpha_pattern: {},
        base_model_name_or_path: 'org/tiny-base',
        bias: 'none',
        fan_in_fan_out: c.fanInFanOut,
        inference_mode: true,
        init_lora_weights: true,
        lora_alpha: 8,
        lora_dropout: 0,
        modules_to_save: null,
        peft_type: 'LORA',
        r: 4,
        rank_pattern: {},
        target_modules: c.targets,
        task_type: 'CAUSAL_LM',
        use_rslora: false,
      });
      // The fixture's config (written by peft) agrees on every key we write but the two we set on purpose.
      const peftConfig = JSON.parse(fs.readFileSync(path.join(fixture(c.adapter), 'adapter_config.json'), 'utf8'));
      for (const k of CONFIG_KEYS) {
        if (k === 'base_model_name_or_path' || k === 'init_lora_weights') continue;
        if (k === 'target_modules') expect([...peftConfig[k]].sort()).toEqual(config[k]);
        else expect(config[k]).toEqual(peftConfig[k]);
      }

      // Same names, dtypes, shapes and bytes as the file peft saved.
      const ours = await openSafetensors(files.get('adapter_model.safetensors')!, 'exported');
      const theirs = await openSafetensors(
        new Uint8Array(fs.readFileSync(path.join(fixture(c.adapter), 'adapter_model.safetensors'))),
        c.adapter,
      );
      expect(ours.metadata).toEqual({ format: 'pt' });
      expect(ours.entries.map((e) => e.name)).toEqual(theirs.entries.map((e) => e.name));
      for (const e of theirs.entries) {
        const o = ours.get(e.name)!;
        expect(o.dtype).toBe('F32');
        expect(o.shape).toEqual(e.shape);
        expect(await ours.readF32(e.name)).toEqual(await theirs.readF32(e.name));
      }

      // Reloaded onto a fresh base: the logits of PeftModel (the fixture reference) and of the source model.
      const ref = await readReference(c.adapter);
      const ids = tf.tensor2d(ref.get('input_ids')!.i32!, ref.get('input_ids')!.shape as [number, number], 'int32');
      const fresh = await loadModel(fixtureSource(c.model));
      await loadPeftAdapter(fresh, asSource(files));
      const got = await logits(fresh, ids);
      expect(relErr(got, await logits(model, ids))).toBeLessThanOrEqual(1e-6);
      expect(relErr(got, ref.get('logits')!.f32!)).toBeLessThanOrEqual(1e-4);
      ids.dispose();
      model.dispose();
      fresh.dispose();
    });
  });
}

describe('exportPeftAdapter: adapters created by Whetstone', () => {
  it('all-linear on Llama lists the seven projections (never lm_head), rsLoRA and dropout kept; reload is exact', async () => {
    const model = await loadModel(fixtureSource('model-llama'));
    createLora(model, { r: 8, alpha: 16, dropout: 0.05, targetModules: 'all-linear', useRslora: true, fanInFanOut: false }, 3);
    randomizeAdapter(model, 11);
    const files = await exportPeftAdapter(model, { baseModelName: null });
    const config = json(files, 'adapter_config.json');
    expect(config.target_modules).toEqual(['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    expect(config).toMatchObject({
      r: 8,
      lora_alpha: 16,
      lora_dropout: 0.05,
      use_rslora: true,
      fan_in_fan_out: false,
      base_model_name_or_path: null,
    });
    const st = await openSafetensors(files.get('adapter_model.safetensors')!, 'exported');
    expect(st.entries.length).toBe(2 * 7 * 2);
    expect(st.get('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight')!.shape).toEqual([8, 176]);
    expect(st.get('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight')!.shape).toEqual([64, 8]);
    expect(st.get('base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight')!.shape).toEqual([32, 8]);
    expect(st.entries.some((e) => e.name.includes('lm_head'))).toBe(false);

    const ids = tf.tensor2d([[1, 5, 9, 13, 200, 7]], [1, 6], 'int32');
    const fresh = await loadModel(fixtureSource('model-llama'));
    await loadPeftAdapter(fresh, asSource(files));
    const want = await logits(model, ids);
    const base = tf.tidy(() => {
      const a = model.adapter;
      model.adapter = null;
      const out = model.forward(ids);
      model.adapter = a;
      return out;
    });
    expect(relErr(await base.data(), want)).toBeGreaterThan(1e-3); // the adapter matters
    expect(relErr(await logits(fresh, ids), want)).toBeLessThanOrEqual(1e-6);
    tf.dispose([ids, base]);
    model.dispose();
    fresh.dispose();
  });

  it('GPT-2: only the attention c_proj adapted → "attn.c_proj", not "c_proj" (which would catch the MLP too)', async () => {
    const model = await loadModel(fixtureSource('model-gpt2'));
    createLora(model, { r: 2, alpha: 4, dropout: 0, targetModules: ['attn.c_proj', 'c_fc'], useRslora: false, fanInFanOut: true }, 5);
    randomizeAdapter(model, 21);
    const files = await exportPeftAdapter(model, { baseModelName: 'gpt2' });
    const config = json(files, 'adapter_config.json');
    expect(config.target_modules).toEqual(['attn.c_proj', 'c_fc']);
    expect(config.fan_in_fan_out).toBe(true);
    const st = await openSafetensors(files.get('adapter_model.safetensors')!, 'exported');
    // Conv1D: in/out from the [in, out] weight; c_fc is 64 → 256.
    expect(st.get('base_model.model.transformer.h.0.mlp.c_fc.lora_A.weight')!.shape).toEqual([2, 64]);
    expect(st.get('base_model.model.transformer.h.0.mlp.c_fc.lora_B.weight')!.shape).toEqual([256, 2]);
    expect(st.get('base_model.model.transformer.h.1.attn.c_proj.lora_B.weight')!.shape).toEqual([64, 2]);
    expect(st.entries.length).toBe(2 * 2 * 2);

    const ids = tf.tensor2d([[3, 1, 4, 1, 5, 9, 2, 6]], [1, 8], 'int32');
    const fresh = await loadModel(fixtureSource('model-gpt2'));
    await loadPeftAdapter(fresh, asSource(files));
    expect([...fresh.adapter!.layers.keys()].sort()).toEqual([...model.adapter!.layers.keys()].sort());
    expect(relErr(await logits(fresh, ids), await logits(model, ids))).toBeLessThanOrEqual(1e-6);
    ids.dispose();
    model.dispose();
    fresh.dispose();
  });

  it('per-module ranks are written as rank_pattern and reload with the same scale', async () => {
    const model = await loadModel(fixtureSource('model-llama'));
    createLora(
      model,
      {
        r: 4,
        alpha: 8,
        dropout: 0,
        targetModules: ['q_proj', 'v_proj'],
        useRslora: false,
        fanInFanOut: false,
        rankPattern: { 'layers.0.self_attn.q_proj': 2 },
      },
      9,
    );
    randomizeAdapter(model, 31);
    const files = await exportPeftAdapter(model, { baseModelName: null });
    const config = json(files, 'adapter_config.json');
    expect(config.rank_pattern).toEqual({ 'layers.0.self_attn.q_proj': 2 });
    expect(config.alpha_pattern).toEqual({});
    const ids = tf.tensor2d([[1, 2, 3, 4, 5]], [1, 5], 'int32');
    const fresh = await loadModel(fixtureSource('model-llama'));
    await loadPeftAdapter(fresh, asSource(files));
    expect(fresh.adapter!.layers.get('model.layers.0.self_attn.q_proj')!.scale).toBe(4);
    expect(relErr(await logits(fresh, ids), await logits(model, ids))).toBeLessThanOrEqual(1e-6);
    ids.dispose();
    model.dispose();
    fresh.dispose();
  });

  it('refuses a model without an adapter', async () => {
    const model = await loadModel(fixtureSource('model-gpt2'));
    await expect(exportPeftAdapter(model, { baseModelName: null })).rejects.toThrow(/no LoRA adapter/);
    model.dispose();
  });
});

describe('peftTargetModules', () => {
  const all = ['a.h.0.attn.c_proj', 'a.h.0.mlp.c_proj', 'a.h.0.attn.c_attn', 'a.h.1.attn.c_proj', 'a.h.1.mlp.c_proj', 'a.h.1.attn.c_attn'];
  it('uses the module name when that selects exactly the adapted modules, a longer suffix otherwise', () => {
    expect(peftTargetModules(all, all)).toEqual(['c_attn', 'c_proj']);
    expect(peftTargetModules(['a.h.0.attn.c_proj', 'a.h.1.attn.c_proj'], all)).toEqual(['attn.c_proj']);
    expect(peftTargetModules(['a.h.1.mlp.c_proj', 'a.h.0.attn.c_attn'], all)).toEqual(['h.0.attn.c_attn', 'h.1.mlp.c_proj']);
  });
});
