// Examples → training sequences for the three modes, with HF labels (aligned with input_ids, -100 = no loss;
// the loss shifts them): text packs documents + EOS into blocks; completion trains the completion + EOS;
// chat trains every assistant turn through its end-of-turn token as the chat template renders it.

import { WhetstoneError } from '../errors';
import { assistantSpans, type ChatMessage } from '../chat-template';
import type { WhetTokenizer } from '../tokenizer';
import type { DataFormat, Example } from './formats';

export type TrainMode = 'text' | 'completion' | 'chat';
export const TRAIN_MODES: readonly TrainMode[] = ['text', 'completion', 'chat'];
export const IGNORE_INDEX = -100;

export interface Sequence {
  inputIds: number[];
  /** Same length as inputIds; IGNORE_INDEX where no loss. */
  labels: number[];
}

export interface TokenizeStats {
  /** Examples given. */
  examples: number;
  /** Sequences produced. */
  sequences: number;
  /** Examples cut at maxLength (completion and chat modes; text mode packs instead). */
  truncated: number;
  /** Tokens removed by truncation (and, in text mode, a final block shorter than 2 tokens). */
  tokensDropped: number;
  /** Examples left out because no token carries loss (no assistant turn, or truncated away). */
  skipped: number;
  /** Tokens in the sequences. */
  tokens: number;
  /** Tokens that carry loss: label ≠ -100 at positions ≥ 1 (position 0 is never predicted). */
  trainedTokens: number;
}

export interface TokenizeOptions {
  mode: TrainMode;
  maxLength: number;
  /** Completion mode: also train on the prompt tokens; chat mode: train on every token. Default false. */
  trainOnPrompt?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface TokenizedDataset {
  sequences: Sequence[];
  stats: TokenizeStats;
  /** Chat templates were rendered with CHATML_FALLBACK because the tokenizer has none (tell the user). */
  chatTemplateFallback: boolean;
}

type Kind = 'text' | 'prompt-completion' | 'messages';

function kindOf(e: Example): Kind | null {
  if (Array.isArray(e.messages)) return 'messages';
  if (typeof e.prompt === 'string' && typeof e.completion === 'string') return 'prompt-completion';
  if (typeof e.text === 'string') return 'text';
  return null;
}

/** Which data formats a mode accepts: text mode takes anything (as plain documents); completion needs
 *  prompt-completion; chat takes conversations (messages, ShareGPT, Alpaca) and prompt-completion pairs. */
/** The mode a format trains in when none is chosen: raw text continues pretraining, pairs train on the completion, conversations on the replies. */
export function defaultModeFor(format: DataFormat): TrainMode {
  return format === 'text' ? 'text' : format === 'prompt-completion' ? 'completion' : 'chat';
}

export function modeAcceptsFormat(mode: TrainMode, format: DataFormat): boolean {
  if (mode === 'text') return true;
  if (mode === 'completion') return format === 'prompt-completion';
  return format !== 'text';
}

function modeError(mode: TrainMode, kind: Kind | null, index: number): WhetstoneError {
  const what =
    kind === null ? 'an empty example' : kind === 'messages' ? 'conversations' : kind === 'text' ? 'raw text' : 'prompt-completion pairs';
  const hint = kind === 'text' ? "use mode 'text'" : kind === 'messages' ? "use mode 'chat'" : "use mode 'completion' or 'chat'";
  const need = mode === 'completion' ? 'prompt-completion data' : 'conversations or prompt-completion data';
  return new WhetstoneError('data', `example ${index + 1}: mode '${mode}' needs ${need}, got ${what} (${hint})`);
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * Tokens of `text` (no special tokens added: the template writes its own BOS) and a mask of the tokens inside
 * `spans` (character ranges). The whole text is encoded once, as HF does; a character boundary maps to the
 * token index where the encoding of the text before it stops agreeing with the whole (a token that straddles
 * a span start is inside the span; one that straddles a span end is outside).
 */
export function encodeWithSpans(
  tok: WhetTokenizer,
  text: string,
  spans: ReadonlyArray<readonly [number, number]>,
): { ids: number[]; mask: boolean[] } {
  const ids = tok.encode(text, { addSpecialTokens: false });
  const cache = new Map<number, number>();
  const tokenAt = (b: number): number => {
    if (b <= 0) return 0;
    if (b >= text.length) return ids.length;
    let t = cache.get(b);
    if (t === undefined) {
      t = commonPrefix(tok.encode(text.slice(0, b), { addSpecialTokens: false }), ids);
      cache.set(b, t);
    }
    return t;
  };
  const mask = new Array<boolean>(ids.length).fill(false);
  for (const [s, e] of spans) {
    const ts = tokenAt(s);
    const te = tokenAt(e);
    for (let k = ts; k < te; k++) mask[k] = true;
  }
  return { ids, mask };
}

/** A conversation → ids and labels: loss on assistant turns (through their end-of-turn token) only. */
export function tokenizeChat(tok: WhetTokenizer, messages: readonly ChatMessage[], trainOnPrompt = false): Sequence {
  const render = (m: readonly ChatMessage[], agp: boolean) => tok.applyChatTemplate(m, { addGenerationPrompt: agp });
  const { text, spans } = trainOnPrompt
    ? { text: render(messages, false), spans: [] }
    : assistantSpans(render, messages, tok.endOfTurnStrings);
  const { ids, mask } = encodeWithSpans(tok, text, spans);
  return { inputIds: ids, labels: ids.map((id, k) => (trainOnPrompt || mask[k] ? id : IGNORE_INDEX)) };
}

/** A prompt-completion pair → ids and labels: prompt (with BOS if the tokenizer adds it), completion, EOS. */
export function tokenizeCompletion(tok: WhetTokenizer, prompt: string, completion: string, trainOnPrompt = false): Sequence {
  // Like TRL: encode prompt and prompt + completion, the completion is what follows the prompt's tokens.
  const promptIds = tok.encode(prompt);
  const ids = tok.encode(prompt + completion);
  const b = commonPrefix(promptIds, ids);
  if (tok.eosTokenId !== null && ids[ids.length - 1] !== tok.eosTokenId) ids.push(tok.eosTokenId);
  return { inputIds: ids, labels: ids.map((id, k) => (trainOnPrompt || k >= b ? id : IGNORE_INDEX)) };
}

function countTrained(labels: readonly number[]): number {
  let n = 0;
  for (let k = 1; k < labels.length; k++) if (labels[k] !== IGNORE_INDEX) n++;
  return n;
}

/**
 * Tokenizes a dataset for a mode. Truncation (completion and chat) keeps the first maxLength tokens; an
 * example with no trained token left is skipped. Text mode encodes each document (with BOS when the
 * tokenizer adds one), appends EOS, concatenates everything and cuts blocks of maxLength (the last block is
 * kept when it has at least 2 tokens); every token is trained. Chat templates that render no end-of-turn
 * token after an assistant turn get nothing appended: the turn is trained as the template renders it.
 */
export function tokenizeExamples(examples: readonly Example[], tok: WhetTokenizer, opts: TokenizeOptions): TokenizedDataset {
  const { mode, maxLength } = opts;
  if (!Number.isInteger(maxLength) || maxLength < 2) throw new WhetstoneError('data', `maxLength must be an integer ≥ 2, got ${maxLength}`);
  if (!TRAIN_MODES.includes(mode)) throw new WhetstoneError('data', `unknown mode "${String(mode)}" (text, completion, chat)`);
  const stats: TokenizeStats = {
    examples: examples.length,
    sequences: 0,
    truncated: 0,
    tokensDropped: 0,
    skipped: 0,
    tokens: 0,
    trainedTokens: 0,
  };
  const sequences: Sequence[] = [];
  const usesChat = examples.some((e) => kindOf(e) === 'messages') || (mode === 'chat' && examples.length > 0);
  const chatTemplateFallback = usesChat && !tok.hasOwnChatTemplate;
  const eos = tok.eosTokenId;
  const every = Math.max(1, Math.floor(examples.length / 100));

  if (mode === 'text') {
    const stream: number[] = [];
    examples.forEach((e, i) => {
      const kind = kindOf(e);
      let ids: number[];
      if (kind === 'messages') ids = tok.encode(tok.applyChatTemplate(e.messages as ChatMessage[]), { addSpecialTokens: false });
      else if (kind === 'prompt-completion') ids = tok.encode((e.prompt as string) + (e.completion as string));
      else if (kind === 'text') ids = tok.encode(e.text as string);
      else throw modeError(mode, kind, i);
      if (eos !== null && ids[ids.length - 1] !== eos) ids.push(eos);
      for (const id of ids) stream.push(id);
      if (i % every === 0) opts.onProgress?.(i + 1, examples.length);
    });
    for (let s = 0; s < stream.length; s += maxLength) {
      const block = stream.slice(s, s + maxLength);
      if (block.length < 2) {
        stats.tokensDropped += block.length;
        continue;
      }
      sequences.push({ inputIds: block, labels: block.slice() });
    }
  } else {
    examples.forEach((e, i) => {
      const kind = kindOf(e);
      let seq: Sequence;
      if (mode === 'completion') {
        if (kind !== 'prompt-completion') throw modeError(mode, kind, i);
        seq = tokenizeCompletion(tok, e.prompt as string, e.completion as string, opts.trainOnPrompt);
      } else {
        if (kind === 'messages') seq = tokenizeChat(tok, e.messages as ChatMessage[], opts.trainOnPrompt);
        else if (kind === 'prompt-completion') {
          const messages = [
            { role: 'user', content: e.prompt as string },
            { role: 'assistant', content: e.completion as string },
          ];
          seq = tokenizeChat(tok, messages, opts.trainOnPrompt);
        } else throw modeError(mode, kind, i);
      }
      if (seq.inputIds.length > maxLength) {
        stats.truncated++;
        stats.tokensDropped += seq.inputIds.length - maxLength;
        seq = { inputIds: seq.inputIds.slice(0, maxLength), labels: seq.labels.slice(0, maxLength) };
      }
      if (countTrained(seq.labels) === 0) stats.skipped++;
      else sequences.push(seq);
      if (i % every === 0) opts.onProgress?.(i + 1, examples.length);
    });
  }
  opts.onProgress?.(examples.length, examples.length);
  for (const s of sequences) {
    stats.tokens += s.inputIds.length;
    stats.trainedTokens += countTrained(s.labels);
  }
  stats.sequences = sequences.length;
  return { sequences, stats, chatTemplateFallback };
}
