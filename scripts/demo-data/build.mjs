#!/usr/bin/env node
// Writes Whetstone's demo datasets into public/data/ (or --out DIR). Deterministic: every run writes the
// same bytes. The text is original, written for the project, and released under CC0 (public/data/LICENSE.md).
//
//   node scripts/demo-data/build.mjs            # write public/data/*
//   node scripts/demo-data/build.mjs --check    # exit 1 if public/data/* differs from what would be written

import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { supportDataset } from './support.mjs';
import { intentDataset } from './intent.mjs';
import { domainDataset } from './domain.mjs';
import { alpacaDataset } from './alpaca.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const jsonl = (rows) => rows.map((x) => JSON.stringify(x)).join('\n') + '\n';
const text = (paras) => paras.join('\n\n') + '\n';

/** file name → contents of every demo file. */
export function demoFiles() {
  const support = supportDataset();
  const intent = intentDataset();
  const domain = domainDataset();
  const alpaca = alpacaDataset();
  return {
    'support.jsonl': jsonl(support.train),
    'support-heldout.jsonl': jsonl(support.heldout),
    'intent.jsonl': jsonl(intent.train),
    'intent-test.jsonl': jsonl(intent.test),
    'domain.txt': text(domain.train),
    'domain-heldout.txt': text(domain.heldout),
    'alpaca.json': JSON.stringify(alpaca, null, 2) + '\n',
  };
}

function main() {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const oi = args.indexOf('--out');
  const out = oi >= 0 ? resolve(args[oi + 1]) : join(root, 'public', 'data');
  const files = demoFiles();
  let stale = 0;
  if (!check) mkdirSync(out, { recursive: true });
  for (const [name, body] of Object.entries(files)) {
    const path = join(out, name);
    if (check) {
      const same = existsSync(path) && readFileSync(path, 'utf8') === body;
      if (!same) {
        console.error(`stale: ${path}`);
        stale++;
      }
    } else {
      writeFileSync(path, body);
      console.log(`${path}  ${Buffer.byteLength(body)} bytes`);
    }
  }
  if (check) {
    if (stale) process.exit(1);
    console.log(`public data up to date (${Object.keys(files).length} files)`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
