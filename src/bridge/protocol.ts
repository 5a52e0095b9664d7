// The one description of what crosses between the page and the two workers: requests, replies and events.
// DOM-free and type-only on the engine side, so both the page (lib dom) and the workers (lib webworker) compile it.
import type { MemoryModelShape } from '../core/memory';
import type { TrainConfig } from '../core/train/config';
import type { TrainEvent } from '../core/train/trainer';
import type { TokenizeStats, TrainMode } from '../core/data/tokenize';
import type { ColumnMapping, DataFormat, Example } from '../core/data/formats';

export type { TrainConfig, TrainMode, TokenizeStats, ColumnMapping, DataFormat, Example };

/** A file of the embedded default model (public/models/default), listed at build time. */
export interface DefaultModelFile {
  name: string;
  size: number;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  features: string[];
}

export interface BackendReport {
  backend: 'webgpu' | 'cpu';
  adapter: AdapterSummary | null;
  /** Why WebGPU is not used, when it is not. */
  fallbackReason?: string;
  /** On WebGPU: whether the kernels use subgroup operations (size seen; why not). */
  subgroups?: { usable: boolean; size: number; reason?: string } | null;
}

/** Where a base model comes from; runs store it so that a reload can rebuild the model. */
export type ModelRef = { kind: 'default' } | { kind: 'stored'; id: string };

export type ModelRequest =
  | { kind: 'default' }
  | { kind: 'stored'; id: string }
  | { kind: 'files'; label: string; files: File[] }
  | { kind: 'hub'; repo: string; revision?: string };

/** What the UI shows of a model's architecture: the engine's config, less what only the engine needs (what the memory estimate reads). */
export type ModelShape = MemoryModelShape;

export interface ModelInfo {
  ref: ModelRef;
  name: string;
  shape: ModelShape;
  numParameters: number;
  /** The tokenizer brings its own chat template (else the ChatML fallback is used). */
  ownChatTemplate: boolean;
  eosToken: string | null;
  /** tokenizer.json, tokenizer_config.json (and chat_template.* when present), for the tokenize worker. */
  tokenizerFiles: Record<string, Blob>;
  tokenizerHash: string;
}

export interface StoredModel {
  id: string;
  name: string;
  source?: string;
  size: number;
  createdAt: number;
}

export interface Progress {
  phase: string;
  done: number;
  total: number;
}

// ---- datasets (tokenize worker) ----

export interface DatasetSummary {
  id: string;
  name: string;
  fileName: string;
  format: DataFormat;
  count: number;
  /** The first examples, normalised. */
  preview: Example[];
  /** The source line of each preview example. */
  previewLines: number[];
  /** Keys (JSON) or header (CSV) of the first record, for the column mapping. */
  columns: string[];
  columnMapping: ColumnMapping | null;
  sha256: string;
  size: number;
  createdAt: number;
}

export interface DatasetListItem {
  id: string;
  name: string;
  fileName: string;
  format: string;
  count: number;
  createdAt: number;
}

export interface TokenizeRequest {
  datasetId: string;
  mode: TrainMode;
  maxLength: number;
  trainOnPrompt: boolean;
}

export interface TokenizeResult {
  stats: TokenizeStats;
  /** Length of every sequence (for the histogram). */
  lengths: number[];
  chatTemplateFallback: boolean;
}

/** One token of an example with whether it carries loss. */
export interface MaskPiece {
  text: string;
  trained: boolean;
  special: boolean;
}

export interface ExplainResult {
  pieces: MaskPiece[];
  /** The example was cut at maxLength (tokens past it are not shown). */
  truncated: boolean;
  tokens: number;
  trained: number;
  /** For text mode: tokens of the example before packing. */
  note?: string;
}

// ---- runs (train worker) ----

export interface RunSettings {
  train: TrainConfig;
  datasetId: string;
  datasetName: string;
  datasetHash: string;
  model: ModelRef;
  modelName: string;
  /** Present on the runs of a k-fold job. */
  kfold?: { k: number; fold: number; jobId: string };
}

export interface StartRunRequest {
  name: string;
  datasetId: string;
  config: TrainConfig;
  /** k ≥ 2: k runs on rotating folds (cross-validation). */
  kfold?: number;
}

/** A trainer's event (core/train/trainer.ts) as a run reports it: with its run id, a step also with the memory in use. */
type OfRun<E> = E extends { type: 'step' } ? E & { runId: string; memoryBytes: number } : E & { runId: string };

export type RunEvent =
  | OfRun<TrainEvent>
  | {
      type: 'status';
      runId: string;
      status: 'created' | 'running' | 'paused' | 'stopped' | 'completed' | 'failed';
      message?: string;
      /** The run ended in this worker (the GPU device was lost) but can resume from its last checkpoint. */
      interrupted?: true;
    }
  | { type: 'fold'; runId: string; fold: number; k: number }
  | { type: 'kfold-done'; runId: string; folds: { fold: number; runId: string; bestValLoss: number | null }[]; mean: number; sd: number };

export interface RunStarted {
  runId: string;
  totalSteps: number;
  trainCount: number;
  valCount: number;
}

export interface RunListItem {
  id: string;
  name: string;
  status: string;
  createdAt: number;
  updatedAt: number;
  settings: RunSettings | null;
  checkpointStep: number | null;
  checkpointBytes: number | null;
}

/** A metric row as stored (flattened RunEvent without runId). */
export type MetricRow = Record<string, number | string | boolean | null>;

export interface GenerationSettings {
  maxNewTokens: number;
  greedy: boolean;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
}

export interface GenerateRequest {
  which: 'base' | 'tuned';
  prompt: string;
  /** Render through the chat template (a user turn + generation prompt). */
  chat: boolean;
  settings: GenerationSettings;
}

export interface GenerateResult {
  text: string;
  tokens: number;
  ms: number;
}

export type ExportKind = 'peft' | 'merged' | 'state' | 'recipe';

export interface ExportResult {
  /** Suggested download name (a .zip for folders, the file itself for one file). */
  name: string;
  files: Record<string, Uint8Array>;
}

export interface LoadedRun {
  runId: string;
  name: string;
  step: number;
  method: 'lora' | 'full';
}

/** An error as it crosses a worker boundary: the message stays specific; `kind` for styling. */
export interface WorkerErrorInfo {
  message: string;
  kind?: string;
}

// ---- the demo ("Try the demo": the default model fine-tuned on a demo dataset, before vs after) ----

export type { DemoDataset } from '../core/demo-datasets';
export type { DemoResult, DemoSample, DemoNumbers } from '../core/demo';

export type DemoPhase = 'load' | 'before' | 'train' | 'after';

/** What the demo streams to the page: its phase, and the trainer's events (steps with the loss). */
export type DemoEvent = { type: 'phase'; phase: DemoPhase } | TrainEvent;
