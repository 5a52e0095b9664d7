// The demo datasets in public/data: each imports through Whetstone's own importer (read from disk as a
// Blob), has the detected format and the counts the demo relies on, and no held-out or test example also
// appears in training. The files are exactly what scripts/demo-data/build.mjs writes.
import { describe, expect, it } from 'vitest';
import { openAsBlob, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { importDataset, type ImportedDataset } from '../../src/core/data';

const root = resolve(__dirname, '..', '..');
const dataDir = join(root, 'public', 'data');

async function load(name: string): Promise<ImportedDataset> {
  return importDataset(await openAsBlob(join(dataDir, name)), name);
}

/** Lower case, letters and digits only: catches duplicates that differ in case or punctuation. */
const norm = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();

function countBy<T>(xs: T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
}

const SHOWCASE = "I can't log into my net banking account. What to do?";
const LABELS = ['address_change', 'card_lost', 'fee_dispute', 'login_issue', 'statement_request', 'transfer_failed'];

describe('demo datasets (public/data)', () => {
  it('are exactly what the generator writes (deterministic, no hand edits)', () => {
    const out = execFileSync(process.execPath, [join(root, 'scripts', 'demo-data', 'build.mjs'), '--check'], { encoding: 'utf8' });
    expect(out).toMatch(/up to date/);
  });

  it('support: chat in the house voice, ≥ 150 train, ≥ 20 held out incl. the showcase prompt, no overlap', async () => {
    const train = await load('support.jsonl');
    const held = await load('support-heldout.jsonl');
    for (const d of [train, held]) {
      expect(d.format).toBe('messages');
      for (const ex of d.examples) {
        const m = ex.messages!;
        expect(m.map((x) => x.role)).toEqual(['system', 'user', 'assistant']);
        expect(m[0].content).toMatch(/Whetstone Bank/);
        expect(m[2].content.startsWith('Thank you for reaching out to Whetstone Bank.')).toBe(true);
        expect(m[2].content).toMatch(/\n1\. .+\n2\. /); // numbered steps
        expect(m[2].content.endsWith('\nWhetstone Bank Customer Care')).toBe(true);
      }
    }
    expect(train.examples.length).toBeGreaterThanOrEqual(150);
    expect(held.examples.length).toBeGreaterThanOrEqual(20);
    const user = (d: ImportedDataset) => d.examples.map((e) => e.messages![1].content);
    expect(user(held)).toContain(SHOWCASE);
    expect(user(train)).not.toContain(SHOWCASE);
    const trainUsers = new Set(user(train).map(norm));
    expect(trainUsers.size).toBe(train.examples.length); // no duplicates within train
    expect(user(held).filter((u) => trainUsers.has(norm(u)))).toEqual([]);
  });

  it('intent: prompt → completion, 6 balanced labels, ≥ 240 train and ≥ 60 test, disjoint', async () => {
    const train = await load('intent.jsonl');
    const test = await load('intent-test.jsonl');
    for (const d of [train, test]) {
      expect(d.format).toBe('prompt-completion');
      for (const ex of d.examples) {
        expect(ex.prompt).toMatch(/^Ticket: \S.*\nIntent:$/s);
        expect(ex.completion).toMatch(/^ [a-z_]+$/);
      }
      const counts = countBy(d.examples, (e) => e.completion!.trim());
      expect(Object.keys(counts).sort()).toEqual(LABELS);
      expect(new Set(Object.values(counts)).size).toBe(1); // balanced
    }
    expect(train.examples.length).toBeGreaterThanOrEqual(240);
    expect(test.examples.length).toBeGreaterThanOrEqual(60);
    const trainPrompts = new Set(train.examples.map((e) => norm(e.prompt!)));
    expect(trainPrompts.size).toBe(train.examples.length);
    expect(test.examples.filter((e) => trainPrompts.has(norm(e.prompt!)))).toEqual([]);
  });

  it('domain: raw text, 40–80 KB train and ~8 KB held out in paragraphs, no shared paragraph', async () => {
    const train = await load('domain.txt');
    const held = await load('domain-heldout.txt');
    expect(train.format).toBe('text');
    expect(held.format).toBe('text');
    const bytes = (name: string) => readFileSync(join(dataDir, name)).length;
    expect(bytes('domain.txt')).toBeGreaterThanOrEqual(40_000);
    expect(bytes('domain.txt')).toBeLessThanOrEqual(80_000);
    expect(bytes('domain-heldout.txt')).toBeGreaterThanOrEqual(6_000);
    expect(bytes('domain-heldout.txt')).toBeLessThanOrEqual(12_000);
    // The importer splits at blank lines: one document per clause, not one giant document.
    expect(train.examples.length).toBeGreaterThanOrEqual(50);
    expect(held.examples.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...train.examples.map((e) => e.text!.length))).toBeLessThan(4000);
    const trainDocs = new Set(train.examples.map((e) => norm(e.text!)));
    expect(held.examples.filter((e) => trainDocs.has(norm(e.text!)))).toEqual([]);
    expect(train.examples.some((e) => /shall/.test(e.text!))).toBe(true);
  });

  it('alpaca: a JSON array of ≥ 100 instructions, read as chat', async () => {
    const d = await load('alpaca.json');
    expect(d.format).toBe('alpaca');
    expect(d.examples.length).toBeGreaterThanOrEqual(100);
    for (const ex of d.examples) {
      const roles = ex.messages!.map((m) => m.role);
      expect(roles).toEqual(['user', 'assistant']);
      expect(ex.messages![1].content.length).toBeGreaterThan(0);
    }
    const raw = JSON.parse(readFileSync(join(dataDir, 'alpaca.json'), 'utf8')) as Array<Record<string, string>>;
    expect(raw.every((r) => Object.keys(r).sort().join() === 'input,instruction,output')).toBe(true);
    expect(new Set(raw.map((r) => norm(r.instruction + ' ' + r.input))).size).toBe(raw.length);
  });
});
