// The training configuration: one typed object with HF TrainingArguments-like defaults, shared by the
// trainer, the full-state checkpoint, the exports (PEFT config, scale-out recipe), the CLI and the app.
import { ConfigError } from '../errors';
import { FROZEN_DTYPES, type FrozenDtype } from '../memory';

import type { TrainMode } from '../data/tokenize';
export type { TrainMode };
export type Schedule = 'constant' | 'linear' | 'cosine';

export interface LoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  /** Module-name suffixes, or 'all-linear'. */
  targets: string[] | 'all-linear';
  rslora: boolean;
}

export interface TrainConfig {
  mode: TrainMode;
  /** Dataset format: 'auto' detects it. */
  format: 'auto' | 'text' | 'prompt-completion' | 'messages' | 'sharegpt' | 'alpaca';
  method: 'lora' | 'full';
  lora: LoraSettings;
  lr: number;
  schedule: Schedule;
  /** Warmup: a step count when ≥ 1, a ratio of the total steps when in (0, 1). */
  warmup: number;
  weightDecay: number;
  /** Global gradient-norm clip; 0 disables. */
  clip: number;
  batchSize: number;
  gradAccum: number;
  maxLength: number;
  epochs: number;
  /** Total optimizer steps of the run; overrides epochs when set. */
  steps: number | null;
  valRatio: number;
  /** Evaluate every N optimizer steps (0: at the end only). */
  evalEvery: number;
  /** Early stopping patience in evaluations (0: off). */
  patience: number;
  /** Minimum improvement of the validation loss that resets patience. */
  threshold: number;
  seed: number;
  trainOnPrompt: boolean;
  /** Override of the model's own dropout probabilities (null: the config's). */
  modelDropout: number | null;
  /** Exempt biases and norm weights from weight decay (HF default). */
  decayNormAndBias: boolean;
  /** Save a checkpoint every N optimizer steps (0: only at the end). */
  checkpointEvery: number;
  /** How frozen base weights are stored under LoRA: f16 halves their memory (compute stays f32). */
  frozenDtype: FrozenDtype;
  /** Recompute each block's activations in the backward (HF gradient_checkpointing): less memory, ~1/3 more compute. */
  gradientCheckpointing: boolean;
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  mode: 'completion',
  format: 'auto',
  method: 'lora',
  lora: { r: 8, alpha: 16, dropout: 0.05, targets: 'all-linear', rslora: false },
  lr: 2e-4,
  // Constant by default: a run extended with --resume then follows the same learning rates as one longer run.
  schedule: 'constant',
  warmup: 0,
  weightDecay: 0,
  clip: 1,
  batchSize: 4,
  gradAccum: 1,
  maxLength: 256,
  epochs: 1,
  steps: null,
  valRatio: 0.1,
  evalEvery: 0,
  patience: 0,
  threshold: 0,
  seed: 42,
  trainOnPrompt: false,
  modelDropout: null,
  decayNormAndBias: false,
  checkpointEvery: 0,
  frozenDtype: 'f32',
  gradientCheckpointing: false,
};

/** Fills defaults and checks ranges; the message names the field. */
export type TrainConfigInput = Omit<Partial<TrainConfig>, 'lora'> & { lora?: Partial<LoraSettings> };

export function resolveTrainConfig(partial: TrainConfigInput): TrainConfig {
  const c: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, ...partial, lora: { ...DEFAULT_TRAIN_CONFIG.lora, ...(partial.lora ?? {}) } };
  const check = (ok: boolean, field: string, what: string) => {
    if (!ok) throw new ConfigError(`training setting ${field}: ${what}`);
  };
  check(['text', 'completion', 'chat'].includes(c.mode), 'mode', `must be text, completion or chat, got ${c.mode}`);
  check(['lora', 'full'].includes(c.method), 'method', `must be lora or full, got ${c.method}`);
  check(['constant', 'linear', 'cosine'].includes(c.schedule), 'schedule', `must be constant, linear or cosine, got ${c.schedule}`);
  check(c.lr > 0 && Number.isFinite(c.lr), 'lr', `must be a positive number, got ${c.lr}`);
  check(
    c.warmup >= 0 && (c.warmup < 1 || Number.isInteger(c.warmup)),
    'warmup',
    `must be a ratio in [0, 1) or a whole number of steps, got ${c.warmup}`,
  );
  check(c.weightDecay >= 0, 'weight-decay', 'must be ≥ 0');
  check(c.clip >= 0, 'clip', 'must be ≥ 0');
  check(Number.isInteger(c.batchSize) && c.batchSize >= 1, 'batch', `must be a positive integer, got ${c.batchSize}`);
  check(Number.isInteger(c.gradAccum) && c.gradAccum >= 1, 'accum', `must be a positive integer, got ${c.gradAccum}`);
  check(Number.isInteger(c.maxLength) && c.maxLength >= 2, 'max-length', `must be an integer ≥ 2, got ${c.maxLength}`);
  check(c.epochs > 0, 'epochs', 'must be > 0');
  check(c.steps === null || (Number.isInteger(c.steps) && c.steps >= 1), 'steps', `must be a positive integer, got ${c.steps}`);
  check(c.valRatio >= 0 && c.valRatio < 1, 'val-ratio', `must be in [0, 1), got ${c.valRatio}`);
  check(Number.isInteger(c.evalEvery) && c.evalEvery >= 0, 'eval-every', 'must be an integer ≥ 0');
  check(Number.isInteger(c.patience) && c.patience >= 0, 'patience', 'must be an integer ≥ 0');
  check(c.threshold >= 0 && Number.isFinite(c.threshold), 'threshold', `must be ≥ 0, got ${c.threshold}`);
  check(
    Number.isInteger(c.checkpointEvery) && c.checkpointEvery >= 0,
    'checkpoint-every',
    `must be an integer ≥ 0, got ${c.checkpointEvery}`,
  );
  check(Number.isSafeInteger(c.seed), 'seed', 'must be an integer');
  check(c.modelDropout === null || (c.modelDropout >= 0 && c.modelDropout < 1), 'model-dropout', 'must be in [0, 1)');
  check(FROZEN_DTYPES.includes(c.frozenDtype), 'frozen-dtype', `must be f32, f16 or int8, got ${c.frozenDtype}`);
  check(
    c.frozenDtype === 'f32' || c.method === 'lora',
    'frozen-dtype',
    `${c.frozenDtype} stores frozen weights: it needs --method lora (full fine-tuning trains every weight in f32)`,
  );
  check(typeof c.gradientCheckpointing === 'boolean', 'gradient-checkpointing', `must be true or false, got ${c.gradientCheckpointing}`);
  check(Number.isInteger(c.lora.r) && c.lora.r >= 1, 'r', `must be a positive integer, got ${c.lora.r}`);
  check(c.lora.alpha > 0, 'alpha', 'must be > 0');
  check(c.lora.dropout >= 0 && c.lora.dropout < 1, 'dropout', 'must be in [0, 1)');
  return c;
}
