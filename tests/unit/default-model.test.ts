// The embedded default model (public/models/default): a Hugging Face Llama folder pretrained by
// scripts/default-model (npm run pretrain:default). It loads through Whetstone's own loaders, fits the size
// limits, its byte-level BPE tokenizer round-trips text exactly and renders ChatML, it has learned (its
// held-out loss is far below a random-init model's of the same config), and it generates.
import { describe, expect, it } from 'vitest';
import { readFileSync, statSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { dirSource } from '../../cli/node-files';
import { loadModel, createRandomModel, type CausalLM } from '../../src/core/models/model';
import { loadTokenizer, tokenizerFromJson, type WhetTokenizer } from '../../src/core/tokenizer';
import { parseModelConfig } from '../../src/core/hf-config';
import { resolveTrainConfig } from '../../src/core/train/config';
import { prepareData } from '../../src/core/train/job';
import { evaluateSequences } from '../../src/core/train/evaluate';
import { generate } from '../../src/core/generate';
// @ts-expect-error: a plain .mjs module without types
import { trainTokenizer, GPT2_SPLIT } from '../../scripts/default-model/train-tokenizer.mjs';

const root = resolve(__dirname, '..', '..');
const dir = join(root, 'public', 'models', 'default');
const MiB = 1024 * 1024;

/** The JSON header of a safetensors file (8-byte little-endian length, then the JSON). */
function readSafetensorsHeader(file: string): Record<string, unknown> {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  return JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
}

async function heldoutLoss(model: CausalLM, tok: WhetTokenizer, maxLength: number) {
  const text = readFileSync(join(dir, 'heldout-sample.txt'), 'utf8');
  const config = resolveTrainConfig({ mode: 'text', maxLength, batchSize: 8 });
  const data = await prepareData(new Blob([text]), 'heldout-sample.txt', tok, config);
  return evaluateSequences(model, data.sequences, 8, tok.padTokenId ?? 0);
}

describe('default model (public/models/default)', () => {
  it('has the HF files, under the size limits (< 16 MiB per weight file, ≤ 25 MB in all)', () => {
    const files = readdirSync(dir);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'PROVENANCE.md', 'heldout-sample.txt']) {
      expect(files).toContain(f);
    }
    let total = 0;
    for (const f of files) {
      const size = statSync(join(dir, f)).size;
      total += size;
      if (f.endsWith('.safetensors')) expect(size).toBeLessThan(16 * MiB);
    }
    expect(total).toBeLessThanOrEqual(25_000_000);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config.model_type).toBe('llama');
    expect(config.tie_word_embeddings).toBe(true);
    const header = readSafetensorsHeader(join(dir, 'model.safetensors'));
    const dtypes = new Set(Object.entries(header).filter(([k]) => k !== '__metadata__').map(([, v]) => (v as { dtype: string }).dtype));
    expect([...dtypes]).toEqual(['F16']);
    expect(Object.keys(header)).not.toContain('lm_head.weight'); // tied: stored once
  });

  it('tokenizer: byte-level BPE in the HF format, round-trips text exactly, special tokens are single ids', async () => {
    const tok = await loadTokenizer(dirSource(dir));
    const json = tok.tokenizerJson as Record<string, any>;
    expect(json.model.type).toBe('BPE');
    expect(json.normalizer).toBeNull();
    expect(json.pre_tokenizer).toMatchObject({ type: 'ByteLevel', add_prefix_space: false, use_regex: true });
    expect(json.decoder.type).toBe('ByteLevel');
    expect(json.post_processor).toMatchObject({ type: 'ByteLevel', trim_offsets: false });
    expect(tok.vocabSize).toBe(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).vocab_size);
    expect(tok.eosToken).toBe('<|endoftext|>');
    expect(tok.eosTokenId).toBe(0);
    expect(tok.tokenToId('<|im_start|>')).toBe(1);
    expect(tok.tokenToId('<|im_end|>')).toBe(2);
    expect(tok.endOfTurnIds).toEqual([0, 2]);
    const texts = [
      'In the beginning God created the heaven and the earth.',
      "hacker, n. [originally, someone who makes furniture with an axe] 1. A person who enjoys exploring the details of programmable systems",
      '  leading spaces,\ttabs\nand newlines\n\n  ',
      'Unicode: naïve café — 東京 🚀 émigré',
      "It's 3.14159; they'll've done it -- don't!",
      '',
    ];
    for (const t of texts) {
      const ids = tok.encode(t);
      expect(tok.decode(ids)).toBe(t);
    }
    expect(tok.encode('<|im_start|>user\nhi<|im_end|>').slice(0, 1)).toEqual([1]);
    expect(tok.encode('<|im_start|>user\nhi<|im_end|>').at(-1)).toBe(2);
    // Compresses English: fewer than one token per 2.5 bytes on the held-out sample.
    const sample = readFileSync(join(dir, 'heldout-sample.txt'), 'utf8');
    expect(tok.encode(sample).length).toBeLessThan(Buffer.byteLength(sample) / 2.5);
  });

  it('tokenizer: the ChatML chat template renders and tokenizes', async () => {
    const tok = await loadTokenizer(dirSource(dir));
    expect(tok.hasOwnChatTemplate).toBe(true);
    const messages = [
      { role: 'system', content: 'You are helpful.' },
      { role: 'user', content: 'What is a hacker?' },
      { role: 'assistant', content: 'A person who enjoys programming.' },
    ];
    expect(tok.applyChatTemplate(messages)).toBe(
      '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nWhat is a hacker?<|im_end|>\n<|im_start|>assistant\nA person who enjoys programming.<|im_end|>\n',
    );
    const prompt = tok.applyChatTemplate(messages.slice(0, 2), { addGenerationPrompt: true });
    expect(prompt.endsWith('<|im_start|>assistant\n')).toBe(true);
    const ids = tok.encode(prompt);
    expect(tok.decode(ids)).toBe(prompt);
    expect(ids.filter((i) => i === 1)).toHaveLength(3);
  });

  it('the trainer script is deterministic and writes the same HF tokenizer format', () => {
    const text = readFileSync(join(dir, 'heldout-sample.txt'), 'utf8');
    const a = trainTokenizer(text, 300);
    const b = trainTokenizer(text, 300);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(Object.keys(a.model.vocab)).toHaveLength(300);
    expect(a.added_tokens.map((t: { content: string }) => t.content)).toEqual(['<|endoftext|>', '<|im_start|>', '<|im_end|>']);
    const cfg = { eos_token: '<|endoftext|>', chat_template: null };
    const tok = tokenizerFromJson(a, cfg);
    for (const t of [text.slice(0, 500), 'Ünïcödé and   spaces\n']) expect(tok.decode(tok.encode(t))).toBe(t);
    // GPT-2's split: contractions, words with their leading space, numbers, punctuation, whitespace.
    expect(Array.from("I'll go 42 times!!  ok".matchAll(GPT2_SPLIT), (m) => m[0])).toEqual(['I', "'ll", ' go', ' 42', ' times', '!!', ' ', ' ok']);
  });

  it('loads, has learned (held-out loss far below a random init of the same config) and generates', async () => {
    const source = dirSource(dir);
    const model = await loadModel(source);
    const tok = await loadTokenizer(source);
    const config = parseModelConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
    const random = createRandomModel(config, 1);
    try {
      const trained = await heldoutLoss(model, tok, 128);
      const baseline = await heldoutLoss(random, tok, 128);
      expect(trained.tokens).toBeGreaterThan(300);
      expect(baseline.loss).toBeGreaterThan(Math.log(config.vocabSize) - 0.5);
      // A clear margin: at least 1 nat below the random init (e ≈ 2.7× lower perplexity; the shipped model
      // is about 1.5 nats below it, see PROVENANCE.md).
      expect(trained.loss).toBeLessThan(baseline.loss - 1);
      const summary = JSON.parse(readFileSync(join(dir, 'training.json'), 'utf8'));
      expect(summary.heldout.loss).toBeLessThan(baseline.loss - 1);

      const prompt = tok.encode('The Lord said unto Moses,');
      const before = tf.memory().numTensors;
      const out = await generate(model, prompt, { maxNewTokens: 12, greedy: true, stopIds: tok.endOfTurnIds });
      expect(tf.memory().numTensors).toBe(before);
      expect(out.slice(0, prompt.length)).toEqual(prompt);
      expect(out.length).toBeGreaterThan(prompt.length);
      expect(out.every((i) => Number.isInteger(i) && i >= 0 && i < config.vocabSize)).toBe(true);
      expect(typeof tok.decode(out.slice(prompt.length))).toBe('string');
      const sampled = await generate(model, prompt, { maxNewTokens: 8, temperature: 0.8, topP: 0.95, seed: 3 });
      expect(sampled.length).toBeGreaterThan(prompt.length);
    } finally {
      model.dispose();
      random.dispose();
    }
  });
});
