// Reads a Hugging Face `config.json` into one typed model config for the families Whetstone supports,
// refusing unsupported types, missing fields and absurd sizes before anything is allocated.
import { ConfigError } from './errors';

export const SUPPORTED_MODEL_TYPES = ['gpt2', 'llama', 'qwen2'] as const;
export type ModelType = (typeof SUPPORTED_MODEL_TYPES)[number];

export interface ModelConfig {
  modelType: ModelType;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  maxPositions: number;
  normEps: number;
  /** RoPE base (llama/qwen2); unused by gpt2. */
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (qwen2 always; llama with attention_bias). */
  qkvBias: boolean;
  /** o_proj carries a bias (llama attention_bias). */
  oBias: boolean;
  mlpBias: boolean;
  activation: 'gelu_new' | 'silu';
  /** Dropout probabilities from the config (HF names: embd_pdrop, attn_pdrop, resid_pdrop, attention_dropout). */
  dropout: { embedding: number; attention: number; residual: number };
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** The config.json object as read, kept for export. */
  raw: Record<string, unknown>;
}

const LIMITS = { vocab: 4_000_000, hidden: 65_536, layers: 1_024, heads: 1_024, positions: 4_194_304, intermediate: 262_144 };

function field(raw: Record<string, unknown>, names: string[], file: string, fallback?: number): number {
  for (const n of names) {
    const v = raw[n];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new ConfigError(`${file}: field ${n} must be a number, got ${JSON.stringify(v)}`);
    return v;
  }
  if (fallback !== undefined) return fallback;
  throw new ConfigError(`${file}: missing field ${names[0]}`);
}

function positiveInt(value: number, name: string, max: number, file: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new ConfigError(`${file}: field ${name} must be a positive integer, got ${value}`);
  if (value > max) throw new ConfigError(`${file}: field ${name} = ${value} is beyond the supported maximum ${max}`);
  return value;
}

function tokenIds(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}

export function parseModelConfig(json: unknown, file = 'config.json'): ModelConfig {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new ConfigError(`${file}: not a JSON object`);
  const raw = json as Record<string, unknown>;
  const modelType = raw.model_type;
  if (typeof modelType !== 'string') throw new ConfigError(`${file}: missing field model_type`);
  if (!(SUPPORTED_MODEL_TYPES as readonly string[]).includes(modelType)) {
    throw new ConfigError(`unsupported model_type ${modelType} (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`);
  }
  const type = modelType as ModelType;
  const vocabSize = positiveInt(field(raw, ['vocab_size'], file), 'vocab_size', LIMITS.vocab, file);
  const eosTokenIds = tokenIds(raw.eos_token_id);
  const bos = typeof raw.bos_token_id === 'number' ? raw.bos_token_id : null;

  if (type === 'gpt2') {
    const hiddenSize = positiveInt(field(raw, ['n_embd', 'hidden_size'], file), 'n_embd', LIMITS.hidden, file);
    const numHeads = positiveInt(field(raw, ['n_head', 'num_attention_heads'], file), 'n_head', LIMITS.heads, file);
    if (hiddenSize % numHeads !== 0) throw new ConfigError(`${file}: n_embd ${hiddenSize} is not divisible by n_head ${numHeads}`);
    const act = raw.activation_function ?? 'gelu_new';
    if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh')
      throw new ConfigError(`${file}: unsupported activation_function ${String(act)} (supported: gelu_new)`);
    return {
      modelType: type,
      vocabSize,
      hiddenSize,
      numLayers: positiveInt(field(raw, ['n_layer', 'num_hidden_layers'], file), 'n_layer', LIMITS.layers, file),
      numHeads,
      numKvHeads: numHeads,
      headDim: hiddenSize / numHeads,
      intermediateSize: positiveInt(field(raw, ['n_inner'], file, 4 * hiddenSize), 'n_inner', LIMITS.intermediate, file),
      maxPositions: positiveInt(field(raw, ['n_positions', 'max_position_embeddings'], file), 'n_positions', LIMITS.positions, file),
      normEps: field(raw, ['layer_norm_epsilon'], file, 1e-5),
      ropeTheta: 0,
      tieWordEmbeddings: raw.tie_word_embeddings !== false,
      qkvBias: true,
      oBias: true,
      mlpBias: true,
      activation: 'gelu_new',
      dropout: {
        embedding: field(raw, ['embd_pdrop'], file, 0.1),
        attention: field(raw, ['attn_pdrop'], file, 0.1),
        residual: field(raw, ['resid_pdrop'], file, 0.1),
      },
      bosTokenId: bos,
      eosTokenIds,
      raw,
    };
  }

  const hiddenSize = positiveInt(field(raw, ['hidden_size'], file), 'hidden_size', LIMITS.hidden, file);
  const numHeads = positiveInt(field(raw, ['num_attention_heads'], file), 'num_attention_heads', LIMITS.heads, file);
  const numKvHeads = positiveInt(field(raw, ['num_key_value_heads'], file, numHeads), 'num_key_value_heads', LIMITS.heads, file);
  if (numHeads % numKvHeads !== 0)
    throw new ConfigError(`${file}: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  const headDimDefault = hiddenSize / numHeads;
  const headDim = positiveInt(field(raw, ['head_dim'], file, headDimDefault), 'head_dim', LIMITS.hidden, file);
  if (headDim % 2 !== 0) throw new ConfigError(`${file}: head_dim ${headDim} must be even for RoPE`);
  const act = raw.hidden_act ?? 'silu';
  if (act !== 'silu' && act !== 'swish') throw new ConfigError(`${file}: unsupported hidden_act ${String(act)} (supported: silu)`);
  const rope = (raw.rope_parameters ?? null) as Record<string, unknown> | null;
  const scaling = (raw.rope_scaling ?? null) as Record<string, unknown> | null;
  const ropeType = (rope?.rope_type ?? scaling?.rope_type ?? scaling?.type ?? 'default') as string;
  if (ropeType !== 'default') throw new ConfigError(`${file}: unsupported rope type ${ropeType} (supported: default)`);
  const ropeTheta = typeof rope?.rope_theta === 'number' ? rope.rope_theta : field(raw, ['rope_theta'], file, 10000);
  const attentionBias = raw.attention_bias === true;
  const attnDrop = field(raw, ['attention_dropout'], file, 0);
  return {
    modelType: type,
    vocabSize,
    hiddenSize,
    numLayers: positiveInt(field(raw, ['num_hidden_layers'], file), 'num_hidden_layers', LIMITS.layers, file),
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: positiveInt(field(raw, ['intermediate_size'], file), 'intermediate_size', LIMITS.intermediate, file),
    maxPositions: positiveInt(field(raw, ['max_position_embeddings'], file, 2048), 'max_position_embeddings', LIMITS.positions, file),
    normEps: field(raw, ['rms_norm_eps'], file, 1e-6),
    ropeTheta,
    tieWordEmbeddings: raw.tie_word_embeddings === true || (raw.tie_word_embeddings === undefined && type === 'qwen2'),
    qkvBias: type === 'qwen2' || attentionBias,
    oBias: type !== 'qwen2' && attentionBias,
    mlpBias: raw.mlp_bias === true,
    activation: 'silu',
    dropout: { embedding: 0, attention: attnDrop, residual: 0 },
    bosTokenId: bos,
    eosTokenIds,
    raw,
  };
}

/** The number of parameters the config implies (each tied weight once). */
export function countParameters(c: ModelConfig): number {
  const d = c.hiddenSize;
  const embed = c.vocabSize * d + (c.tieWordEmbeddings ? 0 : c.vocabSize * d);
  if (c.modelType === 'gpt2') {
    const layer =
      2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * c.intermediateSize + c.intermediateSize) + (c.intermediateSize * d + d);
    return embed + c.maxPositions * d + c.numLayers * layer + 2 * d;
  }
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const attn = d * q + 2 * d * kv + q * d + (c.qkvBias ? q + 2 * kv : 0) + (c.oBias ? d : 0);
  const mlp = 3 * d * c.intermediateSize + (c.mlpBias ? 2 * c.intermediateSize + d : 0);
  return embed + c.numLayers * (attn + mlp + 2 * d) + d;
}

/**
 * The most tokens a sequence may hold: GPT-2 learns one vector per position (n_positions of them), so a
 * longer sequence has positions with none; RoPE families (llama, qwen2) compute theirs and take any length
 * (max_position_embeddings is what they were trained to, not a limit), null.
 */
export function positionLimit(c: ModelConfig): number | null {
  return c.modelType === 'gpt2' ? c.maxPositions : null;
}

/** Throws when `length` tokens are more than the model has positions for; `what` says where they come from. */
export function checkPositions(c: ModelConfig, length: number, what: string): void {
  const limit = positionLimit(c);
  if (limit !== null && length > limit)
    throw new ConfigError(`${what} is ${length} tokens, more than the ${limit} positions of this GPT-2 model (n_positions in config.json)`);
}
