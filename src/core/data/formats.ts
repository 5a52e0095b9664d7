// Dataset formats: detect which one a record is in (by its fields, through an optional column mapping) and
// normalise it into an Example. Only the known fields are read (own properties, picked by name), so keys
// such as `__proto__` or `constructor` in a user's file are never copied anywhere.

import type { ChatMessage } from '../chat-template';
import { DataError } from './errors';

export type DataFormat = 'text' | 'prompt-completion' | 'messages' | 'sharegpt' | 'alpaca';
export const DATA_FORMATS: readonly DataFormat[] = ['text', 'prompt-completion', 'messages', 'sharegpt', 'alpaca'];

/** A normalised example: text, or prompt + completion, or messages (ShareGPT and Alpaca become messages). */
export interface Example {
  text?: string;
  prompt?: string;
  completion?: string;
  messages?: ChatMessage[];
}

/** The fields a format reads; a column mapping renames them (`{prompt: 'question', completion: 'answer'}`). */
export const FIELDS = ['text', 'prompt', 'completion', 'messages', 'conversations', 'instruction', 'input', 'output', 'system'] as const;
export type Field = (typeof FIELDS)[number];
export type ColumnMapping = Partial<Record<Field, string>>;

export const CHAT_ROLES = ['system', 'user', 'assistant'] as const;
/** ShareGPT speaker names → chat roles (`human`/`gpt` as in ShareGPT, plus the OpenAI names). */
const SHAREGPT_ROLES: Readonly<Record<string, string>> = {
  human: 'user',
  gpt: 'assistant',
  system: 'system',
  user: 'user',
  assistant: 'assistant',
};

export interface RecordContext {
  file: string;
  line: number;
  columns?: ColumnMapping;
}

const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

function key(ctx: RecordContext, f: Field): string {
  return ctx.columns?.[f] ?? f;
}

function has(rec: object, ctx: RecordContext, f: Field): boolean {
  const k = key(ctx, f);
  return hasOwn(rec, k) && (rec as Record<string, unknown>)[k] !== undefined;
}

function get(rec: object, ctx: RecordContext, f: Field): unknown {
  const k = key(ctx, f);
  return hasOwn(rec, k) ? (rec as Record<string, unknown>)[k] : undefined;
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function str(rec: object, ctx: RecordContext, f: Field, optional = false): string {
  const v = get(rec, ctx, f);
  if (v === undefined || (optional && v === null)) {
    if (optional) return '';
    throw new DataError(ctx.file, ctx.line, 'missing field', key(ctx, f));
  }
  if (typeof v !== 'string') throw new DataError(ctx.file, ctx.line, `must be a string, got ${typeName(v)}`, key(ctx, f));
  return v;
}

/** The format a record is in, or null when it matches none (the caller reports the unknown schema). */
export function detectFormat(rec: object, columns?: ColumnMapping): DataFormat | null {
  const ctx: RecordContext = { file: '', line: 0, columns };
  if (has(rec, ctx, 'messages')) return 'messages';
  if (has(rec, ctx, 'conversations')) return 'sharegpt';
  if (has(rec, ctx, 'prompt') && has(rec, ctx, 'completion')) return 'prompt-completion';
  if (has(rec, ctx, 'instruction') && has(rec, ctx, 'output')) return 'alpaca';
  if (has(rec, ctx, 'text')) return 'text';
  return null;
}

/** Why a record matches no format: a near miss names the missing field, otherwise the keys it has. */
export function unknownSchemaError(rec: object, ctx: RecordContext): DataError {
  const pairs: Array<[Field, Field]> = [
    ['prompt', 'completion'],
    ['instruction', 'output'],
  ];
  for (const [a, b] of pairs) {
    if (has(rec, ctx, a) !== has(rec, ctx, b)) {
      return new DataError(ctx.file, ctx.line, 'missing field', key(ctx, has(rec, ctx, a) ? b : a));
    }
  }
  const keys = Object.keys(rec)
    .slice(0, 12)
    .map((k) => JSON.stringify(k));
  return new DataError(
    ctx.file,
    ctx.line,
    `unknown schema (fields ${keys.join(', ') || 'none'}); expected text | prompt + completion | messages | conversations (ShareGPT) | instruction + output (Alpaca), or give a column mapping`,
  );
}

function chatMessages(v: unknown, ctx: RecordContext, f: 'messages' | 'conversations'): ChatMessage[] {
  const name = key(ctx, f);
  if (!Array.isArray(v))
    throw new DataError(ctx.file, ctx.line, v === undefined ? 'missing field' : `must be an array, got ${typeName(v)}`, name);
  if (v.length === 0) throw new DataError(ctx.file, ctx.line, 'must not be empty', name);
  const [roleKey, contentKey] = f === 'messages' ? ['role', 'content'] : ['from', 'value'];
  return v.map((m: unknown, i): ChatMessage => {
    const at = `${name}[${i}]`;
    if (m === null || typeof m !== 'object' || Array.isArray(m))
      throw new DataError(ctx.file, ctx.line, `must be an object, got ${typeName(m)}`, at);
    const role = hasOwn(m, roleKey) ? (m as Record<string, unknown>)[roleKey] : undefined;
    const content = hasOwn(m, contentKey) ? (m as Record<string, unknown>)[contentKey] : undefined;
    if (typeof role !== 'string')
      throw new DataError(
        ctx.file,
        ctx.line,
        role === undefined ? 'missing field' : `must be a string, got ${typeName(role)}`,
        `${at}.${roleKey}`,
      );
    if (typeof content !== 'string') {
      throw new DataError(
        ctx.file,
        ctx.line,
        content === undefined ? 'missing field' : `must be a string, got ${typeName(content)}`,
        `${at}.${contentKey}`,
      );
    }
    let mapped: string | undefined;
    if (f === 'messages') mapped = (CHAT_ROLES as readonly string[]).includes(role) ? role : undefined;
    else mapped = hasOwn(SHAREGPT_ROLES, role) ? SHAREGPT_ROLES[role] : undefined;
    if (mapped === undefined) {
      const allowed = f === 'messages' ? CHAT_ROLES.join(', ') : 'human, gpt, system';
      throw new DataError(ctx.file, ctx.line, `unknown role ${JSON.stringify(role)} (expected ${allowed})`, `${at}.${roleKey}`);
    }
    return { role: mapped, content };
  });
}

/** A record in `format` → an Example; throws a DataError naming the field that is missing or mistyped. */
export function normalizeRecord(rec: object, format: DataFormat, ctx: RecordContext): Example {
  switch (format) {
    case 'text':
      return { text: str(rec, ctx, 'text') };
    case 'prompt-completion':
      return { prompt: str(rec, ctx, 'prompt'), completion: str(rec, ctx, 'completion') };
    case 'messages':
      return { messages: chatMessages(get(rec, ctx, 'messages'), ctx, 'messages') };
    case 'sharegpt':
      if (!has(rec, ctx, 'conversations')) throw new DataError(ctx.file, ctx.line, 'missing field', key(ctx, 'conversations'));
      return { messages: chatMessages(get(rec, ctx, 'conversations'), ctx, 'conversations') };
    case 'alpaca': {
      const instruction = str(rec, ctx, 'instruction');
      const input = str(rec, ctx, 'input', true);
      const output = str(rec, ctx, 'output');
      const system = str(rec, ctx, 'system', true);
      const messages: ChatMessage[] = [];
      if (system !== '') messages.push({ role: 'system', content: system });
      messages.push({ role: 'user', content: input !== '' ? `${instruction}\n${input}` : instruction });
      messages.push({ role: 'assistant', content: output });
      return { messages };
    }
  }
}

/** Checks a column mapping: known field names to non-empty column names. */
export function checkColumnMapping(columns: unknown, file: string): ColumnMapping | undefined {
  if (columns === undefined) return undefined;
  if (columns === null || typeof columns !== 'object' || Array.isArray(columns)) {
    throw new DataError(file, 1, 'column mapping must be an object {field: column}');
  }
  const out: ColumnMapping = {};
  for (const [f, c] of Object.entries(columns)) {
    if (!(FIELDS as readonly string[]).includes(f))
      throw new DataError(file, 1, `column mapping names an unknown field "${f}" (fields: ${FIELDS.join(', ')})`);
    if (typeof c !== 'string' || c === '') throw new DataError(file, 1, `column mapping for "${f}" must be a non-empty column name`);
    out[f as Field] = c;
  }
  return out;
}
