// The core CLI contract (inspect, tokenize, forward, generate), run as a user runs it, checked against the
// HF fixtures; failures exit 2 with one `error:` line.
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { whetstone, tmpDir, expectCliError } from './run-cli';
import { fixture, fixtureJson, readReference, relErr } from '../helpers';
import { openSafetensors } from '../../src/core/safetensors';

async function readOut(file: string) {
  const reader = await openSafetensors(new Uint8Array(fs.readFileSync(file)), file);
  const out = new Map<string, Float32Array>();
  for (const e of reader.entries) out.set(e.name, await reader.readF32(e.name));
  return { reader, out };
}

describe('whetstone inspect', () => {
  it('lists tensors and metadata as JSON', () => {
    const r = whetstone(['inspect', path.join(fixture('model-gpt2'), 'model.safetensors')]);
    expect(r.code).toBe(0);
    expect(r.json.metadata).toEqual({ format: 'pt' });
    expect(r.json.tensors).toHaveLength(28);
    expect(r.json.tensors).toContainEqual({ name: 'transformer.wte.weight', dtype: 'F32', shape: [512, 64] });
  });

  it('refuses a truncated file and a corrupt header with exit 2 and one error line', () => {
    const dir = tmpDir();
    const whole = fs.readFileSync(path.join(fixture('model-gpt2'), 'model.safetensors'));
    const truncated = path.join(dir, 'truncated.safetensors');
    fs.writeFileSync(truncated, whole.subarray(0, whole.length - 100));
    expectCliError(whetstone(['inspect', truncated]), /truncated\.safetensors.*rule: truncated/);
    const corrupt = path.join(dir, 'corrupt.safetensors');
    const bad = Buffer.from(whole);
    bad.write('{{{', 8);
    fs.writeFileSync(corrupt, bad);
    expectCliError(whetstone(['inspect', corrupt]), /corrupt\.safetensors.*rule: invalid-json/);
    expectCliError(whetstone(['inspect', path.join(dir, 'absent.safetensors')]), /absent\.safetensors: no such file/);
  });
});

describe('whetstone tokenize', () => {
  it('encodes text with and without special tokens, and renders chats, as HF does', () => {
    const ref = fixtureJson('tok-llama');
    const c = ref.encode[0];
    expect(whetstone(['tokenize', '--tokenizer', fixture('tok-llama'), '--text', c.text]).json).toEqual({ ids: c.ids });
    expect(whetstone(['tokenize', '--tokenizer', fixture('tok-llama'), '--text', c.text, '--no-special']).json).toEqual({ ids: c.ids_no_special });
    const dir = tmpDir();
    for (const tok of ['tok-qwen2', 'tok-llama']) {
      for (const chat of fixtureJson(tok).chat) {
        const file = path.join(dir, 'messages.json');
        fs.writeFileSync(file, JSON.stringify(chat.messages));
        const args = ['tokenize', '--tokenizer', fixture(tok), '--chat', file];
        if (chat.add_generation_prompt) args.push('--add-generation-prompt');
        expect(whetstone(args).json).toEqual({ text: chat.text, ids: chat.ids });
      }
    }
  });
});

for (const backend of ['cpu', 'webgpu']) {
  describe(`whetstone forward / generate on ${backend}`, () => {
    it('forward gives transformers logits, loss and gradients (GPT-2 with --grads, Llama)', async () => {
      const dir = tmpDir();
      for (const name of backend === 'cpu' ? ['model-gpt2', 'model-llama', 'model-qwen2'] : ['model-gpt2']) {
        const outFile = path.join(dir, `${name}.safetensors`);
        const r = whetstone(['forward', '--model', fixture(name), '--input', path.join(fixture(name), 'reference.safetensors'), '--output', outFile, '--grads', '--backend', backend]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toContain(`backend: ${backend}`);
        const ref = await readReference(name);
        const { reader, out } = await readOut(outFile);
        expect(reader.get('logits')!.shape).toEqual(ref.get('logits')!.shape);
        expect(relErr(out.get('logits')!, ref.get('logits')!.f32!)).toBeLessThanOrEqual(1e-4);
        expect(Math.abs(out.get('loss')![0] - ref.get('loss')!.f32![0])).toBeLessThanOrEqual(1e-4);
        const gradNames = [...ref.keys()].filter((k) => k.startsWith('grad.')).sort();
        expect(reader.entries.map((e) => e.name).filter((n) => n.startsWith('grad.')).sort()).toEqual(gradNames);
        for (const g of gradNames) expect(relErr(out.get(g)!, ref.get(g)!.f32!), g).toBeLessThanOrEqual(1e-3);
      }
    });

    it('forward with --adapter gives the PEFT logits', async () => {
      const dir = tmpDir();
      const outFile = path.join(dir, 'out.safetensors');
      const r = whetstone(['forward', '--model', fixture('model-llama'), '--adapter', fixture('lora-llama'), '--input', path.join(fixture('lora-llama'), 'reference.safetensors'), '--output', outFile, '--backend', backend]);
      expect(r.code, r.stderr).toBe(0);
      const ref = await readReference('lora-llama');
      const { out } = await readOut(outFile);
      expect(relErr(out.get('logits')!, ref.get('logits')!.f32!)).toBeLessThanOrEqual(1e-4);
      expect(out.has('loss')).toBe(false);
    });

    it('generate --greedy gives transformers ids', () => {
      for (const name of ['model-gpt2', 'model-qwen2']) {
        const ref = fixtureJson(name);
        const r = whetstone(['generate', '--model', fixture(name), '--ids', ref.generate_prompt.join(','), '--max-new-tokens', '16', '--greedy', '--no-eos-stop', '--backend', backend]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.json).toEqual({ ids: ref.generate_greedy });
      }
    });
  });
}

describe('whetstone generate sampling and errors', () => {
  it('sampling is reproducible from the seed and stops on EOS unless told not to', () => {
    const base = ['generate', '--model', fixture('model-llama'), '--ids', '1,5,9', '--max-new-tokens', '12', '--temperature', '1.5', '--top-p', '0.95', '--top-k', '50', '--backend', 'cpu'];
    const a = whetstone([...base, '--seed', '3', '--no-eos-stop']);
    const b = whetstone([...base, '--seed', '3', '--no-eos-stop']);
    expect(a.code, a.stderr).toBe(0);
    expect(a.json.ids).toHaveLength(15);
    expect(a.json).toEqual(b.json);
    const seeds = [4, 5, 6, 7].map((s) => JSON.stringify(whetstone([...base, '--seed', String(s), '--no-eos-stop']).json.ids));
    expect(new Set([JSON.stringify(a.json.ids), ...seeds]).size).toBeGreaterThan(1);
  });

  it('an unsupported model type, a missing model and bad flags are clear errors', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', vocab_size: 10 }));
    expectCliError(whetstone(['generate', '--model', dir, '--ids', '1', '--max-new-tokens', '2', '--backend', 'cpu']), /unsupported model_type bert \(supported: gpt2, llama, qwen2\)/);
    expectCliError(whetstone(['generate', '--model', path.join(dir, 'nope'), '--ids', '1', '--max-new-tokens', '2', '--backend', 'cpu']), /no such directory/);
    expectCliError(whetstone(['generate', '--model', fixture('model-gpt2'), '--ids', '1,x', '--max-new-tokens', '2', '--backend', 'cpu']), /--ids/);
    expectCliError(whetstone(['generate', '--model', fixture('model-gpt2'), '--ids', '1', '--max-new-tokens', '2', '--bogus']), /bogus/);
    expectCliError(whetstone(['forward', '--model', fixture('model-gpt2'), '--input', path.join(fixture('lora-gpt2'), 'reference.safetensors'), '--output', path.join(dir, 'o.safetensors'), '--grads', '--backend', 'cpu']), /--grads needs labels/);
    expectCliError(whetstone(['frobnicate']), /unknown command frobnicate/);
  });
});
