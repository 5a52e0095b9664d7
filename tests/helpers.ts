// Shared test helpers: fixture paths, reading reference tensors, and the relative error the HF fixtures
// are judged by (max |Δ| / max |ref|).
import path from 'node:path';
import fs from 'node:fs';
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
