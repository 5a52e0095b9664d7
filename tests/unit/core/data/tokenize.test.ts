// Masks for the three training modes, asserted position by position against the fixture tokenizers' HF ids
// (tests/fixtures/hf/tok-*/reference.json): which tokens carry loss, and the truncation statistics.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { tokenizerFromJson, type ChatMessage, type WhetTokenizer } from '../../../../src/core/tokenizer';
import { IGNORE_INDEX, modeAcceptsFormat, tokenizeExamples, type Sequence } from '../../../../src/core/data/tokenize';
import { importDataset } from '../../../../src/core/data/import';

const fixtures = path.resolve(__dirname, '../../../fixtures/hf');
const readJson = (p: string) => JSON.parse(fs.readFileSync(p, 'utf8'));

function load(name: string): {
  tok: WhetTokenizer;
  ref: { chat: Array<{ messages: ChatMessage[]; add_generation_prompt: boolean; text: string; ids: number[] }> };
} {
  const dir = path.join(fixtures, name);
  return {
    tok: tokenizerFromJson(readJson(path.join(dir, 'tokenizer.json')), readJson(path.join(dir, 'tokenizer_config.json'))),
    ref: readJson(path.join(dir, 'reference.json')),
  };
}

const gpt2 = load('tok-gpt2');
const qwen2 = load('tok-qwen2');
const llama = load('tok-llama');

/** The [start, end) runs of positions whose label is not -100. */
function trainedRuns(s: Sequence): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  s.labels.forEach((l, k) => {
    if (l === IGNORE_INDEX) return;
    const last = runs[runs.length - 1];
    if (last && last[1] === k) last[1] = k + 1;
    else runs.push([k, k + 1]);
  });
  return runs;
}

/** Every label is either -100 or the input id at that position (HF convention: the model shifts). */
function expectAligned(s: Sequence) {
  expect(s.labels).toHaveLength(s.inputIds.length);
  s.labels.forEach((l, k) => expect(l === IGNORE_INDEX || l === s.inputIds[k]).toBe(true));
}

// Hugging Face ids of the reference texts (reference.json encode[]).
const HELLO = {
  gpt2: [40, 69, 408, 79, 280, 260, 76, 68],
  qwen2: [42, 71, 410, 81, 282, 262, 78, 70],
  llama: [1, 346, 293, 318, 469, 383, 336, 350, 325, 317],
};
const A = { gpt2: [65], qwen2: [67], llama: [1, 352] };

describe('chat mode: loss on assistant turns through their end-of-turn token', () => {
  const conversations = [0, 2]; // the reference chats rendered without a generation prompt

  it('qwen2 (ChatML): content + <|im_end|> trained, the "\\n" after it and everything else not', () => {
    const want = [
      { runs: [[76, 109]], text: ['We are sorry to hear that. Use the Forgot Password option.<|im_end|>'] },
      { runs: [[34, 39]], text: ['bonjour<|im_end|>'] },
    ];
    conversations.forEach((ci, n) => {
      const c = qwen2.ref.chat[ci];
      const { sequences, stats, chatTemplateFallback } = tokenizeExamples([{ messages: c.messages }], qwen2.tok, {
        mode: 'chat',
        maxLength: 512,
      });
      expect(chatTemplateFallback).toBe(false);
      const s = sequences[0];
      expect(s.inputIds).toEqual(c.ids); // exactly HF's apply_chat_template ids
      expectAligned(s);
      expect(trainedRuns(s)).toEqual(want[n].runs);
      expect(trainedRuns(s).map(([a, b]) => qwen2.tok.decode(c.ids.slice(a, b)))).toEqual(want[n].text);
      for (const [, b] of want[n].runs) expect(c.ids[b - 1]).toBe(2); // <|im_end|>
      expect(stats.trainedTokens).toBe(want[n].runs.reduce((t, [a, b]) => t + b - a, 0));
      expect(stats.tokens).toBe(c.ids.length);
    });
  });

  it('llama ([INST]): " content </s>" after [/INST] trained, <s>[INST] … [/INST] not', () => {
    const want = [
      { runs: [[90, 122]], text: ['We are sorry to hear that. Use the Forgot Password option. </s>'] },
      { runs: [[36, 43]], text: ['bonjour </s>'] },
    ];
    conversations.forEach((ci, n) => {
      const c = llama.ref.chat[ci];
      const s = tokenizeExamples([{ messages: c.messages }], llama.tok, { mode: 'chat', maxLength: 512 }).sequences[0];
      expect(s.inputIds).toEqual(c.ids);
      expectAligned(s);
      expect(trainedRuns(s)).toEqual(want[n].runs);
      expect(trainedRuns(s).map(([a, b]) => llama.tok.decode(c.ids.slice(a, b)))).toEqual(want[n].text);
      for (const [a, b] of want[n].runs) {
        expect(c.ids[b - 1]).toBe(2); // </s>
        expect(c.ids.slice(a - 7, a)).toEqual([311, 269, 294, 299, 304, 305, 312]); // "[/INST]" untrained
      }
    });
    // The text right before each span is the end of "[/INST]".
    const c = llama.ref.chat[2];
    expect(llama.tok.decode(c.ids.slice(0, 36))).toBe('<s> [INST] Translate to French: good morning [/INST]');
  });

  it('two assistant turns are both trained', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Translate to French: good morning' },
      { role: 'assistant', content: 'bonjour' },
      { role: 'user', content: 'and good night?' },
      { role: 'assistant', content: 'bonne nuit' },
    ];
    const s = tokenizeExamples([{ messages }], qwen2.tok, { mode: 'chat', maxLength: 512 }).sequences[0];
    // The first 57 ids are the reference 3-message conversation.
    expect(s.inputIds.slice(0, 57)).toEqual(qwen2.ref.chat[2].ids);
    const runs = trainedRuns(s);
    expect(runs[0]).toEqual([34, 39]);
    expect(runs).toHaveLength(2);
    expect(qwen2.tok.decode(s.inputIds.slice(runs[1][0], runs[1][1]))).toBe('bonne nuit<|im_end|>');
    expect(s.inputIds[s.inputIds.length - 1]).toBe(201); // the final "\n" is not trained
    expect(runs[1][1]).toBe(s.inputIds.length - 1);
  });

  it('gpt2 has no template: ChatML fallback, flagged, with EOS trained after <|im_end|>', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
    ];
    const { sequences, chatTemplateFallback } = tokenizeExamples([{ messages }], gpt2.tok, { mode: 'chat', maxLength: 512 });
    expect(chatTemplateFallback).toBe(true);
    const s = sequences[0];
    expect(gpt2.tok.decode(s.inputIds)).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|><|endoftext|>\n');
    const runs = trainedRuns(s);
    expect(runs).toHaveLength(1);
    const [a, b] = runs[0];
    expect(s.inputIds.slice(a, b)).toEqual([...gpt2.tok.encode('Hello.<|im_end|>', { addSpecialTokens: false }), 0]);
    expect(gpt2.tok.decode(s.inputIds.slice(0, a))).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    expect(s.inputIds.slice(b)).toEqual([199]); // "\n"
  });

  it('prompt-completion pairs become a user/assistant exchange', () => {
    const s = tokenizeExamples([{ prompt: 'Translate to French: good morning', completion: 'bonjour' }], qwen2.tok, {
      mode: 'chat',
      maxLength: 512,
    }).sequences[0];
    expect(s.inputIds).toEqual(qwen2.ref.chat[2].ids.slice(0, 40));
    expect(trainedRuns(s)).toEqual([[34, 39]]);
  });

  it('Alpaca and ShareGPT files train the output / gpt turns', async () => {
    const alpaca = await importDataset(
      new Blob(['{"instruction": "Translate to French", "input": "good morning", "output": "bonjour"}\n']),
      'a.jsonl',
    );
    const sharegpt = await importDataset(
      new Blob([
        '{"conversations": [{"from": "human", "value": "Translate to French: good morning"}, {"from": "gpt", "value": "bonjour"}]}\n',
      ]),
      's.jsonl',
    );
    for (const d of [alpaca, sharegpt]) {
      const s = tokenizeExamples(d.examples, qwen2.tok, { mode: 'chat', maxLength: 512 }).sequences[0];
      const runs = trainedRuns(s);
      expect(runs).toHaveLength(1);
      expect(qwen2.tok.decode(s.inputIds.slice(runs[0][0], runs[0][1]))).toBe('bonjour<|im_end|>');
    }
    const sg = tokenizeExamples(sharegpt.examples, qwen2.tok, { mode: 'chat', maxLength: 512 }).sequences[0];
    expect(sg.inputIds).toEqual(qwen2.ref.chat[2].ids.slice(0, 40));
  });

  it('trainOnPrompt trains every token; no assistant turn means skipped', () => {
    const c = qwen2.ref.chat[0];
    const all = tokenizeExamples([{ messages: c.messages }], qwen2.tok, { mode: 'chat', maxLength: 512, trainOnPrompt: true }).sequences[0];
    expect(all.labels).toEqual(c.ids);
    const r = tokenizeExamples([{ messages: [{ role: 'user', content: 'hi' }] }], qwen2.tok, { mode: 'chat', maxLength: 512 });
    expect(r.sequences).toEqual([]);
    expect(r.stats.skipped).toBe(1);
  });

  it('truncates from the right with statistics', () => {
    const c = qwen2.ref.chat[0];
    const r = tokenizeExamples([{ messages: c.messages }], qwen2.tok, { mode: 'chat', maxLength: 80 });
    expect(r.stats).toMatchObject({ examples: 1, sequences: 1, truncated: 1, tokensDropped: 30, tokens: 80, trainedTokens: 4 });
    expect(r.sequences[0].inputIds).toEqual(c.ids.slice(0, 80));
    expect(trainedRuns(r.sequences[0])).toEqual([[76, 80]]);
    // Cut before the assistant turn: nothing left to train, the example is skipped.
    const gone = tokenizeExamples([{ messages: c.messages }], qwen2.tok, { mode: 'chat', maxLength: 70 });
    expect(gone.stats).toMatchObject({ sequences: 0, truncated: 1, tokensDropped: 40, skipped: 1, tokens: 0, trainedTokens: 0 });
  });
});

describe('completion mode: loss on completion + EOS', () => {
  it('gpt2, qwen2: prompt ids untrained, completion and EOS trained', () => {
    for (const [t, nl, eos, name] of [
      [gpt2.tok, 199, 0, 'gpt2'],
      [qwen2.tok, 201, 2, 'qwen2'],
    ] as const) {
      const hello = HELLO[name];
      const a = A[name];
      const s = tokenizeExamples([{ prompt: 'Hello world', completion: '\na' }], t, { mode: 'completion', maxLength: 64 }).sequences[0];
      expect(s.inputIds).toEqual([...hello, nl, ...a, eos]);
      expect(s.labels).toEqual([...hello.map(() => IGNORE_INDEX), nl, ...a, eos]);
    }
  });

  it('llama: BOS from the tokenizer, then completion + </s>', () => {
    const s = tokenizeExamples([{ prompt: 'Hello world', completion: ' a' }], llama.tok, { mode: 'completion', maxLength: 64 })
      .sequences[0];
    expect(s.inputIds).toEqual([...HELLO.llama, 352, 2]); // "▁a" as in the reference encoding of "a"
    expect(s.labels).toEqual([...HELLO.llama.map(() => IGNORE_INDEX), 352, 2]);
  });

  it('trainOnPrompt trains the prompt too', () => {
    const s = tokenizeExamples([{ prompt: 'Hello world', completion: '\na' }], gpt2.tok, {
      mode: 'completion',
      maxLength: 64,
      trainOnPrompt: true,
    }).sequences[0];
    expect(s.labels).toEqual(s.inputIds);
  });

  it('truncation statistics', () => {
    const ex = [
      { prompt: 'Hello world', completion: '\na' }, // 11 tokens
      { prompt: 'a', completion: '\na' }, // 4 tokens
    ];
    const r = tokenizeExamples(ex, gpt2.tok, { mode: 'completion', maxLength: 10 });
    expect(r.stats).toEqual({ examples: 2, sequences: 2, truncated: 1, tokensDropped: 1, skipped: 0, tokens: 14, trainedTokens: 5 });
    expect(r.sequences[0].labels).toEqual([...HELLO.gpt2.map(() => IGNORE_INDEX), 199, 65]);
    const none = tokenizeExamples(ex.slice(0, 1), gpt2.tok, { mode: 'completion', maxLength: 8 });
    expect(none.stats).toEqual({ examples: 1, sequences: 0, truncated: 1, tokensDropped: 3, skipped: 1, tokens: 0, trainedTokens: 0 });
  });
});

describe('text mode: documents + EOS packed into blocks, every token trained', () => {
  it('gpt2: no BOS, EOS after each document', () => {
    const r = tokenizeExamples([{ text: 'Hello world' }, { text: 'a' }], gpt2.tok, { mode: 'text', maxLength: 4 });
    expect(r.sequences.map((s) => s.inputIds)).toEqual([
      [40, 69, 408, 79],
      [280, 260, 76, 68],
      [0, 65, 0],
    ]);
    for (const s of r.sequences) expect(s.labels).toEqual(s.inputIds);
    expect(r.stats).toEqual({ examples: 2, sequences: 3, truncated: 0, tokensDropped: 0, skipped: 0, tokens: 11, trainedTokens: 8 });
    expect(r.chatTemplateFallback).toBe(false);
  });

  it('a final block under 2 tokens is dropped', () => {
    const r = tokenizeExamples([{ text: 'Hello world' }, { text: 'a' }], gpt2.tok, { mode: 'text', maxLength: 5 });
    expect(r.sequences.map((s) => s.inputIds)).toEqual([
      [40, 69, 408, 79, 280],
      [260, 76, 68, 0, 65],
    ]);
    expect(r.stats.tokensDropped).toBe(1);
  });

  it('llama: BOS as the tokenizer adds it, </s> after each document', () => {
    const r = tokenizeExamples([{ text: 'Hello world' }, { text: 'a' }], llama.tok, { mode: 'text', maxLength: 6 });
    expect(r.sequences.map((s) => s.inputIds).flat()).toEqual([...HELLO.llama, 2, ...A.llama, 2]);
    expect(r.sequences.map((s) => s.inputIds.length)).toEqual([6, 6, 2]);
  });

  it('qwen2: its EOS (<|im_end|>) after each document', () => {
    const r = tokenizeExamples([{ text: 'a' }, { text: 'a' }], qwen2.tok, { mode: 'text', maxLength: 8 });
    expect(r.sequences.map((s) => s.inputIds)).toEqual([[67, 2, 67, 2]]);
  });

  it('other formats are read as plain documents', () => {
    const r = tokenizeExamples([{ prompt: 'Hello', completion: ' world' }], gpt2.tok, { mode: 'text', maxLength: 64 });
    expect(r.sequences[0].inputIds).toEqual([...HELLO.gpt2, 0]);
    const c = qwen2.ref.chat[0];
    const m = tokenizeExamples([{ messages: c.messages }], qwen2.tok, { mode: 'text', maxLength: 512 });
    expect(m.sequences[0].inputIds).toEqual([...c.ids, 2]);
  });
});

describe('mode and format', () => {
  it('says which formats a mode accepts', () => {
    expect(modeAcceptsFormat('text', 'messages')).toBe(true);
    expect(modeAcceptsFormat('completion', 'prompt-completion')).toBe(true);
    expect(modeAcceptsFormat('completion', 'alpaca')).toBe(false);
    expect(modeAcceptsFormat('chat', 'sharegpt')).toBe(true);
    expect(modeAcceptsFormat('chat', 'prompt-completion')).toBe(true);
    expect(modeAcceptsFormat('chat', 'text')).toBe(false);
  });

  it('gives a clear error for data the mode cannot train on', () => {
    expect(() => tokenizeExamples([{ text: 'x' }], gpt2.tok, { mode: 'chat', maxLength: 8 })).toThrow(
      "example 1: mode 'chat' needs conversations or prompt-completion data, got raw text (use mode 'text')",
    );
    expect(() =>
      tokenizeExamples([{ messages: [{ role: 'user', content: 'x' }] }], gpt2.tok, { mode: 'completion', maxLength: 8 }),
    ).toThrow("example 1: mode 'completion' needs prompt-completion data, got conversations (use mode 'chat')");
    expect(() => tokenizeExamples([{ text: 'x' }], gpt2.tok, { mode: 'text', maxLength: 1 })).toThrow(/maxLength must be an integer ≥ 2/);
  });
});
