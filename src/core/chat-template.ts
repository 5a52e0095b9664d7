// Chat templates: render a conversation the way transformers' apply_chat_template does (Jinja through
// @huggingface/jinja), the documented ChatML fallback, and where each assistant turn lies in the text.

import { Template } from '@huggingface/jinja';
import { WhetstoneError } from './errors';

export interface ChatMessage {
  role: string;
  content: string;
}

/**
 * Used when a tokenizer has no chat template of its own (callers see `hasOwnChatTemplate === false` and
 * should say so). It is ChatML (`<|im_start|>role\ncontent<|im_end|>\n`), with one addition: after an
 * assistant turn the tokenizer's EOS token follows `<|im_end|>` (unless EOS is `<|im_end|>` itself). Base
 * tokenizers such as GPT-2's have no `<|im_end|>` token, so that text is several ordinary tokens that
 * generation cannot stop on; the EOS after it is what a model fine-tuned on this format learns to emit, and
 * what generation stops on. The template is self-contained (only `eos_token`, which transformers passes),
 * so an exported tokenizer that carries it renders identically in Python.
 */
export const CHATML_FALLBACK =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' }}" +
  "{% if message['role'] == 'assistant' and eos_token is defined and eos_token != '<|im_end|>' %}{{ eos_token }}{% endif %}" +
  "{{ '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Strings that end a turn in common templates; an assistant span ends after the last one it contains. */
export const END_OF_TURN_STRINGS = ['<|im_end|>', '<|eot_id|>', '<|end|>', '<end_of_turn>'];

const compiled = new Map<string, Template>();

function compile(template: string): Template {
  let t = compiled.get(template);
  if (!t) {
    try {
      t = new Template(template);
    } catch (e) {
      throw new WhetstoneError('chat-template', `chat template does not parse: ${(e as Error).message}`);
    }
    if (compiled.size > 32) compiled.clear();
    compiled.set(template, t);
  }
  return t;
}

/**
 * Renders `messages` with a Jinja chat template and the variables transformers passes: messages, tools and
 * documents (null), add_generation_prompt, the special-token strings that are set (bos_token, eos_token,
 * unk_token, pad_token, …) and raise_exception (built into the Jinja runtime: it throws).
 */
export function renderChatTemplate(
  template: string,
  messages: readonly ChatMessage[],
  opts: { addGenerationPrompt?: boolean; specialTokens?: Readonly<Record<string, string>> } = {},
): string {
  const t = compile(template);
  const vars: Record<string, unknown> = {
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    tools: null,
    documents: null,
    add_generation_prompt: opts.addGenerationPrompt ?? false,
  };
  for (const [k, v] of Object.entries(opts.specialTokens ?? {})) vars[k] = v;
  try {
    return t.render(vars);
  } catch (e) {
    throw new WhetstoneError('chat-template', `chat template: ${(e as Error).message}`);
  }
}

export type RenderFn = (messages: readonly ChatMessage[], addGenerationPrompt: boolean) => string;

/**
 * The rendered conversation and the character span [start, end) of every assistant turn in it: the
 * text the model must produce after the generation prompt, through the turn's end-of-turn marker (one of
 * `endMarkers`, e.g. `<|im_end|>` or `</s>`) when the template renders one; whitespace the template puts
 * after that marker (ChatML's "\n") is not part of the span. A template that renders no marker after an
 * assistant turn gets the whole rendered turn and nothing more (nothing is appended).
 *
 * Spans come from rendering incrementally: messages[:i] with add_generation_prompt=true is the prompt, and
 * messages[:i+1] minus that prompt is turn i. Templates that are not incremental (they rewrite earlier turns)
 * fall back to finding the turn's content in the full text after the previous span.
 */
export function assistantSpans(
  render: RenderFn,
  messages: readonly ChatMessage[],
  endMarkers: readonly string[],
): { text: string; spans: Array<[number, number]> } {
  const text = render(messages, false);
  const markers = endMarkers.filter((m) => m.length > 0);
  const spans: Array<[number, number]> = [];
  let cursor = 0;
  for (let i = 0; i < messages.length; i++) {
    if (messages[i].role !== 'assistant') continue;
    let span: [number, number] | null = null;
    try {
      const prompt = render(messages.slice(0, i), true);
      const upTo = render(messages.slice(0, i + 1), false);
      if (prompt.length >= cursor && upTo.startsWith(prompt) && text.startsWith(upTo) && upTo.length > prompt.length) {
        span = [prompt.length, endAfterLastMarker(upTo, prompt.length, upTo.length, markers)];
      }
    } catch {
      span = null; // e.g. a template that indexes messages[0] cannot render an empty prefix
    }
    if (!span) span = findContent(text, messages[i].content, cursor, markers);
    if (!span) {
      throw new WhetstoneError(
        'chat-template',
        `cannot locate assistant turn ${i + 1} in the rendered conversation (the chat template does not render it incrementally)`,
      );
    }
    spans.push(span);
    cursor = span[1];
  }
  return { text, spans };
}

function endAfterLastMarker(s: string, start: number, end: number, markers: readonly string[]): number {
  let best = -1;
  for (const m of markers) {
    const at = s.lastIndexOf(m, end - m.length);
    if (at >= start && at + m.length > best) best = at + m.length;
  }
  return best > start ? best : end;
}

function findContent(text: string, content: string, from: number, markers: readonly string[]): [number, number] | null {
  const needle = content.trim();
  if (!needle) return null;
  const at = text.indexOf(needle, from);
  if (at < 0) return null;
  let end = at + needle.length;
  // Extend over end-of-turn markers that follow (optionally after spaces), e.g. " </s>" or "<|im_end|>".
  for (;;) {
    let j = end;
    while (j < text.length && (text[j] === ' ' || text[j] === '\t')) j++;
    const m = markers.find((mk) => text.startsWith(mk, j));
    if (!m) break;
    end = j + m.length;
  }
  return [at, end];
}
