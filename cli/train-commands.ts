// train, eval, export, data check: the training engine as commands. The same src/core job code runs in
// the app's training worker.
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { parse, UsageError, type Parsed } from './args';
import { dirSource, fileBlob } from './node-files';
import { applyBindingLimit, log, openModel, releaseNotes, startBackend } from './runtime';
import { progressPrinter } from './progress';
import type { Command } from './main';
import { loadModel, readModelConfig, CausalLM } from '../src/core/models/model';
import { parseModelConfig } from '../src/core/hf-config';
import { loadTokenizer, type WhetTokenizer } from '../src/core/tokenizer';
import { resolveTrainConfig, type TrainConfig, type TrainConfigInput } from '../src/core/train/config';
import {
  assertTokenizerFits,
  baseIdentity,
  checkModeFits,
  fitMaxLength,
  foldsOf,
  prepareData,
  setupMethod,
  splitData,
  tokenizeDataset,
  tokenizerHash,
} from '../src/core/train/job';
import { Trainer, type TrainEvent, type TrainSummary } from '../src/core/train/trainer';
import { evaluateSequences } from '../src/core/train/evaluate';
import { applyState, decodeState, encodeState, CheckpointError, type FullState } from '../src/core/checkpoint';
import { importDataset, type ColumnMapping } from '../src/core/data';
import { defaultModeFor, type Sequence } from '../src/core/data/tokenize';
import { adapterFromTensors, type LoraConfig } from '../src/core/lora';
import { exportPeftAdapter } from '../src/core/export/peft';
import { exportFullModel, exportMergedModel } from '../src/core/export/merged';
import { exportRecipe } from '../src/core/export/recipe';
import { FROZEN_BITS, FROZEN_DTYPES, type FrozenDtype } from '../src/core/memory';
import { splitToNames } from '../src/core/models/vocab-chunks';
import { DEMO_DATASETS, runDemo, type DemoDataset } from '../src/core/demo';

const TRAIN_FLAGS = {
  model: { type: 'string' },
  data: { type: 'string' },
  mode: { type: 'string' },
  format: { type: 'string' },
  columns: { type: 'string' },
  method: { type: 'string' },
  r: { type: 'string' },
  alpha: { type: 'string' },
  dropout: { type: 'string' },
  targets: { type: 'string' },
  rslora: { type: 'boolean' },
  lr: { type: 'string' },
  schedule: { type: 'string' },
  warmup: { type: 'string' },
  'weight-decay': { type: 'string' },
  clip: { type: 'string' },
  batch: { type: 'string' },
  accum: { type: 'string' },
  'max-length': { type: 'string' },
  epochs: { type: 'string' },
  steps: { type: 'string' },
  'val-ratio': { type: 'string' },
  'eval-every': { type: 'string' },
  patience: { type: 'string' },
  threshold: { type: 'string' },
  seed: { type: 'string' },
  kfold: { type: 'string' },
  resume: { type: 'string' },
  out: { type: 'string' },
  'train-on-prompt': { type: 'boolean' },
  'model-dropout': { type: 'string' },
  'checkpoint-every': { type: 'string' },
  'decay-norm-and-bias': { type: 'boolean' },
  'frozen-dtype': { type: 'string' },
  'gradient-checkpointing': { type: 'boolean' },
  'max-binding-mib': { type: 'string' },
} as const;

function columnsOf(args: Parsed): ColumnMapping | undefined {
  const raw = args.str('columns');
  if (raw === undefined) return undefined;
  // "prompt=question,completion=answer" or a JSON object.
  if (raw.trim().startsWith('{')) {
    try {
      return JSON.parse(raw) as ColumnMapping;
    } catch (e) {
      throw new UsageError(`--columns: ${(e as Error).message}`);
    }
  }
  const out: Record<string, string> = {};
  for (const pair of raw.split(',')) {
    const [k, v] = pair.split('=').map((s) => s.trim());
    if (!k || !v) throw new UsageError(`--columns must look like prompt=question,completion=answer, got ${JSON.stringify(raw)}`);
    out[k] = v;
  }
  return out as ColumnMapping;
}

function pickKeys<T extends object, K extends keyof T>(o: T, keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}

function configFrom(args: Parsed, base: TrainConfigInput = {}): TrainConfig {
  const pick = <T>(v: T | undefined, fallback: T | undefined): T | undefined => (v === undefined ? fallback : v);
  const targets = args.str('targets');
  const partial: TrainConfigInput = {
    ...base,
    lora: {
      ...(base.lora ?? {}),
      ...(args.int('r') !== undefined ? { r: args.int('r') } : {}),
      ...(args.num('alpha') !== undefined ? { alpha: args.num('alpha') } : {}),
      ...(args.num('dropout') !== undefined ? { dropout: args.num('dropout') } : {}),
      ...(targets !== undefined
        ? {
            targets:
              targets === 'all-linear'
                ? 'all-linear'
                : (targets
                    .split(',')
                    .map((t) => t.trim())
                    .filter(Boolean) as string[]),
          }
        : {}),
      ...(args.bool('rslora') ? { rslora: true } : {}),
    },
  };
  const set = <K extends Exclude<keyof TrainConfig, 'lora'>>(key: K, v: TrainConfig[K] | undefined) => {
    if (v !== undefined) (partial as Record<string, unknown>)[key] = v;
  };
  set('mode', args.str('mode') as TrainConfig['mode'] | undefined);
  set('format', args.str('format') as TrainConfig['format'] | undefined);
  set('method', args.str('method') as TrainConfig['method'] | undefined);
  set('lr', args.num('lr'));
  set('schedule', args.str('schedule') as TrainConfig['schedule'] | undefined);
  set('warmup', args.num('warmup'));
  set('weightDecay', args.num('weight-decay'));
  set('clip', args.num('clip'));
  set('batchSize', args.int('batch'));
  set('gradAccum', args.int('accum'));
  set('maxLength', args.int('max-length'));
  set('epochs', args.num('epochs'));
  set('steps', pick(args.int('steps'), undefined));
  set('valRatio', args.num('val-ratio'));
  set('evalEvery', args.int('eval-every'));
  set('patience', args.int('patience'));
  set('threshold', args.num('threshold'));
  set('seed', args.int('seed'));
  set('modelDropout', args.num('model-dropout'));
  set('checkpointEvery', args.int('checkpoint-every'));
  const frozenDtype = args.str('frozen-dtype') as FrozenDtype | undefined;
  if (frozenDtype !== undefined && !FROZEN_DTYPES.includes(frozenDtype))
    throw new UsageError(`--frozen-dtype must be f32, f16 or int8, got ${frozenDtype}`);
  if (frozenDtype !== undefined && frozenDtype !== 'f32' && (partial.method ?? 'lora') !== 'lora')
    throw new UsageError(
      `--frozen-dtype ${frozenDtype} stores the frozen base weights in ${FROZEN_BITS[frozenDtype]} bits: it needs --method lora (full fine-tuning trains every weight in f32)`,
    );
  set('frozenDtype', frozenDtype as TrainConfig['frozenDtype'] | undefined);
  if (args.bool('train-on-prompt')) partial.trainOnPrompt = true;
  if (args.bool('decay-norm-and-bias')) partial.decayNormAndBias = true;
  if (args.bool('gradient-checkpointing')) partial.gradientCheckpointing = true;
  if (args.str('steps') !== undefined && args.str('epochs') !== undefined) throw new UsageError('give --epochs or --steps, not both');
  return resolveTrainConfig(partial);
}

/**
 * Writes a set of files into `dir` (other files there are left alone): each goes next to its place first and is
 * renamed in only once all are written, so a failure (a full disk, a folder in the way) leaves no file half
 * written and none of the set half replaced.
 */
function writeFiles(dir: string, files: Map<string, Uint8Array>): void {
  const placed = [...files.keys()].map((rel) => path.join(dir, rel));
  const inTheWay = placed.find((file) => fs.existsSync(file) && !fs.statSync(file).isFile());
  if (inTheWay) throw new UsageError(`${inTheWay} exists and is not a file: nothing was written`);
  const temps: string[] = [];
  try {
    for (const [rel, bytes] of files) {
      const tmp = `${path.join(dir, rel)}.tmp-${process.pid}`;
      fs.mkdirSync(path.dirname(tmp), { recursive: true });
      temps.push(tmp);
      fs.writeFileSync(tmp, bytes);
    }
  } catch (e) {
    for (const tmp of temps) fs.rmSync(tmp, { force: true });
    throw e;
  }
  temps.forEach((tmp, i) => fs.renameSync(tmp, placed[i]));
}

/** Writes next to the target then renames, so an interrupted write never leaves half a state file. */
function writeAtomic(file: string, bytes: Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}

interface RunContext {
  modelDir: string;
  dataFile: string;
  tok: WhetTokenizer;
  config: TrainConfig;
  out: string;
  datasetHash: string;
  onEvent: (e: TrainEvent) => void;
}

/** What a state builds on (train --resume, export): the base model it was trained on, by its config's hash. */
function checkSameBase(state: FullState, configHash: string, modelDir: string, what: string): void {
  if (state.meta.base.configHash !== configHash)
    throw new CheckpointError(
      `the state was trained on a different base model (${state.meta.base.name}, ${state.meta.base.modelType}); --model ${modelDir} does not match (${what} needs the same base)`,
    );
}

/** ... and the data file, by its bytes' sha256. */
function checkSameData(state: FullState, datasetHash: string, dataFile: string, what: string): void {
  if (state.meta.datasetHash !== datasetHash)
    throw new CheckpointError(`${dataFile} is not the data the state was trained on (sha256 differs); ${what} needs the same data`);
}

/** One training run on (train, val); writes state, metrics and the adapter or model into ctx.out. */
async function trainOnce(ctx: RunContext, train: Sequence[], val: Sequence[], resume: FullState | null): Promise<TrainSummary> {
  const model = await loadModel(dirSource(ctx.modelDir));
  assertTokenizerFits(model, ctx.tok, `${ctx.modelDir}/tokenizer.json`);
  const base = await baseIdentity(model, path.resolve(ctx.modelDir));
  if (resume) checkSameBase(resume, base.configHash, ctx.modelDir, 'resuming');
  const { trainables, noDecay } = setupMethod(model, ctx.config);
  const padId = ctx.tok.padTokenId ?? ctx.tok.eosTokenId ?? 0;
  fs.mkdirSync(ctx.out, { recursive: true });
  const metricsFile = path.join(ctx.out, 'metrics.jsonl');
  if (!resume) {
    // A new run into a folder that held another: that run's state goes now, so that the folder never pairs it
    // with these metrics if this run fails halfway (its adapter/ or model/ files are replaced at the end).
    fs.rmSync(path.join(ctx.out, 'state.whetstone'), { force: true });
    fs.writeFileSync(metricsFile, '');
  } else if (fs.existsSync(metricsFile)) {
    // Steps after the state's were logged by the run that was cut short; they are done again now.
    const at = resume.meta.trainer.step;
    const kept = fs
      .readFileSync(metricsFile, 'utf8')
      .split('\n')
      .filter((line) => {
        if (!line.trim()) return false;
        try {
          return !(JSON.parse(line).step > at);
        } catch {
          return false; // a line cut by the interruption
        }
      });
    writeAtomic(metricsFile, new TextEncoder().encode(kept.map((l) => `${l}\n`).join('')));
  }
  const tokHash = await tokenizerHash(ctx.tok);
  const trainer = new Trainer(model, {
    config: ctx.config,
    train,
    val,
    padId,
    trainables,
    noDecay,
    onEvent: (e) => {
      fs.appendFileSync(metricsFile, `${JSON.stringify({ ...e, time: new Date().toISOString() })}\n`);
      ctx.onEvent(e);
    },
    onCheckpoint: async (t) => {
      const bytes = await encodeState(t, {
        base,
        datasetHash: ctx.datasetHash,
        tokenizerHash: tokHash,
        data: { file: path.resolve(ctx.dataFile), trainCount: train.length, valCount: val.length },
      });
      writeAtomic(path.join(ctx.out, 'state.whetstone'), bytes);
    },
  });
  if (resume) applyState(trainer, resume);
  const summary = await trainer.run();
  if (ctx.config.method === 'lora') {
    writeFiles(path.join(ctx.out, 'adapter'), await exportPeftAdapter(model, { baseModelName: path.resolve(ctx.modelDir) }));
  } else {
    writeFiles(path.join(ctx.out, 'model'), await exportFullModel(model, ctx.tok));
  }
  trainer.dispose();
  model.dispose();
  return summary;
}

async function trainCommand(argv: string[]) {
  const args = parse(argv, TRAIN_FLAGS);
  const modelDir = args.need('model');
  const dataFile = args.need('data');
  const out = args.need('out');
  const resumeFile = args.str('resume');
  let resume: FullState | null = null;
  let config: TrainConfig;
  if (resumeFile) {
    resume = await decodeState(await fileBlob(resumeFile), resumeFile);
    // A resumed run keeps its saved settings; only its length, evaluation cadence and checkpointing may change.
    // The other flags may be given again (the same command line plus --resume), with the state's values.
    const saved = resume.meta.config;
    const length = args.str('steps') !== undefined ? { steps: args.int('steps') } : args.str('epochs') !== undefined ? { steps: null } : {};
    config = configFrom(args, { ...saved, ...length }); // every flag checked, over the state's settings
    const kept = resolveTrainConfig({
      ...saved,
      ...length,
      ...pickKeys(config, ['epochs', 'evalEvery', 'patience', 'checkpointEvery', 'gradientCheckpointing']),
    });
    const changed = (Object.keys(kept) as (keyof TrainConfig)[]).find((k) => JSON.stringify(kept[k]) !== JSON.stringify(config[k]));
    if (changed)
      throw new UsageError(
        `${resumeFile}: a resumed run keeps the state's settings, where ${changed} is ${JSON.stringify(kept[changed])}, not ${JSON.stringify(config[changed])} (only --steps, --epochs, --eval-every, --patience, --checkpoint-every and --gradient-checkpointing may change)`,
      );
    if (config.steps !== null && config.steps < resume.meta.trainer.step) {
      throw new UsageError(`--steps ${config.steps} is below the ${resume.meta.trainer.step} steps the state has already done`);
    }
  } else {
    config = configFrom(args);
  }
  if (!args.str('mode') && !resume) throw new UsageError('--mode text|completion|chat is required');
  await startBackend(args);
  applyBindingLimit(args);
  const tokSource = dirSource(modelDir);
  if (!tokSource.has('tokenizer.json')) throw new UsageError(`${modelDir}: no tokenizer.json (the model folder must hold its tokenizer)`);
  const tok = await loadTokenizer(tokSource);
  const modelConfig = await readModelConfig(tokSource);
  config = {
    ...config,
    maxLength: fitMaxLength(modelConfig, config.maxLength, !resume && args.int('max-length') !== undefined, '--max-length'),
  };
  const data = await prepareData(await fileBlob(dataFile), dataFile, tok, config, { columns: columnsOf(args) });
  if (resume) checkSameData(resume, data.datasetHash, dataFile, 'resuming');
  log(
    `data: ${data.dataset.format}, ${data.dataset.examples.length} examples → ${data.sequences.length} sequences, ${data.stats.tokens} tokens (${data.stats.trainedTokens} trained), ${data.stats.truncated} truncated`,
  );
  if (data.chatTemplateFallback) log('note: the tokenizer has no chat template; using the ChatML fallback');
  const ctx: RunContext = { modelDir, dataFile, tok, config, out, datasetHash: data.datasetHash, onEvent: progressPrinter() };

  const k = args.int('kfold');
  if (k !== undefined) {
    if (resume) throw new UsageError('--kfold and --resume exclude each other');
    const folds = foldsOf(data.sequences, k, config.seed);
    const results = [];
    for (let i = 0; i < folds.length; i++) {
      log(`fold ${i + 1}/${k}: ${folds[i].train.length} train, ${folds[i].val.length} validation`);
      const s = await trainOnce(
        { ...ctx, out: path.join(out, `fold-${i + 1}`), onEvent: progressPrinter(`[fold ${i + 1}] `) },
        folds[i].train,
        folds[i].val,
        null,
      );
      results.push({ fold: i + 1, ...s });
    }
    const best = results.map((r) => r.best_val_loss ?? NaN);
    const mean = best.reduce((a, b) => a + b, 0) / best.length;
    const sd = Math.sqrt(best.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, best.length - 1));
    const summary = {
      steps: results.reduce((a, r) => a + r.steps, 0),
      train_loss: results.reduce((a, r) => a + (r.train_loss ?? 0), 0) / results.length,
      val_loss: results.reduce((a, r) => a + (r.val_loss ?? 0), 0) / results.length,
      best_val_loss: mean,
      stopped_early: results.some((r) => r.stopped_early),
      kfold: { k, folds: results.map((r) => ({ fold: r.fold, best_val_loss: r.best_val_loss, steps: r.steps })), mean, sd },
    };
    fs.writeFileSync(path.join(out, 'kfold.json'), `${JSON.stringify(summary, null, 2)}\n`);
    log(`k-fold: best val_loss ${mean.toFixed(4)} ± ${sd.toFixed(4)} over ${k} folds`);
    return summary;
  }

  const { train, val } = splitData(data.sequences, config);
  log(`split: ${train.length} train, ${val.length} validation`);
  const s = await trainOnce(ctx, train, val, resume);
  return { steps: s.steps, train_loss: s.train_loss, val_loss: s.val_loss, best_val_loss: s.best_val_loss, stopped_early: s.stopped_early };
}

async function evalCommand(argv: string[]) {
  const args = parse(argv, {
    model: { type: 'string' },
    adapter: { type: 'string' },
    data: { type: 'string' },
    mode: { type: 'string' },
    format: { type: 'string' },
    columns: { type: 'string' },
    'max-length': { type: 'string' },
    batch: { type: 'string' },
    'train-on-prompt': { type: 'boolean' },
  });
  const dataFile = args.need('data');
  const config = configFrom(args, {
    mode: (args.str('mode') ?? 'completion') as TrainConfig['mode'],
    maxLength: args.int('max-length') ?? 1024,
  });
  if (!args.str('mode')) throw new UsageError('--mode text|completion|chat is required');
  await startBackend(args);
  const model = await openModel(args);
  const tok = await loadTokenizer(dirSource(args.need('model')));
  assertTokenizerFits(model, tok, `${args.need('model')}/tokenizer.json`);
  const maxLength = fitMaxLength(model.config, config.maxLength, args.int('max-length') !== undefined, '--max-length');
  const data = await prepareData(await fileBlob(dataFile), dataFile, tok, { ...config, maxLength }, { columns: columnsOf(args) });
  const r = await evaluateSequences(model, data.sequences, config.batchSize, tok.padTokenId ?? tok.eosTokenId ?? 0);
  return { loss: r.loss, perplexity: r.perplexity, token_accuracy: r.accuracy, examples: data.dataset.examples.length };
}

/** The state's LoRA weights as the model's adapter (on a weightless skeleton: enough to write the PEFT files). */
async function adapterFromState(model: CausalLM, state: FullState, file: string): Promise<void> {
  const lora = state.meta.lora as LoraConfig | null;
  if (state.meta.method !== 'lora' || !lora) throw new UsageError('this state is from full fine-tuning: export it with --format merged');
  await adapterFromTensors(
    model,
    lora,
    { names: [...state.weights.keys()], shape: (n) => state.weights.get(n)!.shape, read: async (n) => state.weights.get(n)!.data },
    file,
  );
}

async function exportCommand(argv: string[]) {
  const args = parse(argv, {
    state: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
    model: { type: 'string' },
    data: { type: 'string' },
  });
  const stateFile = args.need('state');
  const format = args.need('format');
  const out = args.need('out');
  if (!['peft', 'merged', 'recipe'].includes(format)) throw new UsageError(`--format must be peft, merged or recipe, got ${format}`);
  const state = await decodeState(await fileBlob(stateFile), stateFile);
  const baseDir = args.str('model') ?? state.meta.base.name;
  if (format === 'peft') {
    const config = parseModelConfig(state.meta.base.config, `${stateFile} (base config)`);
    const skeleton = new CausalLM(config, new Map());
    await adapterFromState(skeleton, state, stateFile);
    const files = await exportPeftAdapter(skeleton, { baseModelName: state.meta.base.name });
    writeFiles(out, files);
    return { format, out, files: [...files.keys()].sort() };
  }
  await startBackend(args);
  if (!fs.existsSync(path.join(baseDir, 'config.json')))
    throw new UsageError(`the base model folder ${baseDir} is not there; give it with --model DIR`);
  const model = await loadModel(dirSource(baseDir));
  checkSameBase(state, (await baseIdentity(model, baseDir)).configHash, baseDir, 'exporting');
  const tok = await loadTokenizer(dirSource(baseDir));
  if (format === 'merged') {
    if (state.meta.method === 'lora') await adapterFromState(model, state, stateFile);
    else {
      // Whole tensors in the state; a model keeping one in vocabulary row chunks takes it per chunk.
      const parts = splitToNames(state.weights, new Map([...model.params].map(([n, v]) => [n, v.shape])));
      for (const [name, w] of parts) model.params.get(name)?.assign(tf.tensor(w.data, w.shape));
    }
    const files = state.meta.method === 'lora' ? await exportMergedModel(model, tok) : await exportFullModel(model, tok);
    writeFiles(out, files);
    return { format, out, files: [...files.keys()].sort() };
  }
  const dataFile = args.str('data') ?? (state.meta.data.file as string | undefined);
  if (!dataFile || !fs.existsSync(dataFile))
    throw new UsageError(`the training data ${dataFile ?? '(unknown)'} is not there; give it with --data FILE`);
  const data = await prepareData(await fileBlob(dataFile), dataFile, tok, state.meta.config);
  checkSameData(state, data.datasetHash, dataFile, 'the recipe');
  // tokenized.jsonl holds exactly the training split Whetstone trained on; the validation split goes beside it.
  const { train, val } = splitData(data.sequences, state.meta.config);
  const files = exportRecipe({
    config: state.meta.config,
    baseModel: state.meta.base.name,
    sequences: train,
    validation: val,
    examples: data.dataset.examples,
    format: data.dataset.format,
    modelType: state.meta.base.modelType,
    chatTemplate: data.chatTemplateFallback ? tok.effectiveChatTemplate : null,
  });
  writeFiles(out, files);
  return { format, out, files: [...files.keys()].sort() };
}

async function dataCommand(argv: string[]) {
  const [sub, ...rest] = argv;
  if (sub !== 'check') throw new UsageError('usage: whetstone data check FILE [--mode text|completion|chat] [--format …] [--model DIR]');
  const args = parse(
    rest,
    {
      mode: { type: 'string' },
      format: { type: 'string' },
      columns: { type: 'string' },
      model: { type: 'string' },
      tokenizer: { type: 'string' },
      'max-length': { type: 'string' },
    },
    1,
  );
  const file = args.positionals[0];
  if (!file) throw new UsageError('usage: whetstone data check FILE');
  // The settings train would use: its mode and length checks, its defaults (a mode from the format when none is given).
  const given = resolveTrainConfig({
    ...(args.str('mode') !== undefined ? { mode: args.str('mode') as TrainConfig['mode'] } : {}),
    ...(args.str('format') !== undefined ? { format: args.str('format') as TrainConfig['format'] } : {}),
    ...(args.int('max-length') !== undefined ? { maxLength: args.int('max-length') } : {}),
  });
  const dataset = await importDataset(await fileBlob(file), file, { format: given.format, columns: columnsOf(args) });
  const mode = args.str('mode') !== undefined ? given.mode : defaultModeFor(dataset.format);
  checkModeFits(dataset, file, mode);
  const result: Record<string, unknown> = { format: dataset.format, mode, examples: dataset.examples.length };
  const modelDir = args.str('model');
  const tokDir = args.str('tokenizer') ?? modelDir;
  if (tokDir) {
    const tok = await loadTokenizer(dirSource(tokDir));
    const explicit = args.int('max-length') !== undefined;
    const maxLength = modelDir
      ? fitMaxLength(await readModelConfig(dirSource(modelDir)), given.maxLength, explicit, '--max-length')
      : given.maxLength;
    const { stats, chatTemplateFallback } = tokenizeDataset(dataset, file, tok, { ...given, mode, maxLength });
    Object.assign(result, {
      max_length: maxLength,
      tokens: stats.tokens,
      trained_tokens: stats.trainedTokens,
      sequences: stats.sequences,
      truncated: stats.truncated,
      tokens_dropped: stats.tokensDropped,
      examples_skipped: stats.skipped,
      chat_template_fallback: chatTemplateFallback,
    });
  }
  return result;
}

export const trainCommands: Record<string, Command> = { train: trainCommand, eval: evalCommand, export: exportCommand, data: dataCommand };

async function demoCommand(argv: string[]) {
  const args = parse(argv, {
    dataset: { type: 'string' },
    steps: { type: 'string' },
    model: { type: 'string' },
    'data-dir': { type: 'string' },
  });
  const dataset = (args.str('dataset') ?? 'support') as DemoDataset;
  if (!(dataset in DEMO_DATASETS))
    throw new UsageError(`--dataset must be one of ${Object.keys(DEMO_DATASETS).join(', ')}, got ${dataset}`);
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
  const modelDir = args.str('model') ?? path.join(root, 'public', 'models', 'default');
  const dataDir = args.str('data-dir') ?? path.join(root, 'public', 'data');
  await startBackend(args);
  log(`demo: ${dataset} on ${modelDir}`);
  const result = await runDemo({
    model: dirSource(modelDir),
    data: (name) => fileBlob(path.join(dataDir, name)),
    dataset,
    steps: args.int('steps'),
    onEvent: progressPrinter(),
    onPhase: (p) => {
      releaseNotes();
      log(`demo: ${p}`);
    },
  });
  for (const s of result.samples) log(`\nprompt: ${s.prompt}\n  before: ${s.before}\n  after:  ${s.after}`);
  return result;
}

trainCommands.demo = demoCommand;
