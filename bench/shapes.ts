// The benchmark's named model shapes (issue 6), each a Hugging Face config built in code with random weights,
// and the command-line overrides of their dimensions.
import { parseModelConfig, type ModelConfig } from '../src/core/hf-config';

export const SHAPE_NAMES = ['tiny', 'gpt-10m', 'gpt2-124m', 'smollm2-135m-lora'] as const;
export type ShapeName = (typeof SHAPE_NAMES)[number];

export interface ShapeDims {
  family: 'gpt2' | 'llama';
  layers: number;
  d: number;
  heads: number;
  kvHeads: number;
  /** MLP width; GPT-2 uses 4d. */
  intermediate: number;
  seq: number;
  batch: number;
  vocab: number;
  /** LoRA rank on every linear layer (base frozen), or 0 for full fine-tuning. */
  loraR: number;
}

export type ShapeOverrides = Partial<Pick<ShapeDims, 'layers' | 'd' | 'heads' | 'kvHeads' | 'seq' | 'batch' | 'vocab' | 'intermediate'>>;

const PRESETS: Record<ShapeName, ShapeDims> = {
  tiny: { family: 'gpt2', layers: 2, d: 64, heads: 4, kvHeads: 4, intermediate: 256, seq: 64, batch: 4, vocab: 512, loraR: 0 },
  'gpt-10m': { family: 'gpt2', layers: 6, d: 384, heads: 6, kvHeads: 6, intermediate: 1536, seq: 256, batch: 16, vocab: 512, loraR: 0 },
  'gpt2-124m': {
    family: 'gpt2',
    layers: 12,
    d: 768,
    heads: 12,
    kvHeads: 12,
    intermediate: 3072,
    seq: 512,
    batch: 4,
    vocab: 50304,
    loraR: 0,
  },
  'smollm2-135m-lora': {
    family: 'llama',
    layers: 30,
    d: 576,
    heads: 9,
    kvHeads: 3,
    intermediate: 1536,
    seq: 512,
    batch: 8,
    vocab: 49152,
    loraR: 16,
  },
};

/**
 * The preset with overrides applied. Overriding d keeps the MLP ratio (4 for GPT-2, 1536/576 for Llama) and,
 * when the preset's head count does not divide the new d (and --heads is not given), takes the largest
 * head count below it that does.
 */
export function resolveShape(name: string, o: ShapeOverrides = {}): ShapeDims {
  const base = PRESETS[name as ShapeName];
  if (!base) throw new Error(`unknown shape ${name} (known: ${SHAPE_NAMES.join(', ')})`);
  const dims = { ...base };
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (dims as Record<string, unknown>)[k] = v;
  if (o.d !== undefined && o.intermediate === undefined) dims.intermediate = Math.round((base.intermediate / base.d) * o.d);
  // Positive integers first (a d of 0 or a fraction would send the head search below round forever).
  for (const [k, v] of Object.entries(dims)) {
    if (typeof v === 'number' && k !== 'loraR' && !(Number.isInteger(v) && v > 0))
      throw new Error(`${k} must be a positive integer, got ${v}`);
  }
  const headsFit = (h: number) => dims.d % h === 0 && (dims.family !== 'llama' || (dims.d / h) % 2 === 0); // RoPE: even head dim
  if (o.d !== undefined && o.heads === undefined && !headsFit(dims.heads)) {
    // e.g. gpt-10m with --d 64: 6 heads do not divide 64; take the most heads (≤ the preset's) that do.
    let h = dims.heads;
    while (h > 1 && !headsFit(h)) h--;
    dims.heads = h;
  }
  if (dims.family === 'gpt2') {
    if (o.kvHeads !== undefined && o.kvHeads !== dims.heads)
      throw new Error('--kv-heads applies to Llama shapes only (GPT-2 has one key/value head per query head)');
    dims.kvHeads = dims.heads;
  } else if (o.kvHeads === undefined && dims.heads % dims.kvHeads !== 0) {
    // the heads changed (--heads, or derived from --d): the preset's key/value heads if they still divide them, else as many as divide
    let kv = Math.min(base.kvHeads, dims.heads);
    while (dims.heads % kv !== 0) kv--;
    dims.kvHeads = kv;
  }
  if (dims.d % dims.heads !== 0) throw new Error(`d ${dims.d} is not divisible by heads ${dims.heads}`);
  if (dims.family === 'llama' && (dims.d / dims.heads) % 2 !== 0)
    throw new Error(`the head dimension d / heads = ${dims.d / dims.heads} is odd: RoPE rotates pairs (choose d and heads so it is even)`);
  if (dims.heads % dims.kvHeads !== 0) throw new Error(`heads ${dims.heads} is not a multiple of kv-heads ${dims.kvHeads}`);
  if (dims.seq < 2) throw new Error('seq must be at least 2 (the loss predicts the next token)');
  return dims;
}

/** The HF config.json a model of these dimensions would have (no dropout, so steps are deterministic). */
export function configOf(s: ShapeDims): ModelConfig {
  if (s.family === 'gpt2') {
    return parseModelConfig({
      model_type: 'gpt2',
      vocab_size: s.vocab,
      n_embd: s.d,
      n_layer: s.layers,
      n_head: s.heads,
      n_inner: s.intermediate,
      n_positions: s.seq,
      embd_pdrop: 0,
      attn_pdrop: 0,
      resid_pdrop: 0,
      tie_word_embeddings: true,
    });
  }
  return parseModelConfig({
    model_type: 'llama',
    vocab_size: s.vocab,
    hidden_size: s.d,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.kvHeads,
    intermediate_size: s.intermediate,
    max_position_embeddings: s.seq,
    rms_norm_eps: 1e-5,
    rope_theta: 100000,
    tie_word_embeddings: true,
  });
}
