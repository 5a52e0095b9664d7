// config.json → ModelConfig: the supported families, the fields each reads, and refusals (unsupported
// type, missing or wrong-typed fields, absurd sizes) before anything is allocated.
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { parseModelConfig, countParameters } from '../../../src/core/hf-config';
import { loadModel } from '../../../src/core/models/model';
import { loadTokenizer } from '../../../src/core/tokenizer';
import { assertTokenizerFits } from '../../../src/core/train/job';
import { fixture, fixtureSource } from '../../helpers';

const read = (name: string) => JSON.parse(fs.readFileSync(path.join(fixture(name), 'config.json'), 'utf8'));

describe('parseModelConfig', () => {
  it('reads the three fixture families as transformers does', () => {
    const g = parseModelConfig(read('model-gpt2'));
    expect(g).toMatchObject({ modelType: 'gpt2', vocabSize: 512, hiddenSize: 64, numLayers: 2, numHeads: 4, headDim: 16, intermediateSize: 256, maxPositions: 128, normEps: 1e-5, tieWordEmbeddings: true, activation: 'gelu_new' });
    const l = parseModelConfig(read('model-llama'));
    expect(l).toMatchObject({ modelType: 'llama', vocabSize: 600, numKvHeads: 2, headDim: 16, intermediateSize: 176, ropeTheta: 10000, qkvBias: false, tieWordEmbeddings: true, eosTokenIds: [2] });
    const q = parseModelConfig(read('model-qwen2'));
    expect(q).toMatchObject({ modelType: 'qwen2', ropeTheta: 1e6, qkvBias: true, oBias: false, normEps: 1e-6 });
    // Parameter counts agree with the fixture files (tied weights once).
    expect(countParameters(g)).toBe(512 * 64 + 128 * 64 + 2 * (4 * 64 + 64 * 192 + 192 + 64 * 64 + 64 + 64 * 256 + 256 + 256 * 64 + 64) + 128);
  });

  it('accepts the older rope_theta key and an explicit head_dim', () => {
    const c = parseModelConfig({ model_type: 'llama', vocab_size: 10, hidden_size: 64, num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 8, rope_theta: 500000, head_dim: 32 });
    expect(c.ropeTheta).toBe(500000);
    expect(c.headDim).toBe(32);
  });

  it('refuses unsupported types, missing fields and absurd sizes before allocating', () => {
    expect(() => parseModelConfig({ model_type: 'bert' })).toThrow('unsupported model_type bert (supported: gpt2, llama, qwen2)');
    expect(() => parseModelConfig({ vocab_size: 3 })).toThrow(/missing field model_type/);
    expect(() => parseModelConfig({ model_type: 'llama', hidden_size: 64 })).toThrow(/missing field vocab_size/);
    expect(() => parseModelConfig({ ...read('model-llama'), vocab_size: 1e9 })).toThrow(/vocab_size = 1000000000 is beyond/);
    expect(() => parseModelConfig({ ...read('model-llama'), num_hidden_layers: 1e6 })).toThrow(/num_hidden_layers = 1000000 is beyond/);
    expect(() => parseModelConfig({ ...read('model-llama'), hidden_size: '64' })).toThrow(/hidden_size must be a number/);
    expect(() => parseModelConfig({ ...read('model-llama'), num_key_value_heads: 3 })).toThrow(/not a multiple/);
    expect(() => parseModelConfig({ ...read('model-gpt2'), n_head: 5 })).toThrow(/not divisible/);
    expect(() => parseModelConfig({ ...read('model-llama'), rope_parameters: { rope_type: 'yarn', rope_theta: 1 } })).toThrow(/unsupported rope type yarn/);
    expect(() => parseModelConfig([])).toThrow(/not a JSON object/);
  });

  it('refuses a tokenizer whose vocabulary does not fit the model', async () => {
    const model = await loadModel(fixtureSource('model-gpt2'));
    const llamaTok = await loadTokenizer(fixtureSource('tok-llama'));
    const gpt2Tok = await loadTokenizer(fixtureSource('tok-gpt2'));
    expect(() => assertTokenizerFits(model, gpt2Tok)).not.toThrow();
    expect(() => assertTokenizerFits(model, llamaTok)).toThrow(/600 tokens but the model's vocabulary is 512/);
    model.dispose();
  });
});

