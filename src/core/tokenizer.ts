// A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) through @huggingface/tokenizers, with
// the special tokens and chat template that transformers reads from the config.

import { Tokenizer } from '@huggingface/tokenizers';
import { WhetstoneError } from './errors';
import type { FileSource } from './files';
import { CHATML_FALLBACK, END_OF_TURN_STRINGS, renderChatTemplate, type ChatMessage } from './chat-template';

export type { ChatMessage } from './chat-template';
export { CHATML_FALLBACK } from './chat-template';

type Json = Record<string, unknown>;

const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'] as const;

/** A special token in tokenizer_config.json: a string, or an AddedToken object `{content, …}`. */
function tokenString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return null;
}

/** tokenizer_config's chat_template: a string, or a list of named templates (the one named "default"). */
function configChatTemplate(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const named = v.filter((t): t is { name: string; template: string } => !!t && typeof t === 'object' && typeof t.template === 'string');
    return (named.find((t) => t.name === 'default') ?? named[0])?.template ?? null;
  }
  return null;
}

export class WhetTokenizer {
  readonly tokenizerJson: object;
  readonly tokenizerConfig: object;
  /** Vocabulary size including added tokens: the largest id + 1. */
  readonly vocabSize: number;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly unkToken: string | null;
  readonly padToken: string | null;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  /** The tokenizer's own chat template, or null (then applyChatTemplate uses CHATML_FALLBACK). */
  readonly chatTemplate: string | null;
  readonly hasOwnChatTemplate: boolean;
  /** Ids generation should stop on: EOS, then <|im_end|> / <|eot_id|> / <|end|> / <end_of_turn> when present. */
  readonly endOfTurnIds: number[];
  /** Strings that end a turn in rendered chats (EOS and the end-of-turn tokens above): mask spans end there. */
  readonly endOfTurnStrings: string[];
  readonly #tok: Tokenizer;
  readonly #specialTokens: Record<string, string>;

  constructor(tokenizerJson: object, tokenizerConfig: object, opts: { chatTemplate?: string | null } = {}) {
    this.tokenizerJson = tokenizerJson;
    this.tokenizerConfig = tokenizerConfig;
    this.#tok = new Tokenizer(tokenizerJson, tokenizerConfig);
    const cfg = tokenizerConfig as Json;

    let maxId = -1;
    for (const id of this.#tok.get_vocab(true).values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;

    // Special tokens exactly as the config names them (transformers passes these strings to templates).
    this.#specialTokens = {};
    for (const k of SPECIAL_TOKEN_KEYS) {
      const s = tokenString(cfg[k]);
      if (s !== null) this.#specialTokens[k] = s;
    }
    // A config that names no EOS (e.g. GPT-2's hub config): the well-known end-of-text token when present.
    if (this.#specialTokens.eos_token === undefined && !('eos_token' in cfg)) {
      const known = ['<|endoftext|>', '</s>'].find((t) => this.#tok.token_to_id(t) !== undefined);
      if (known) this.#specialTokens.eos_token = known;
    }
    this.bosToken = this.#specialTokens.bos_token ?? null;
    this.eosToken = this.#specialTokens.eos_token ?? null;
    this.unkToken = this.#specialTokens.unk_token ?? null;
    this.padToken = this.#specialTokens.pad_token ?? null;
    const idOf = (t: string | null) => (t === null ? null : (this.#tok.token_to_id(t) ?? null));
    this.bosTokenId = idOf(this.bosToken);
    this.eosTokenId = idOf(this.eosToken);
    this.padTokenId = idOf(this.padToken);

    const own = opts.chatTemplate !== undefined ? opts.chatTemplate : configChatTemplate(cfg.chat_template);
    this.chatTemplate = own && own.length > 0 ? own : null;
    this.hasOwnChatTemplate = this.chatTemplate !== null;

    const eot: number[] = this.eosTokenId !== null ? [this.eosTokenId] : [];
    const eotStrings: string[] = this.eosToken !== null ? [this.eosToken] : [];
    for (const s of END_OF_TURN_STRINGS) {
      const id = this.#tok.token_to_id(s);
      if (id !== undefined && !eot.includes(id)) eot.push(id);
      if (!eotStrings.includes(s)) eotStrings.push(s);
    }
    this.endOfTurnIds = eot;
    this.endOfTurnStrings = eotStrings;
  }

  /** The template applyChatTemplate renders with: the tokenizer's own or CHATML_FALLBACK (write it on export). */
  get effectiveChatTemplate(): string {
    return this.chatTemplate ?? CHATML_FALLBACK;
  }

  /** Special-token strings as transformers passes them to chat templates (only the ones that are set). */
  get specialTokens(): Readonly<Record<string, string>> {
    return this.#specialTokens;
  }

  /** Token ids of `text`; with special tokens (BOS etc., as the post-processor adds them) by default, like HF. */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.#tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  /** Text of `ids`; special tokens are kept unless skipSpecialTokens (HF's default is to keep them). */
  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new WhetstoneError('tokenizer', `decode: token id ${id} is outside the vocabulary (size ${this.vocabSize})`);
      }
    }
    return this.#tok.decode(ids as number[], { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  /** Renders a conversation with the chat template (the tokenizer's own, `opts.template`, or the ChatML fallback). */
  applyChatTemplate(messages: readonly ChatMessage[], opts: { addGenerationPrompt?: boolean; template?: string } = {}): string {
    return renderChatTemplate(opts.template ?? this.effectiveChatTemplate, messages, {
      addGenerationPrompt: opts.addGenerationPrompt ?? false,
      specialTokens: this.#specialTokens,
    });
  }

  tokenToId(token: string): number | undefined {
    return this.#tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.#tok.id_to_token(id);
  }
}

function isObject(v: unknown): v is Json {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** A tokenizer from the parsed tokenizer.json and tokenizer_config.json objects. */
export function tokenizerFromJson(
  tokenizerJson: object,
  tokenizerConfig: object,
  opts: { chatTemplate?: string | null; label?: string } = {},
): WhetTokenizer {
  const where = opts.label ?? 'tokenizer';
  if (!isObject(tokenizerJson)) throw new WhetstoneError('tokenizer', `${where}/tokenizer.json: not a JSON object`);
  if (!isObject(tokenizerConfig)) throw new WhetstoneError('tokenizer', `${where}/tokenizer_config.json: not a JSON object`);
  if (!isObject(tokenizerJson.model) || typeof tokenizerJson.model.type !== 'string') {
    throw new WhetstoneError('tokenizer', `${where}/tokenizer.json: no "model" with a "type" (not a Hugging Face tokenizers file)`);
  }
  try {
    return new WhetTokenizer(tokenizerJson, tokenizerConfig, opts);
  } catch (e) {
    if (e instanceof WhetstoneError) throw e;
    throw new WhetstoneError('tokenizer', `${where}/tokenizer.json: cannot build the tokenizer: ${(e as Error).message}`);
  }
}

async function readJsonFile(source: FileSource, path: string): Promise<Json> {
  if (!source.has(path)) {
    throw new WhetstoneError(
      'tokenizer',
      `${source.label}: missing ${path} (a Hugging Face tokenizer needs tokenizer.json and tokenizer_config.json)`,
    );
  }
  const text = await (await source.blob(path)).text();
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new WhetstoneError('tokenizer', `${source.label}/${path}: invalid JSON: ${(e as Error).message}`);
  }
  if (!isObject(v)) throw new WhetstoneError('tokenizer', `${source.label}/${path}: not a JSON object`);
  return v;
}

/**
 * Loads tokenizer.json + tokenizer_config.json from a folder. The chat template is read, as transformers
 * does, from chat_template.jinja when present, else chat_template.json, else tokenizer_config.json.
 */
export async function loadTokenizer(source: FileSource): Promise<WhetTokenizer> {
  const tokenizerJson = await readJsonFile(source, 'tokenizer.json');
  const tokenizerConfig = await readJsonFile(source, 'tokenizer_config.json');
  let chatTemplate: string | undefined;
  if (source.has('chat_template.jinja')) {
    chatTemplate = await (await source.blob('chat_template.jinja')).text();
  } else if (source.has('chat_template.json')) {
    const ct = configChatTemplate((await readJsonFile(source, 'chat_template.json')).chat_template);
    if (ct !== null) chatTemplate = ct;
  }
  return tokenizerFromJson(tokenizerJson, tokenizerConfig, { chatTemplate, label: source.label });
}
