// The fixture tokenizers against the ids and texts Hugging Face (tokenizers 0.23 / transformers 5.17) produced.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { dirSource } from '../../../cli/node-files';
import { blobSource } from '../../../src/core/files';
import { CHATML_FALLBACK, loadTokenizer, tokenizerFromJson, type ChatMessage } from '../../../src/core/tokenizer';
import { WhetstoneError } from '../../../src/core/errors';

const fixtures = path.resolve(__dirname, '../../fixtures/hf');

interface Reference {
  encode: Array<{ text: string; ids: number[]; ids_no_special: number[]; decoded: string }>;
  chat: Array<{ messages: ChatMessage[]; add_generation_prompt: boolean; text: string; ids: number[] }>;
}

const readJson = (p: string) => JSON.parse(fs.readFileSync(p, 'utf8'));

for (const name of ['tok-gpt2', 'tok-qwen2', 'tok-llama']) {
  describe(name, async () => {
    const dir = path.join(fixtures, name);
    const ref = readJson(path.join(dir, 'reference.json')) as Reference;
    const tok = await loadTokenizer(dirSource(dir));

    it.each(ref.encode.map((c, i) => [i, JSON.stringify(c.text), c] as const))('encode #%i %s', (_i, _t, c) => {
      expect(tok.encode(c.text)).toEqual(c.ids);
      expect(tok.encode(c.text, { addSpecialTokens: true })).toEqual(c.ids);
      expect(tok.encode(c.text, { addSpecialTokens: false })).toEqual(c.ids_no_special);
      // HF decodes the ids with special tokens and keeps them (skip_special_tokens=False).
      expect(tok.decode(c.ids)).toBe(c.decoded);
    });

    if (ref.chat.length > 0) {
      it.each(ref.chat.map((c, i) => [i, c.add_generation_prompt, c] as const))('chat #%i add_generation_prompt=%s', (_i, _g, c) => {
        const text = tok.applyChatTemplate(c.messages, { addGenerationPrompt: c.add_generation_prompt });
        expect(text).toBe(c.text);
        // apply_chat_template(tokenize=True) encodes the rendered text without adding special tokens:
        // the template writes BOS itself (llama's ids start with a single <s>).
        expect(tok.encode(text, { addSpecialTokens: false })).toEqual(c.ids);
      });
    }
  });
}

describe('special tokens and metadata', async () => {
  const gpt2 = await loadTokenizer(dirSource(path.join(fixtures, 'tok-gpt2')));
  const qwen2 = await loadTokenizer(dirSource(path.join(fixtures, 'tok-qwen2')));
  const llama = await loadTokenizer(dirSource(path.join(fixtures, 'tok-llama')));

  it('reads vocab sizes including added tokens', () => {
    expect(gpt2.vocabSize).toBe(512);
    expect(qwen2.vocabSize).toBe(512);
    expect(llama.vocabSize).toBe(600);
  });

  it('reads bos/eos/pad from tokenizer_config', () => {
    expect([gpt2.bosToken, gpt2.eosToken, gpt2.bosTokenId, gpt2.eosTokenId, gpt2.padTokenId]).toEqual([
      '<|endoftext|>',
      '<|endoftext|>',
      0,
      0,
      null,
    ]);
    expect([qwen2.bosToken, qwen2.eosToken, qwen2.bosTokenId, qwen2.eosTokenId, qwen2.padTokenId]).toEqual([
      null,
      '<|im_end|>',
      null,
      2,
      0,
    ]);
    expect([llama.bosToken, llama.eosToken, llama.bosTokenId, llama.eosTokenId, llama.padTokenId]).toEqual(['<s>', '</s>', 1, 2, null]);
  });

  it('lists end-of-turn ids', () => {
    expect(gpt2.endOfTurnIds).toEqual([0]);
    expect(qwen2.endOfTurnIds).toEqual([2]);
    expect(llama.endOfTurnIds).toEqual([2]);
  });

  it('maps tokens to ids', () => {
    expect(qwen2.tokenToId('<|im_start|>')).toBe(1);
    expect(qwen2.tokenToId('no such token')).toBeUndefined();
    expect(llama.tokenToId('<0x0A>')).toBe(13);
  });

  it('keeps the source objects for export', () => {
    expect((qwen2.tokenizerConfig as { chat_template: string }).chat_template).toBe(qwen2.chatTemplate);
    expect((gpt2.tokenizerJson as { model: { type: string } }).model.type).toBe('BPE');
  });

  it('decodes with and without special tokens', () => {
    expect(llama.decode([])).toBe('');
    const ids = llama.encode('Hello world');
    expect(llama.decode(ids, { skipSpecialTokens: true })).toBe('Hello world');
    expect(() => llama.decode([100000])).toThrow(/outside the vocabulary/);
  });

  it('has its own template for qwen2 and llama, none for gpt2', () => {
    expect(qwen2.hasOwnChatTemplate).toBe(true);
    expect(llama.hasOwnChatTemplate).toBe(true);
    expect(gpt2.hasOwnChatTemplate).toBe(false);
    expect(gpt2.chatTemplate).toBeNull();
    expect(gpt2.effectiveChatTemplate).toBe(CHATML_FALLBACK);
  });

  it('renders the ChatML fallback with EOS after assistant turns', () => {
    const msgs: ChatMessage[] = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
    ];
    expect(gpt2.applyChatTemplate(msgs)).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|><|endoftext|>\n',
    );
    expect(gpt2.applyChatTemplate(msgs.slice(0, 2), { addGenerationPrompt: true })).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
    // With the fallback forced on a tokenizer whose EOS is <|im_end|>: plain ChatML, which is qwen2's own template.
    expect(qwen2.applyChatTemplate(msgs, { template: CHATML_FALLBACK })).toBe(qwen2.applyChatTemplate(msgs));
  });

  it('passes raise_exception to templates as transformers does', () => {
    const tpl = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start with user') }}{% endif %}ok";
    expect(() => qwen2.applyChatTemplate([{ role: 'assistant', content: 'x' }], { template: tpl })).toThrow(
      /Conversation must start with user/,
    );
    expect(qwen2.applyChatTemplate([{ role: 'user', content: 'x' }], { template: tpl })).toBe('ok');
  });

  it('accepts AddedToken objects for special tokens in tokenizer_config', () => {
    const dir = path.join(fixtures, 'tok-llama');
    const cfg = readJson(path.join(dir, 'tokenizer_config.json'));
    cfg.bos_token = { __type: 'AddedToken', content: '<s>', lstrip: false };
    cfg.eos_token = { content: '</s>' };
    const tok = tokenizerFromJson(readJson(path.join(dir, 'tokenizer.json')), cfg);
    expect([tok.bosToken, tok.eosToken, tok.bosTokenId, tok.eosTokenId]).toEqual(['<s>', '</s>', 1, 2]);
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'b' },
    ];
    expect(tok.applyChatTemplate(msgs)).toBe('<s>[INST] a [/INST] b </s>');
  });

  it('prefers chat_template.jinja over tokenizer_config', async () => {
    const dir = path.join(fixtures, 'tok-qwen2');
    const src = blobSource('mem', {
      'tokenizer.json': new Blob([fs.readFileSync(path.join(dir, 'tokenizer.json'))]),
      'tokenizer_config.json': new Blob([fs.readFileSync(path.join(dir, 'tokenizer_config.json'))]),
      'chat_template.jinja': new Blob(['{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}']),
    });
    const tok = await loadTokenizer(src);
    expect(tok.applyChatTemplate([{ role: 'user', content: 'hi' }])).toBe('[user]hi');
  });
});

describe('loadTokenizer errors', () => {
  const tj = fs.readFileSync(path.join(fixtures, 'tok-gpt2', 'tokenizer.json'));
  const tc = fs.readFileSync(path.join(fixtures, 'tok-gpt2', 'tokenizer_config.json'));

  it('names the folder and the missing file', async () => {
    await expect(loadTokenizer(blobSource('my-model', { 'tokenizer_config.json': new Blob([tc]) }))).rejects.toThrow(
      /my-model: missing tokenizer\.json/,
    );
    await expect(loadTokenizer(blobSource('my-model', { 'tokenizer.json': new Blob([tj]) }))).rejects.toThrow(
      /my-model: missing tokenizer_config\.json/,
    );
  });

  it('names the file with invalid JSON', async () => {
    const err = await loadTokenizer(
      blobSource('m', { 'tokenizer.json': new Blob(['{not json']), 'tokenizer_config.json': new Blob([tc]) }),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(WhetstoneError);
    expect(err.message).toMatch(/^m\/tokenizer\.json: invalid JSON/);
  });

  it('rejects a JSON file that is not a tokenizer', async () => {
    await expect(
      loadTokenizer(blobSource('m', { 'tokenizer.json': new Blob(['[1,2]']), 'tokenizer_config.json': new Blob([tc]) })),
    ).rejects.toThrow(/m\/tokenizer\.json: not a JSON object/);
    await expect(
      loadTokenizer(blobSource('m', { 'tokenizer.json': new Blob(['{"a":1}']), 'tokenizer_config.json': new Blob([tc]) })),
    ).rejects.toThrow(/m\/tokenizer\.json: no "model"/);
  });
});
