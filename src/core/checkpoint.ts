// The full-state checkpoint: one self-describing, versioned file (a safetensors container) holding the
// trainable weights, AdamW moments and step, the trainer state (schedule position, RNG, data cursor, early
// stopping), the training config, dataset and tokenizer hashes and the base model's identity. Loading it
// into a fresh process resumes training exactly.
import * as tf from '@tensorflow/tfjs';
import { encodeSafetensors, openSafetensors, type TensorToWrite } from './safetensors';
import { WhetstoneError } from './errors';
import type { Trainer, TrainerState } from './train/trainer';
import type { TrainConfig } from './train/config';
import type { LoraConfig } from './lora';
import { readJoined, splitToNames, wholeName } from './models/vocab-chunks';

export const STATE_FORMAT = 'whetstone-state';
export const STATE_VERSION = 1;

export class CheckpointError extends WhetstoneError {
  constructor(message: string) {
    super('checkpoint', message);
    this.name = 'CheckpointError';
  }
}

/** Which base model a run trained on: enough to refuse resuming on another one, and to rebuild it. */
export interface BaseIdentity {
  /** The user's name for it: a folder path, a hub id, "default". */
  name: string;
  modelType: string;
  /** sha256 of the base's config.json as read. */
  configHash: string;
  numParameters: number;
  /** The base's config.json, so exports can be written without the base folder. */
  config: Record<string, unknown>;
}

export interface StateMeta {
  format: typeof STATE_FORMAT;
  version: number;
  createdAt: string;
  method: 'lora' | 'full';
  lora: LoraConfig | null;
  config: TrainConfig;
  totalSteps: number;
  trainer: TrainerState;
  optimizerStep: number;
  base: BaseIdentity;
  datasetHash: string;
  tokenizerHash: string;
  /** Where the data came from (file name; the CLI adds the path), for exports and messages. */
  data: Record<string, unknown>;
}

export interface FullState {
  meta: StateMeta;
  weights: Map<string, { shape: number[]; data: Float32Array }>;
  m: Map<string, { shape: number[]; data: Float32Array }>;
  v: Map<string, { shape: number[]; data: Float32Array }>;
  best: Map<string, { shape: number[]; data: Float32Array }> | null;
}

/** The tensors of `map` under `prefix`; a weight kept in vocabulary row chunks is saved whole. */
async function tensorsOf(prefix: string, map: Map<string, tf.Tensor>): Promise<TensorToWrite[]> {
  const out: TensorToWrite[] = [];
  for (const [name, t] of await readJoined(map)) out.push({ name: `${prefix}${name}`, dtype: 'F32', shape: t.shape, data: t.data });
  return out;
}

/** Serialises the trainer as it stands (call between steps). */
export async function encodeState(
  trainer: Trainer,
  info: { base: BaseIdentity; datasetHash: string; tokenizerHash: string; data?: Record<string, unknown> },
): Promise<Uint8Array> {
  const meta: StateMeta = {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    createdAt: new Date().toISOString(),
    method: trainer.config.method,
    lora: trainer.model.adapter?.config ?? null,
    config: trainer.config,
    totalSteps: trainer.totalSteps,
    trainer: trainer.state,
    optimizerStep: trainer.optimizer.step,
    base: info.base,
    datasetHash: info.datasetHash,
    tokenizerHash: info.tokenizerHash,
    data: info.data ?? {},
  };
  const { m, v } = trainer.optimizer.split();
  let tensors: TensorToWrite[];
  try {
    tensors = [
      ...(await tensorsOf('weight.', trainer.trainables)),
      ...(await tensorsOf('adam.m.', m)),
      ...(await tensorsOf('adam.v.', v)),
      ...(trainer.best ? await tensorsOf('best.', trainer.best) : []),
    ];
  } finally {
    tf.dispose([...m.values(), ...v.values()]);
  }
  return encodeSafetensors(tensors, { format: STATE_FORMAT, whetstone_state: JSON.stringify(meta) });
}

/** Reads and validates a state file (any safetensors rule broken, or a missing/unknown header, is an error). */
export async function decodeState(source: Blob | Uint8Array | ArrayBuffer, fileName: string): Promise<FullState> {
  const reader = await openSafetensors(source, fileName);
  const raw = reader.metadata.whetstone_state;
  if (reader.metadata.format !== STATE_FORMAT || typeof raw !== 'string') {
    throw new CheckpointError(`${fileName}: not a Whetstone full-state file (no ${STATE_FORMAT} metadata)`);
  }
  let meta: StateMeta;
  try {
    meta = JSON.parse(raw) as StateMeta;
  } catch (e) {
    throw new CheckpointError(`${fileName}: the state header is not valid JSON: ${(e as Error).message}`);
  }
  if (meta.version !== STATE_VERSION)
    throw new CheckpointError(`${fileName}: state version ${meta.version} is not supported (this build reads ${STATE_VERSION})`);
  for (const key of ['config', 'trainer', 'base', 'method'] as const) {
    if (meta[key] === undefined || meta[key] === null) throw new CheckpointError(`${fileName}: the state header lacks ${key}`);
  }
  const groups = { weight: new Map(), m: new Map(), v: new Map(), best: new Map() } as Record<
    string,
    Map<string, { shape: number[]; data: Float32Array }>
  >;
  for (const e of reader.entries) {
    const m = /^(weight|adam\.m|adam\.v|best)\.(.+)$/.exec(e.name);
    if (!m) throw new CheckpointError(`${fileName}: unexpected tensor ${e.name}`);
    const group = m[1] === 'adam.m' ? 'm' : m[1] === 'adam.v' ? 'v' : m[1];
    groups[group].set(m[2], { shape: e.shape, data: await reader.readF32(e.name) });
  }
  if (groups.weight.size === 0) throw new CheckpointError(`${fileName}: no trainable weights in the state`);
  return { meta, weights: groups.weight, m: groups.m, v: groups.v, best: groups.best.size ? groups.best : null };
}

/** Loads a decoded state into a trainer built on the same base and data: weights, moments, position. */
export function applyState(trainer: Trainer, state: FullState): void {
  // Whole tensors in the file; a model that keeps one in vocabulary row chunks takes its rows per chunk.
  const shapes = new Map([...trainer.trainables].map(([n, v]) => [n, v.shape]));
  const perName = (m: Map<string, { shape: number[]; data: Float32Array }>) => splitToNames(m, shapes);
  const weights = perName(state.weights);
  for (const [name, v] of trainer.trainables) {
    const w = weights.get(name);
    if (!w) throw new CheckpointError(`the state has no weight ${wholeName(name)}`);
    if (w.shape.join(',') !== v.shape.join(','))
      throw new CheckpointError(`the state's ${name} has shape [${w.shape}], the model [${v.shape}]`);
    v.assign(tf.tensor(w.data, w.shape));
  }
  const toTensors = (m: Map<string, { shape: number[]; data: Float32Array }>) =>
    new Map([...m].map(([k, t]) => [k, tf.tensor(t.data, t.shape)]));
  const [m, v] = [toTensors(perName(state.m)), toTensors(perName(state.v))];
  trainer.restore(state.meta.trainer, { step: state.meta.optimizerStep, m, v }, state.best ? toTensors(perName(state.best)) : null);
  tf.dispose([...m.values(), ...v.values()]); // copied into the optimizer
}
