#!/usr/bin/env node
// `npm run pretrain:default`: Whetstone's embedded default model, end to end, from scripts/default-model/settings.json:
//
//   1. corpus      node scripts/pretrain-corpus.mjs          → dist-corpus/corpus-{train,heldout}.txt
//   2. tokenizer   train-tokenizer.mjs (byte-level BPE)      → dist-default-model/tokenizer/tokenizer.json
//   3. init        build-model.ts init (HF Llama, random)    → dist-default-model/init/
//   4. train       whetstone train --mode text --method full → dist-default-model/run/state.whetstone, metrics.jsonl
//   5. export      build-model.ts export (held-out loss, F16) → public/models/default/
//
// Deterministic from the settings' seeds (CPU backend): the same settings give the same files.
//
//   node scripts/default-model/pretrain.mjs [--settings FILE] [--steps N] [--resume] [--from STEP]
//                                           [--skip-corpus] [--if-better] [--no-export]
//
//   --steps N    total optimizer steps (default: settings.train.steps); the cosine schedule spans them
//   --resume     continue dist-default-model/run/state.whetstone up to --steps (exact: N then M steps
//                equal one run of M steps when --steps is the same in both)
//   --only STEP  run one step: corpus, tokenizer, init, train, export
//   --if-better  export only when the held-out loss beats the model already in public/models/default

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function parseArgs(argv) {
  const o = { settings: join(root, 'scripts/default-model/settings.json'), steps: null, resume: false, only: null, skipCorpus: false, ifBetter: false, export: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--settings') o.settings = resolve(argv[++i]);
    else if (a === '--steps') o.steps = Number(argv[++i]);
    else if (a === '--resume') o.resume = true;
    else if (a === '--only') o.only = argv[++i];
    else if (a === '--skip-corpus') o.skipCorpus = true;
    else if (a === '--if-better') o.ifBetter = true;
    else if (a === '--no-export') o.export = false;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

function run(cmd, args, what) {
  const t0 = Date.now();
  console.error(`\n== ${what}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status ?? r.signal})`);
  console.error(`== ${what}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

const tsx = join(root, 'node_modules/.bin/tsx');
const whetstone = join(root, 'bin/whetstone.mjs');

/** Mean training throughput (tokens/s) over the step events of metrics.jsonl, and the last losses. */
export function throughputOf(metricsFile) {
  const lines = readFileSync(metricsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const steps = lines.filter((e) => e.type === 'step');
  const evals = lines.filter((e) => e.type === 'eval');
  const tps = steps.map((e) => e.tokensPerSecond ?? e.tokens_per_second).filter((x) => typeof x === 'number');
  const median = tps.length ? tps.slice().sort((a, b) => a - b)[Math.floor(tps.length / 2)] : null;
  const last = steps.at(-1) ?? {};
  return {
    tokens_per_second_median: median,
    steps_logged: steps.length,
    last_train_loss: last.loss ?? null,
    val_losses: evals.map((e) => ({ step: e.step, loss: e.loss ?? e.valLoss })),
  };
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const s = JSON.parse(readFileSync(o.settings, 'utf8'));
  const t = s.train;
  const work = join(root, s.work);
  const c = s.corpus;
  const corpus = join(root, c.out);
  const want = (step) => o.only === null || o.only === step;

  if (want('corpus') && !o.skipCorpus) {
    run('node', [join(root, 'scripts/pretrain-corpus.mjs'), '--out', corpus, '--seed', String(c.seed), '--wordnet-mb', String(c.wordnetMb), '--kjv-mb', String(c.kjvMb), '--jargon-mb', String(c.jargonMb), '--heldout', String(c.heldout)], 'corpus');
  }
  if (want('tokenizer')) {
    run('node', [join(root, 'scripts/default-model/train-tokenizer.mjs'), '--data', join(corpus, 'corpus-train.txt'), '--vocab', String(s.tokenizer.vocabSize), '--out', join(work, 'tokenizer')], 'tokenizer');
  }
  if (want('init') && !o.resume) {
    run(tsx, [join(root, 'scripts/default-model/build-model.ts'), 'init', '--settings', o.settings, '--tokenizer', join(work, 'tokenizer/tokenizer.json'), '--out', join(work, 'init')], 'init');
  }
  const state = join(work, 'run/state.whetstone');
  if (want('train')) {
    const steps = String(o.steps ?? t.steps);
    const common = ['train', '--backend', t.backend, '--model', join(work, 'init'), '--data', join(corpus, 'corpus-train.txt'), '--out', join(work, 'run'), '--steps', steps, '--eval-every', String(t.evalEvery)];
    const fresh = [
      '--mode', 'text', '--method', 'full',
      '--max-length', String(t.maxLength), '--batch', String(t.batch),
      '--lr', String(t.lr), '--schedule', t.schedule, '--warmup', String(t.warmup),
      '--weight-decay', String(t.weightDecay), '--clip', String(t.clip),
      '--val-ratio', String(t.valRatio), '--checkpoint-every', String(t.checkpointEvery), '--seed', String(s.seed),
    ];
    if (o.resume && !existsSync(state)) throw new Error(`--resume: ${state} is not there`);
    run('node', [whetstone, ...common, ...(o.resume ? ['--resume', state] : fresh)], 'train');
  }
  if (want('export') && o.export) {
    const metrics = join(work, 'run/metrics.jsonl');
    const extra = join(work, 'throughput.json');
    writeFileSync(extra, `${JSON.stringify({ throughput: existsSync(metrics) ? throughputOf(metrics) : null, backend: t.backend }, null, 2)}\n`);
    run(tsx, [join(root, 'scripts/default-model/build-model.ts'), 'export', '--settings', o.settings, '--init', join(work, 'init'), '--state', state, '--heldout', join(corpus, 'corpus-heldout.txt'), '--extra', extra, ...(o.ifBetter ? ['--if-better'] : [])], 'export');
  }
}

try {
  main();
} catch (e) {
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
}
