// Assistant spans in rendered conversations, for incremental templates, templates with no end-of-turn
// marker, and templates that rewrite earlier turns (the content-search fallback).
import { describe, expect, it } from 'vitest';
import { assistantSpans, CHATML_FALLBACK, renderChatTemplate, type ChatMessage } from '../../../src/core/chat-template';

const conv: ChatMessage[] = [
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello' },
  { role: 'user', content: 'Bye' },
  { role: 'assistant', content: 'Ciao' },
];

const renderer =
  (template: string, specialTokens: Record<string, string> = {}) =>
  (m: readonly ChatMessage[], agp: boolean) =>
    renderChatTemplate(template, m, { addGenerationPrompt: agp, specialTokens });

const spanTexts = (r: { text: string; spans: Array<[number, number]> }) => r.spans.map(([a, b]) => r.text.slice(a, b));

describe('assistantSpans', () => {
  it('ChatML: content through <|im_end|>, not the newline', () => {
    const r = assistantSpans(renderer(CHATML_FALLBACK, { eos_token: '<|im_end|>' }), conv, ['<|im_end|>']);
    expect(spanTexts(r)).toEqual(['Hello<|im_end|>', 'Ciao<|im_end|>']);
  });

  it('the fallback on a tokenizer with another EOS: through the EOS', () => {
    const r = assistantSpans(renderer(CHATML_FALLBACK, { eos_token: '</s>' }), conv, ['</s>', '<|im_end|>']);
    expect(spanTexts(r)).toEqual(['Hello<|im_end|></s>', 'Ciao<|im_end|></s>']);
    expect(r.text.endsWith('Ciao<|im_end|></s>\n')).toBe(true);
  });

  it('a template with no end-of-turn marker: the whole rendered turn, nothing appended', () => {
    const t = '{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}';
    const r = assistantSpans(renderer(t), conv, ['</s>']);
    expect(spanTexts(r)).toEqual(['Hello\n', 'Ciao\n']);
  });

  it('a template that is not incremental falls back to finding the content', () => {
    // EOS only after the last message: rendering a prefix with a generation prompt is not a prefix of the whole.
    const t =
      "{% for m in messages %}{{ m.role }}: {{ m.content }}{% if loop.last %}{{ eos_token }}{% else %}{{ '\\n' }}{% endif %}{% endfor %}" +
      "{% if add_generation_prompt %}{{ '\\nassistant: ' }}{% endif %}";
    const r = assistantSpans(renderer(t, { eos_token: '</s>' }), conv, ['</s>']);
    expect(r.text).toBe('user: Hi\nassistant: Hello\nuser: Bye\nassistant: Ciao</s>');
    expect(spanTexts(r)).toEqual(['Hello', 'Ciao</s>']);
  });

  it('a template without a generation prompt: the role header it renders is part of the turn', () => {
    const t = '{% for m in messages %}<{{ m.role }}>{{ m.content }}</s>{% endfor %}';
    const r = assistantSpans(renderer(t), conv, ['</s>']);
    expect(spanTexts(r)).toEqual(['<assistant>Hello</s>', '<assistant>Ciao</s>']);
  });

  it('a template that cannot render the empty prefix (raise_exception) falls back to the content', () => {
    const t =
      "{% if messages | length == 0 %}{{ raise_exception('no messages') }}{% endif %}{% for m in messages %}<{{ m.role }}>{{ m.content }} </s>{% endfor %}";
    const r = assistantSpans(renderer(t), [{ role: 'assistant', content: 'first' }], ['</s>']);
    expect(spanTexts(r)).toEqual(['first </s>']);
  });

  it('names an assistant turn it cannot find', () => {
    const t = "{% for m in messages %}{% if m.role == 'user' %}{{ m.content }}{% endif %}{% endfor %}";
    expect(() => assistantSpans(renderer(t), conv, [])).toThrow(/cannot locate assistant turn 2/);
  });
});

describe('renderChatTemplate', () => {
  it('reports template syntax errors', () => {
    expect(() => renderChatTemplate('{% for %}', conv)).toThrow(/chat template does not parse/);
  });

  it('passes tools and documents as none, like transformers', () => {
    expect(renderChatTemplate('{% if tools is none and documents is none %}ok{% endif %}', conv)).toBe('ok');
  });
});
