#!/usr/bin/env node
// A small, deterministic byte-level BPE trainer (GPT-2 style) for Whetstone's default model. No JS library
// trains Hugging Face tokenizers, so this one writes tokenizer.json in the exact HF format itself:
//
//   model          BPE over the 256-symbol byte-level alphabet (GPT-2's bytes_to_unicode), then merges
//   pre_tokenizer  ByteLevel (add_prefix_space false, use_regex true: GPT-2's split regex)
//   decoder        ByteLevel;  post_processor ByteLevel (trim_offsets false);  normalizer null
//   added tokens   <|endoftext|> (0), <|im_start|> (1), <|im_end|> (2), special, also in the vocab
//
// Training: the text is split into documents on blank lines, each document pre-tokenized with the GPT-2
// regex, and words are counted. Merges are learned greedily: the most frequent adjacent pair wins; ties go
// to the pair whose (left, right) strings sort first (code-unit order), so the result depends only on the
// input text and the vocabulary size.
//
//   node scripts/default-model/train-tokenizer.mjs --data dist-corpus/corpus-train.txt --vocab 2048 --out DIR
//
// Writes DIR/tokenizer.json (the tokenizer_config.json is written by build-model.ts with the chat template).

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

/** GPT-2's split regex, as tokenizers' ByteLevel pre-tokenizer uses it (use_regex: true). */
export const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's bytes_to_unicode: every byte → a printable character. */
export function bytesToUnicode() {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const map = new Array(256);
  bs.forEach((b, i) => (map[b] = String.fromCodePoint(cs[i])));
  return map;
}

function parseArgs(argv) {
  const o = { data: 'dist-corpus/corpus-train.txt', vocab: 2048, out: 'dist-default-model/tokenizer', quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--data') o.data = v();
    else if (a === '--vocab') o.vocab = Number(v());
    else if (a === '--out') o.out = v();
    else if (a === '--quiet') o.quiet = true;
    else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isInteger(o.vocab) || o.vocab < 256 + SPECIAL_TOKENS.length) throw new Error('--vocab must be an integer ≥ 259');
  return o;
}

/** Word (byte-level string) → count, over every document of `text`. */
function countWords(text, b2u) {
  const enc = new TextEncoder();
  const counts = new Map();
  for (const doc of text.split(/\n\s*\n/)) {
    const d = doc.trim();
    if (!d) continue;
    for (const m of d.matchAll(GPT2_SPLIT)) {
      const w = m[0];
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  // Map each distinct word to its byte-level symbols.
  const words = [];
  for (const [w, c] of counts) {
    const syms = Array.from(enc.encode(w), (b) => b2u[b]);
    words.push({ syms, count: c });
  }
  // A stable order (independent of Map insertion details): by the word's symbols.
  words.sort((a, b) => (a.syms.join('') < b.syms.join('') ? -1 : a.syms.join('') > b.syms.join('') ? 1 : 0));
  return words;
}

/**
 * Learns `nMerges` merges. Pair counts are kept incrementally, with for each pair the set of words it
 * occurs in, so that a merge only revisits the words that hold it.
 */
export function learnMerges(words, nMerges, log = () => {}) {
  const SEP = '\u0000';
  const key = (a, b) => a + SEP + b;
  const counts = new Map(); // pair key → count
  const where = new Map(); // pair key → Set of word indices
  const addWord = (wi, sign) => {
    const { syms, count } = words[wi];
    for (let i = 0; i + 1 < syms.length; i++) {
      const k = key(syms[i], syms[i + 1]);
      counts.set(k, (counts.get(k) ?? 0) + sign * count);
      if (sign > 0) {
        let s = where.get(k);
        if (!s) where.set(k, (s = new Set()));
        s.add(wi);
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) addWord(wi, +1);
  const merges = [];
  for (let m = 0; m < nMerges; m++) {
    let best = null;
    let bestCount = 0;
    for (const [k, c] of counts) {
      if (c > bestCount || (c === bestCount && c > 0 && k < best)) {
        best = k;
        bestCount = c;
      }
    }
    if (best === null || bestCount < 2) break;
    const [a, b] = best.split(SEP);
    const merged = a + b;
    merges.push([a, b]);
    const ws = [...where.get(best)].sort((x, y) => x - y);
    for (const wi of ws) {
      const w = words[wi];
      let has = false;
      for (let i = 0; i + 1 < w.syms.length; i++) if (w.syms[i] === a && w.syms[i + 1] === b) has = true;
      if (!has) continue;
      addWord(wi, -1);
      const out = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) {
          out.push(merged);
          i++;
        } else out.push(w.syms[i]);
      }
      w.syms = out;
      addWord(wi, +1);
    }
    counts.delete(best);
    where.delete(best);
    // Drop pairs that no longer occur (keeps the scan short).
    if (m % 64 === 63) for (const [k, c] of counts) if (c <= 0) (counts.delete(k), where.delete(k));
    if (m % 256 === 0) log(`merge ${m}: ${JSON.stringify(a)} + ${JSON.stringify(b)} (${bestCount})`);
  }
  return merges;
}

/** tokenizer.json in the Hugging Face tokenizers format. */
export function buildTokenizerJson(merges) {
  const b2u = bytesToUnicode();
  const vocab = {};
  let id = 0;
  for (const t of SPECIAL_TOKENS) vocab[t] = id++;
  for (let b = 0; b < 256; b++) vocab[b2u[b]] = id++;
  for (const [a, b] of merges) {
    if (vocab[a + b] === undefined) vocab[a + b] = id++;
  }
  const added = SPECIAL_TOKENS.map((t, i) => ({
    id: i,
    content: t,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

export function trainTokenizer(text, vocabSize, log = () => {}) {
  const b2u = bytesToUnicode();
  const words = countWords(text, b2u);
  log(`${words.length} distinct words`);
  const nMerges = vocabSize - 256 - SPECIAL_TOKENS.length;
  const merges = learnMerges(words, nMerges, log);
  return buildTokenizerJson(merges);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const log = o.quiet ? () => {} : (s) => console.error(`[tokenizer] ${s}`);
  const text = readFileSync(o.data, 'utf8');
  const json = trainTokenizer(text, o.vocab, log);
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'tokenizer.json'), `${JSON.stringify(json, null, 2)}\n`);
  const n = Object.keys(json.model.vocab).length;
  log(`vocab ${n} (${json.model.merges.length} merges) → ${join(o.out, 'tokenizer.json')} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(2);
  });
}
