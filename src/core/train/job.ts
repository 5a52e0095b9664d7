// A fine-tuning job end to end, shared by the CLI and the training worker: import and tokenize the data,
// split it, put LoRA or full fine-tuning on the model, build the trainer, and name the base model and
// the data so a full-state file can refuse to resume on anything else.
import type * as tf from '@tensorflow/tfjs';
import { importDataset, type ImportedDataset, type ColumnMapping } from '../data';
import { tokenizeExamples, modeAcceptsFormat, type Sequence, type TokenizeStats } from '../data/tokenize';
import { trainValSplit, kFolds } from '../data/split';
import { sha256Hex } from '../sha256';
import { hashBlob } from '../hashes';
export { hashBlob, tokenizerHash } from '../hashes';
import type { WhetTokenizer } from '../tokenizer';
import type { CausalLM } from '../models/model';
import { createLora, TARGET_PRESETS } from '../lora';
import { WhetstoneError } from '../errors';
import { checkPositions, positionLimit, type ModelConfig } from '../hf-config';
import type { BaseIdentity } from '../checkpoint';
import type { TrainConfig } from './config';

export interface PreparedData {
  dataset: ImportedDataset;
  sequences: Sequence[];
  stats: TokenizeStats;
  chatTemplateFallback: boolean;
  /** sha256 of the data file's bytes. */
  datasetHash: string;
}

export async function baseIdentity(model: CausalLM, name: string): Promise<BaseIdentity> {
  return {
    name,
    modelType: model.config.modelType,
    configHash: await sha256Hex(new TextEncoder().encode(JSON.stringify(model.config.raw))),
    numParameters: model.numParameters(),
    config: model.config.raw,
  };
}

/** A tokenizer whose ids run past the model's vocabulary would index outside the embedding: refuse it. */
export function assertTokenizerFits(model: CausalLM, tok: WhetTokenizer, label = 'the tokenizer'): void {
  if (tok.vocabSize > model.config.vocabSize) {
    throw new WhetstoneError(
      'tokenizer',
      `${label} has ${tok.vocabSize} tokens but the model's vocabulary is ${model.config.vocabSize}: they do not belong together`,
    );
  }
}

type PrepareProgress = (phase: 'import' | 'tokenize', done: number, total: number) => void;

/** Imports, checks mode against format, tokenizes; errors name the file (and line) as import does. */
export async function prepareData(
  blob: Blob,
  fileName: string,
  tok: WhetTokenizer,
  config: TrainConfig,
  opts: { columns?: ColumnMapping; onProgress?: PrepareProgress } = {},
): Promise<PreparedData> {
  const dataset = await importDataset(blob, fileName, {
    format: config.format,
    columns: opts.columns,
    onProgress: (done, total) => opts.onProgress?.('import', done, total),
  });
  return { dataset, ...tokenizeDataset(dataset, fileName, tok, config, opts.onProgress), datasetHash: await hashBlob(blob) };
}

/** An imported dataset's sequences for `config`'s mode and length: refused when the mode cannot take its format, or nothing trains. */
export function tokenizeDataset(
  dataset: ImportedDataset,
  fileName: string,
  tok: WhetTokenizer,
  config: Pick<TrainConfig, 'mode' | 'maxLength' | 'trainOnPrompt'>,
  onProgress?: PrepareProgress,
): Pick<PreparedData, 'sequences' | 'stats' | 'chatTemplateFallback'> {
  checkModeFits(dataset, fileName, config.mode);
  const { sequences, stats, chatTemplateFallback } = tokenizeExamples(dataset.examples, tok, {
    mode: config.mode,
    maxLength: config.maxLength,
    trainOnPrompt: config.trainOnPrompt,
    onProgress: (done, total) => onProgress?.('tokenize', done, total),
  });
  if (sequences.length === 0) throw new WhetstoneError('data', `${fileName}: no example carries a trained token after tokenization`);
  return { sequences, stats, chatTemplateFallback };
}

export function checkModeFits(dataset: ImportedDataset, fileName: string, mode: TrainConfig['mode']): void {
  if (!modeAcceptsFormat(mode, dataset.format))
    throw new WhetstoneError('data', `${fileName}: ${dataset.format} data cannot train in ${mode} mode`);
}

/**
 * The sequence length for a model: `maxLength` as given, refused past GPT-2's learned positions; when it
 * was not given (`explicit` false), the default cut to them.
 */
export function fitMaxLength(model: ModelConfig, maxLength: number, explicit: boolean, what = 'max-length'): number {
  const limit = positionLimit(model);
  if (limit === null || maxLength <= limit) return maxLength;
  if (!explicit) return limit;
  checkPositions(model, maxLength, what);
  return maxLength;
}

export function splitData(sequences: Sequence[], config: TrainConfig): { train: Sequence[]; val: Sequence[] } {
  if (config.valRatio === 0) return { train: sequences, val: [] };
  return trainValSplit(sequences, { valRatio: config.valRatio, seed: config.seed });
}

export function foldsOf(sequences: Sequence[], k: number, seed: number) {
  if (!Number.isInteger(k) || k < 2) throw new WhetstoneError('config', `k-fold needs k ≥ 2, got ${k}`);
  if (sequences.length < k)
    throw new WhetstoneError('data', `k-fold with k=${k} needs at least ${k} sequences, the data has ${sequences.length}`);
  return kFolds(sequences, k, seed);
}

/**
 * Puts the training method on the model: LoRA (a fresh adapter, base frozen, its linear weights stored as
 * f16 with frozenDtype f16) or full fine-tuning (every parameter trainable). Returns the trainable variables
 * by export name and the weight-decay exemptions.
 */
export function setupMethod(
  model: CausalLM,
  config: TrainConfig,
): { trainables: Map<string, tf.Variable>; noDecay: (name: string) => boolean } {
  const skipNormBias = !config.decayNormAndBias;
  if (config.method === 'lora') {
    const preset = TARGET_PRESETS[model.config.modelType];
    const targets =
      typeof config.lora.targets === 'string' && preset[config.lora.targets] ? preset[config.lora.targets] : config.lora.targets;
    const adapter = createLora(
      model,
      {
        r: config.lora.r,
        alpha: config.lora.alpha,
        dropout: config.lora.dropout,
        targetModules: targets,
        useRslora: config.lora.rslora,
        fanInFanOut: model.config.modelType === 'gpt2',
      },
      config.seed,
    );
    if (config.frozenDtype !== 'f32') model.packFrozenWeights(config.frozenDtype);
    // LoRA matrices are weights, never biases or norms: decay applies to all of them.
    return { trainables: adapter.namedVariables(), noDecay: () => false };
  }
  model.setTrainable(true);
  return { trainables: model.params, noDecay: (name) => skipNormBias && model.family.isNormOrBias(name) };
}
