// Merged / full model export: a Hugging Face model folder that `AutoModelForCausalLM.from_pretrained` (and
// Whetstone's loadModel) loads as it is: config.json, model.safetensors (or shards + index),
// generation_config.json, and the tokenizer files with the chat template the model was tuned on.
import * as tf from '@tensorflow/tfjs';
import { WhetstoneError } from '../errors';
import { encodeSafetensors, type TensorToWrite } from '../safetensors';
import { CHATML_FALLBACK } from '../chat-template';
import type { CausalLM } from '../models/model';
import { groupByWhole, joinRows } from '../models/vocab-chunks';
import type { WhetTokenizer } from '../tokenizer';
import { jsonBytes, sortKeys, textBytes, type ExportFiles } from './files';

export interface MergedExportOptions {
  /**
   * Largest model.safetensors written as one file, in bytes (default 2 GB: one buffer must fit an
   * ArrayBuffer in every browser). Above it, `model-0000k-of-0000n.safetensors` shards and
   * `model.safetensors.index.json`, as transformers writes them.
   */
  maxShardBytes?: number;
}

const DEFAULT_MAX_SHARD_BYTES = 2_000_000_000;

type Json = Record<string, unknown>;

/** config.json as read, with the dtype the weights are saved in (both spellings transformers reads). */
function exportedConfig(raw: Json): Json {
  const config = structuredClone(raw) as Json;
  const hasTorchDtype = 'torch_dtype' in config;
  const hasDtype = 'dtype' in config;
  // transformers ≥ 4.56 writes `dtype`, older versions `torch_dtype`; keep the spelling the base used.
  if (hasDtype || !hasTorchDtype) config.dtype = 'float32';
  if (hasTorchDtype || !hasDtype) config.torch_dtype = 'float32';
  return config;
}

function ids(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  return Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : [];
}

/**
 * generation_config.json: bos/eos/pad from config.json, completed from the tokenizer. The end-of-turn tokens
 * (e.g. `<|im_end|>`) join eos_token_id so that `generate` stops where the tuned model ends a turn.
 */
function generationConfig(model: CausalLM, tokenizer: WhetTokenizer | null): Json {
  const raw = model.config.raw;
  const inVocab = (id: number | null | undefined): id is number =>
    typeof id === 'number' && Number.isInteger(id) && id >= 0 && id < model.config.vocabSize;
  const gen: Json = {};
  const bos = typeof raw.bos_token_id === 'number' ? raw.bos_token_id : tokenizer?.bosTokenId;
  if (inVocab(bos)) gen.bos_token_id = bos;
  const eos: number[] = [];
  for (const id of [...ids(raw.eos_token_id), ...(tokenizer?.endOfTurnIds ?? [])]) if (inVocab(id) && !eos.includes(id)) eos.push(id);
  if (eos.length > 0) gen.eos_token_id = eos.length === 1 ? eos[0] : eos;
  const pad = typeof raw.pad_token_id === 'number' ? raw.pad_token_id : tokenizer?.padTokenId;
  if (inVocab(pad)) gen.pad_token_id = pad;
  return sortKeys(gen);
}

/**
 * tokenizer_config.json as read, with `chat_template` set to the template the model was trained with
 * (the tokenizer's own, or the ChatML fallback when it has none) and the EOS token named when Whetstone
 * inferred it, so that transformers renders chats exactly as Whetstone did.
 */
function tokenizerConfig(tokenizer: WhetTokenizer): Json {
  const config = structuredClone(tokenizer.tokenizerConfig) as Json;
  // A list of named templates (e.g. "default" + "tool_use") is kept whole when the tokenizer's own.
  if (!(tokenizer.hasOwnChatTemplate && Array.isArray(config.chat_template) && tokenizer.chatTemplate !== null)) {
    config.chat_template = tokenizer.chatTemplate ?? CHATML_FALLBACK;
  }
  if (config.eos_token === undefined && tokenizer.eosToken !== null) config.eos_token = tokenizer.eosToken;
  return config;
}

/** The weight `name` with the adapter merged in (W + s·BA, transposed for Conv1D), one tensor at a time. */
async function mergedData(model: CausalLM, name: string): Promise<Float32Array> {
  const layer = name.endsWith('.weight') ? model.adapter?.layers.get(name.slice(0, -'.weight'.length)) : undefined;
  const v = model.params.get(name);
  if (!layer && v) return f32(await v.data());
  // A packed (f16) weight is decoded to f32 first.
  const merged = tf.tidy(() => {
    const w = model.weightValue(name);
    if (!layer) return w.clone();
    const delta = tf.mul(tf.matMul(layer.B, layer.A), layer.scale); // [out, in], in f32
    return tf.add(w, layer.module.conv1d ? tf.transpose(delta) : delta);
  });
  try {
    return f32(await merged.data());
  } finally {
    merged.dispose();
  }
}

function f32(d: unknown): Float32Array {
  return d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>);
}

function shardName(k: number, n: number): string {
  const pad = (x: number) => String(x).padStart(5, '0');
  return `model-${pad(k)}-of-${pad(n)}.safetensors`;
}

/**
 * The merged export of a LoRA model whose frozen base is kept packed for training (f16 or int8 storage):
 * the adapter is merged into the f32 base that `loadBase` gives (the original files, loaded afresh and
 * freed after), so the export carries none of the storage's rounding. Any other model is exported as it is.
 */
export async function exportMergedFromBase(
  model: CausalLM,
  tokenizer: WhetTokenizer | null,
  loadBase: () => Promise<CausalLM>,
  opts: MergedExportOptions = {},
): Promise<ExportFiles> {
  if (model.packed.size === 0 || !model.adapter) return exportMergedModel(model, tokenizer, opts);
  const base = await loadBase();
  base.adapter = model.adapter; // shared, not copied: detached again before the base is freed
  try {
    return await exportMergedModel(base, tokenizer, opts);
  } finally {
    base.adapter = null;
    base.dispose();
  }
}

/**
 * A loadable Hugging Face model folder with the LoRA adapter (if any) merged into the base weights in f32:
 * `config.json` (the base's, dtype float32), `model.safetensors` (F32, the base's HF names, tied weights
 * once; sharded with an index above `maxShardBytes`), `generation_config.json`, and with a tokenizer
 * `tokenizer.json` + `tokenizer_config.json` carrying the chat template. The model itself is not changed.
 */
export async function exportMergedModel(
  model: CausalLM,
  tokenizer: WhetTokenizer | null,
  opts: MergedExportOptions = {},
): Promise<ExportFiles> {
  const maxShardBytes = opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!(maxShardBytes > 0)) throw new WhetstoneError('export', `maxShardBytes must be positive, got ${maxShardBytes}`);
  if (model.params.size === 0 && model.packed.size === 0)
    throw new WhetstoneError('export', 'cannot export a model without parameters (was it disposed?)');

  // Shards in name order, as transformers fills them; a tensor larger than the limit gets a shard alone.
  // A weight kept in vocabulary row chunks is written whole, under its own name.
  const groups = groupByWhole(model.weightNames());
  const names = [...groups.keys()].sort();
  const shards: TensorToWrite[][] = [[]];
  let shardBytes = 0;
  let totalBytes = 0;
  for (const name of names) {
    const members = groups.get(name)!;
    const shapeOf = (n: string) => model.packed.get(n)?.shape ?? model.params.get(n)!.shape;
    const parts: Float32Array[] = [];
    for (const n of members) parts.push(await mergedData(model, n));
    const data = joinRows(parts);
    const rest = shapeOf(members[0]).slice(1);
    const shape = members.length === 1 ? shapeOf(name) : [data.length / rest.reduce((a, b) => a * b, 1), ...rest];
    const bytes = data.length * 4;
    if (shards[shards.length - 1].length > 0 && shardBytes + bytes > maxShardBytes) {
      shards.push([]);
      shardBytes = 0;
    }
    shards[shards.length - 1].push({ name, dtype: 'F32', shape: [...shape], data });
    shardBytes += bytes;
    totalBytes += bytes;
  }

  const files: ExportFiles = new Map();
  files.set('config.json', jsonBytes(exportedConfig(model.config.raw)));
  files.set('generation_config.json', jsonBytes(generationConfig(model, tokenizer)));
  if (shards.length === 1) {
    files.set('model.safetensors', encodeSafetensors(shards[0], { format: 'pt' }));
  } else {
    const weightMap: Record<string, string> = {};
    shards.forEach((tensors, i) => {
      const file = shardName(i + 1, shards.length);
      for (const t of tensors) weightMap[t.name] = file;
      files.set(file, encodeSafetensors(tensors, { format: 'pt' }));
      tensors.length = 0; // drop the f32 copies as soon as their shard is encoded
    });
    files.set('model.safetensors.index.json', jsonBytes({ metadata: { total_size: totalBytes }, weight_map: sortKeys(weightMap) }));
  }
  if (tokenizer) {
    files.set('tokenizer.json', textBytes(JSON.stringify(tokenizer.tokenizerJson)));
    files.set('tokenizer_config.json', jsonBytes(tokenizerConfig(tokenizer)));
  }
  return files;
}

/**
 * The model after full fine-tuning, as a Hugging Face folder: the same files as exportMergedModel (which
 * it is; with a LoRA adapter still attached, the adapter is merged in).
 */
export function exportFullModel(model: CausalLM, tokenizer: WhetTokenizer | null, opts: MergedExportOptions = {}): Promise<ExportFiles> {
  return exportMergedModel(model, tokenizer, opts);
}
