// Merged and full model export: the folder loads back (through the same loader a user's HF folder goes
// through) with the logits PeftModel gives for the fixture adapters, and carries the tokenizer with a chat
// template.
import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { loadModel, type CausalLM } from '../../../../src/core/models/model';
import { loadPeftAdapter } from '../../../../src/core/lora';
import { openSafetensors } from '../../../../src/core/safetensors';
import { bytesSource } from '../../../../src/core/files';
import { loadTokenizer } from '../../../../src/core/tokenizer';
import { CHATML_FALLBACK } from '../../../../src/core/chat-template';
import { exportFullModel, exportMergedFromBase, exportMergedModel } from '../../../../src/core/export/merged';
import type { ExportFiles } from '../../../../src/core/export/files';
import { fixtureJson, fixtureSource, readReference, relErr } from '../../../helpers';

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

const CASES = [
  { adapter: 'lora-gpt2', model: 'model-gpt2', tok: 'tok-gpt2', ownTemplate: false },
  { adapter: 'lora-llama', model: 'model-llama', tok: 'tok-llama', ownTemplate: true },
];

for (const c of CASES) {
  describe(`exportMergedModel: ${c.model} + ${c.adapter}`, () => {
    it('reloads with the adapter model’s logits (PeftModel’s), under the base’s names, with the tokenizer and a chat template', async () => {
      const model = await loadModel(fixtureSource(c.model));
      await loadPeftAdapter(model, fixtureSource(c.adapter));
      const tokenizer = await loadTokenizer(fixtureSource(c.tok));
      expect(tokenizer.hasOwnChatTemplate).toBe(c.ownTemplate);
      const files = await exportMergedModel(model, tokenizer);
      expect([...files.keys()].sort()).toEqual([
        'config.json',
        'generation_config.json',
        'model.safetensors',
        'tokenizer.json',
        'tokenizer_config.json',
      ]);

      // config.json: the base's as read, dtype float32.
      const config = json(files, 'config.json');
      expect(config).toEqual({ ...model.config.raw, dtype: 'float32' });

      // model.safetensors: F32, exactly the base's parameter names (GPT-2 with `transformer.`), tied once.
      const st = await openSafetensors(files.get('model.safetensors')!, 'exported');
      expect(st.metadata).toEqual({ format: 'pt' });
      expect(st.entries.map((e) => e.name)).toEqual([...model.params.keys()].sort());
      expect(st.entries.every((e) => e.dtype === 'F32')).toBe(true);
      expect(st.get('lm_head.weight')).toBeUndefined();
      if (c.model === 'model-gpt2') expect(st.get('transformer.h.0.attn.c_attn.weight')!.shape).toEqual([64, 192]);
      else expect(st.get('model.layers.0.self_attn.v_proj.weight')!.shape).toEqual([32, 64]);

      // generation_config.json: bos/eos of config.json.
      const gen = json(files, 'generation_config.json');
      expect(gen.bos_token_id).toBe(model.config.raw.bos_token_id);
      expect(gen.eos_token_id).toBe(model.config.raw.eos_token_id);

      // Reload: the logits of the adapter model and of PeftModel (the fixture reference).
      const ref = await readReference(c.adapter);
      const ids = tf.tensor2d(ref.get('input_ids')!.i32!, ref.get('input_ids')!.shape as [number, number], 'int32');
      const merged = await loadModel(asSource(files));
      expect(merged.adapter).toBeNull();
      const got = await logits(merged, ids);
      expect(relErr(got, await logits(model, ids))).toBeLessThanOrEqual(1e-4);
      expect(relErr(got, ref.get('logits')!.f32!)).toBeLessThanOrEqual(1e-4);
      // The source model still has its adapter (export does not merge in place).
      expect(model.adapter).not.toBeNull();

      // Tokenizer: same ids, and the chat template the model was trained with (ChatML fallback for GPT-2).
      const tokConfig = json(files, 'tokenizer_config.json');
      expect(tokConfig.chat_template).toBe(c.ownTemplate ? tokenizer.chatTemplate : CHATML_FALLBACK);
      const reloaded = await loadTokenizer(asSource(files));
      expect(reloaded.hasOwnChatTemplate).toBe(true);
      const enc = fixtureJson(c.tok).encode as Array<{ text: string; ids: number[] }>;
      for (const e of enc) expect(reloaded.encode(e.text)).toEqual(e.ids);
      const messages = [
        { role: 'user', content: 'Hello there.' },
        { role: 'assistant', content: 'Hi! How can I help?' },
      ];
      expect(reloaded.applyChatTemplate(messages)).toBe(tokenizer.applyChatTemplate(messages));

      ids.dispose();
      model.dispose();
      merged.dispose();
    });
  });
}

describe('exportFullModel', () => {
  it('a model without adapter (full fine-tuning) reloads with identical logits; eos from the tokenizer’s end of turn', async () => {
    const model = await loadModel(fixtureSource('model-qwen2'));
    // Stand-in for full fine-tuning: change some weights so the export cannot pass by copying the fixture.
    const q = model.params.get('model.layers.0.self_attn.q_proj.weight')!;
    q.assign(tf.tidy(() => tf.add(q, tf.randomNormal(q.shape, 0, 0.05, 'float32', 1))));
    // A base saved in bf16 by an older transformers (torch_dtype only): the f32 export says float32, same spelling.
    delete model.config.raw.dtype;
    model.config.raw.torch_dtype = 'bfloat16';
    const tokenizer = await loadTokenizer(fixtureSource('tok-qwen2'));
    const files = await exportFullModel(model, tokenizer);
    const config = json(files, 'config.json');
    expect(config).toMatchObject({ torch_dtype: 'float32', model_type: 'qwen2', rope_parameters: { rope_theta: 1000000 } });
    expect(config.dtype).toBeUndefined();
    const ref = await readReference('model-qwen2');
    const ids = tf.tensor2d(ref.get('input_ids')!.i32!, ref.get('input_ids')!.shape as [number, number], 'int32');
    const reloaded = await loadModel(asSource(files));
    expect(relErr(await logits(reloaded, ids), await logits(model, ids))).toBeLessThanOrEqual(1e-6);
    // config.json names no eos (null); the tokenizer's <|im_end|> is what generation must stop on.
    expect(model.config.raw.eos_token_id).toBeNull();
    expect(json(files, 'generation_config.json')).toEqual({
      eos_token_id: tokenizer.tokenToId('<|im_end|>'),
      pad_token_id: tokenizer.tokenToId('<|endoftext|>'),
    });
    expect(json(files, 'tokenizer_config.json').chat_template).toBe(tokenizer.chatTemplate);
    ids.dispose();
    model.dispose();
    reloaded.dispose();
  });

  it('shards above maxShardBytes with an index that the loader follows; no tokenizer → no tokenizer files', async () => {
    const model = await loadModel(fixtureSource('model-llama'));
    await loadPeftAdapter(model, fixtureSource('lora-llama'));
    const files = await exportMergedModel(model, null, { maxShardBytes: 100_000 });
    const shards = [...files.keys()].filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).sort();
    expect(shards.length).toBeGreaterThan(1);
    expect(shards[0]).toBe(`model-00001-of-${String(shards.length).padStart(5, '0')}.safetensors`);
    expect(files.has('model.safetensors')).toBe(false);
    expect(files.has('tokenizer.json')).toBe(false);
    const index = json(files, 'model.safetensors.index.json');
    expect(Object.keys(index.weight_map).sort()).toEqual([...model.params.keys()].sort());
    let total = 0;
    for (const v of model.params.values()) total += v.size * 4;
    expect(index.metadata.total_size).toBe(total);
    const ref = await readReference('lora-llama');
    const ids = tf.tensor2d(ref.get('input_ids')!.i32!, ref.get('input_ids')!.shape as [number, number], 'int32');
    const reloaded = await loadModel(asSource(files));
    expect(relErr(await logits(reloaded, ids), ref.get('logits')!.f32!)).toBeLessThanOrEqual(1e-4);
    ids.dispose();
    model.dispose();
    reloaded.dispose();
  });
});

describe('exportMergedFromBase', () => {
  it('merges an adapter trained on an int8 or f16 base into the original f32 weights, byte for byte as an f32 run would', async () => {
    for (const format of ['int8', 'f16'] as const) {
      const packed = await loadModel(fixtureSource('model-llama'));
      await loadPeftAdapter(packed, fixtureSource('lora-llama'));
      packed.packFrozenWeights(format);
      const plain = await loadModel(fixtureSource('model-llama'));
      await loadPeftAdapter(plain, fixtureSource('lora-llama'));
      let loads = 0;
      const files = await exportMergedFromBase(packed, null, () => {
        loads++;
        return loadModel(fixtureSource('model-llama'));
      });
      expect(loads).toBe(1);
      const want = await exportMergedModel(plain, null);
      expect(Buffer.from(files.get('model.safetensors')!).equals(Buffer.from(want.get('model.safetensors')!)), format).toBe(true);
      // The packed model's own merge carries the storage's rounding: that is what the reload avoids.
      const rounded = await exportMergedModel(packed, null);
      expect(Buffer.from(rounded.get('model.safetensors')!).equals(Buffer.from(want.get('model.safetensors')!)), format).toBe(false);
      // The trained model keeps its adapter and its packed weights.
      expect(packed.adapter?.layers.size).toBeGreaterThan(0);
      expect(packed.packed.size).toBeGreaterThan(0);
      packed.dispose();
      plain.dispose();
    }
  });

  it('exports a model without packed weights as it is (no reload)', async () => {
    const model = await loadModel(fixtureSource('model-llama'));
    await loadPeftAdapter(model, fixtureSource('lora-llama'));
    const before = tf.memory().numTensors;
    const files = await exportMergedFromBase(model, null, () => Promise.reject(new Error('must not reload')));
    const want = await exportMergedModel(model, null);
    expect(Buffer.from(files.get('model.safetensors')!).equals(Buffer.from(want.get('model.safetensors')!))).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
