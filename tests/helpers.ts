// Shared test helpers: fixture paths, reading reference tensors, and the relative error the HF fixtures
// are judged by (max |Δ| / max |ref|).
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { openSafetensors } from '../src/core/safetensors';
import { dirSource } from '../cli/node-files';

export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'hf');

export function fixture(name: string): string {
  return path.join(FIXTURES, name);
}

export function fixtureSource(name: string) {
  return dirSource(fixture(name));
}

export function fixtureJson<T = any>(name: string, file = 'reference.json'): T {
  return JSON.parse(fs.readFileSync(path.join(fixture(name), file), 'utf8')) as T;
}

export interface RefTensor {
  shape: number[];
  f32?: Float32Array;
  i32?: Int32Array;
}

export async function readReference(name: string, file = 'reference.safetensors'): Promise<Map<string, RefTensor>> {
  const buf = fs.readFileSync(path.join(fixture(name), file));
  const reader = await openSafetensors(new Uint8Array(buf), `${name}/${file}`);
  const out = new Map<string, RefTensor>();
  for (const e of reader.entries) {
    if (e.dtype === 'I32' || e.dtype === 'I64') out.set(e.name, { shape: e.shape, i32: await reader.readI32(e.name) });
    else out.set(e.name, { shape: e.shape, f32: await reader.readF32(e.name) });
  }
  return out;
}

/** max |a − b| / max |b|. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

/** max |a − b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let out = 0;
  for (let i = 0; i < a.length; i++) out = Math.max(out, Math.abs(a[i] - b[i]));
  return out;
}

const PAIRS: Record<string, [string, string]> = {
  gpt2: ['model-gpt2', 'tok-gpt2'],
  llama: ['model-llama', 'tok-llama'],
  qwen2: ['model-qwen2', 'tok-qwen2'],
};

/** A temporary folder holding a fixture model and its matching fixture tokenizer, as users' folders do. */
export function modelFolder(family: 'gpt2' | 'llama' | 'qwen2'): string {
  const [model, tok] = PAIRS[family];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `whetstone-${family}-`));
  for (const src of [model, tok]) {
    for (const f of fs.readdirSync(fixture(src))) {
      if (f.startsWith('reference')) continue;
      fs.copyFileSync(path.join(fixture(src), f), path.join(dir, f));
    }
  }
  return dir;
}

/** A small sentiment task as prompt → completion JSONL: the label follows from one word of the prompt. */
export function sentimentJsonl(n: number, seed = 1): string {
  const good = ['love', 'like', 'enjoy', 'adore'];
  const bad = ['hate', 'dislike', 'loathe', 'detest'];
  const things = ['this film', 'the food', 'my phone', 'the bank', 'that song', 'the weather'];
  let x = seed;
  const next = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) / 16777216;
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const pos = i % 2 === 0;
    const verb = (pos ? good : bad)[Math.floor(next() * 4)];
    const thing = things[Math.floor(next() * things.length)];
    lines.push(JSON.stringify({ prompt: `I ${verb} ${thing}. Sentiment:`, completion: pos ? ' good' : ' bad' }));
  }
  return `${lines.join('\n')}\n`;
}
