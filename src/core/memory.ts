// The one memory accounting of a training step: what the weights, the trained parameters, their gradients
// and AdamW moments, the activations and the logits take, and the peak that tf.profile measures (the engine's
// bytes in use, which `whetstone bench` reports as peakBytes). Pure arithmetic on the model's shape, no tfjs,
// so the app's model screen can use it on the main thread.
import type { ModelConfig } from './hf-config';

/** The fields of a model config the estimate reads; also what the app shows of a model (protocol.ts's ModelShape). */
export type MemoryModelShape = Pick<
  ModelConfig,
  | 'modelType'
  | 'vocabSize'
  | 'hiddenSize'
  | 'numLayers'
  | 'numHeads'
  | 'numKvHeads'
  | 'headDim'
  | 'intermediateSize'
  | 'maxPositions'
  | 'tieWordEmbeddings'
>;

/** Storage of LoRA's frozen base weights: f32, f16 (2 bytes) or int8 with a per-row f32 scale (1 byte). */
export type FrozenDtype = 'f32' | 'f16' | 'int8';
export const FROZEN_DTYPES: readonly FrozenDtype[] = ['f32', 'f16', 'int8'];
/** Bits per stored value of each storage (int8's scales aside). */
export const FROZEN_BITS: Record<FrozenDtype, number> = { f32: 32, f16: 16, int8: 8 };

export interface MemoryInput {
  config: MemoryModelShape;
  method: 'lora' | 'full';
  loraR: number;
  /** LoRA targets: module-name suffixes, or 'all-linear' (default). */
  targets?: string[] | 'all-linear';
  batch: number;
  seq: number;
  /** Storage of the frozen linear and vocabulary weights under LoRA (default f32). */
  frozenDtype?: FrozenDtype;
  /** Gradient checkpointing: a block keeps only its input for the backward, one block is recomputed at a time. */
  gradientCheckpointing?: boolean;
  // (LoRA dropout adds nothing: the fused linear layer draws its hashed masks again in the backward.)
}

export interface MemoryEstimate {
  /**
   * Base weights (under LoRA with frozenDtype f16 the linear and vocabulary weights count 2 bytes, with
   * int8 1 byte plus an f32 scale per stored row).
   */
  weightsBytes: number;
  /** The trained parameters: the LoRA matrices, or (full fine-tuning) every weight, already in weightsBytes. */
  trainableBytes: number;
  /** Their gradients, plus the partial gradients of a trained embedding alive at the end of the backward. */
  gradBytes: number;
  /** AdamW's two moments. */
  optimizerBytes: number;
  /** What the forward keeps for the backward and the backward's own intermediates, logits aside. */
  activationBytes: number;
  /** The logits-sized tensors: logits, their gradient and the copies around the loss. */
  logitsBytes: number;
  /**
   * The most tfjs holds at once (tf.profile's peakBytes): at the end of the backward, or in the AdamW update
   * (new params and moments).
   */
  peakBytes: number;
  /**
   * With packed frozen weights, the f32 copy of the largest one (the LM head, or a chunk of it) that a kernel
   * decodes and frees again: memory on top of peakBytes that tf.memory never counts. On the CPU backend
   * only: WebGPU needs none (the matmul's loads read the f16 or int8 bits in place).
   */
  cpuDecodeScratchBytes: number;
  /** The largest single buffer without a binding limit (see largestBindingName). */
  largestBindingBytes: number;
  largestBindingName: string;
  /**
   * The largest buffer the engine cannot split under WebGPU's maxStorageBufferBindingSize (vocabulary weights
   * go in row chunks and the LM head's logits in row blocks, so neither counts): what decides whether a
   * model fits an adapter.
   */
  largestUnsplitBytes: number;
  largestUnsplitName: string;
}

const F32 = 4;

/**
 * Logits of one row block, against the whole vocabulary, held at a time by a training step's LM head when its
 * logits would be larger (train/loss.ts's headLossAndGrad): 32 MiB, or the binding limit when lower. Defined
 * here, free of tfjs, so that the estimate and the head agree.
 */
export const HEAD_BLOCK_BYTES = 32 * 2 ** 20;

/**
 * Under gradient checkpointing a block runs and is recomputed for whole sequences of at most this many tokens
 * at a time (one sequence when longer), its parameter gradients summed over the slices (models/recompute.ts).
 */
export const RECOMPUTE_SLICE_TOKENS = 1024;

/**
 * The fused AdamW update (train/adamw.ts) takes the parameters in groups of at most this many bytes (a larger
 * tensor alone), so that new parameters and moments exist for one group at a time: 4 MiB.
 */
export const ADAMW_GROUP_BYTES = 4 * 2 ** 20;

/**
 * Floats per token per layer kept through the backward, and per token outside the layers, as measured with
 * tf.profile on the fused kernels (whetstone bench, CPU and WebGPU give the same bytes), with the backward
 * freeing each node's saved tensors and output gradients as it goes (tape.ts) and the blocks' reshapes and
 * residual adds saving nothing (kernels/views.ts): fitted on small shapes to within about 5 %. `recomputed`:
 * checkpointed, what the block being recomputed holds at its peak, in blocks' worth of what an unrecomputed
 * block keeps (more than its untaped forward holds). tests/unit/core/memory.test.ts holds the estimate to the
 * measured peak. GPT-2's layer refitted on today's kernels (1- and 2-layer pairs, d 32 and 64, 512 to 2,048
 * tokens, where 9.3 d + 1.5 I measured 25-30 % under), its recomputed share scaled so that the checkpointed
 * estimate stays where it was measured.
 */
const PER_TOKEN = {
  gpt2: { layerD: 12.4, layerI: 2, layerKv: 0, d: 9.5, logits: 3, recomputed: 1.61 },
  llama: { layerD: 11.9, layerI: 3.05, layerKv: 2, d: 7, logits: 4, recomputed: 1.6 },
};

/**
 * Vocabulary-sized weights the tape keeps a copy of: the LM head's matmul saves its weight, trained or not,
 * when the head runs whole (none in row blocks, none when packed; the embedding's gather keeps only the ids);
 * and, when the embedding trains, its two partial gradients (gather and head) before the sum.
 */
const SAVED_HEAD_COPIES = 1;
const EMBEDDING_GRAD_COPIES = 2;

export interface LinearShape {
  name: string;
  inFeatures: number;
  outFeatures: number;
}

/** One layer's linear modules (the LoRA targets and the weights f16 / int8 pack), by path inside the layer. */
export function layerLinears(c: MemoryModelShape): LinearShape[] {
  const d = c.hiddenSize;
  const I = c.intermediateSize;
  if (c.modelType === 'gpt2') {
    return [
      { name: 'attn.c_attn', inFeatures: d, outFeatures: 3 * d },
      { name: 'attn.c_proj', inFeatures: d, outFeatures: d },
      { name: 'mlp.c_fc', inFeatures: d, outFeatures: I },
      { name: 'mlp.c_proj', inFeatures: I, outFeatures: d },
    ];
  }
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  return [
    { name: 'self_attn.q_proj', inFeatures: d, outFeatures: q },
    { name: 'self_attn.k_proj', inFeatures: d, outFeatures: kv },
    { name: 'self_attn.v_proj', inFeatures: d, outFeatures: kv },
    { name: 'self_attn.o_proj', inFeatures: q, outFeatures: d },
    { name: 'mlp.gate_proj', inFeatures: d, outFeatures: I },
    { name: 'mlp.up_proj', inFeatures: d, outFeatures: I },
    { name: 'mlp.down_proj', inFeatures: I, outFeatures: d },
  ];
}

/** PEFT's rule (as lora.ts's matchesTarget) on layer 0's module path; every layer is taken to match alike. */
function targeted(c: MemoryModelShape, targets: string[] | 'all-linear', name: string): boolean {
  if (targets === 'all-linear') return true;
  const path = `${c.modelType === 'gpt2' ? 'transformer.h' : 'model.layers'}.0.${name}`;
  return targets.some((t) => path === t || path.endsWith(`.${t}`));
}

/**
 * Parameters: linear weights (all layers), vocabulary weights (the token embedding and an untied LM head),
 * the rest (position embeddings, norms, biases), and the token embedding alone.
 */
export function parameterCounts(c: MemoryModelShape): { linear: number; vocab: number; other: number; embedding: number } {
  const d = c.hiddenSize;
  const linear = c.numLayers * layerLinears(c).reduce((n, m) => n + m.inFeatures * m.outFeatures, 0);
  const embedding = c.vocabSize * d;
  const vocab = embedding + (c.tieWordEmbeddings ? 0 : c.vocabSize * d);
  let other = 0;
  if (c.modelType === 'gpt2') {
    other += c.maxPositions * d + 2 * d; // positions, final LayerNorm
    other += c.numLayers * (4 * d + 3 * d + d + c.intermediateSize + d); // LayerNorms and biases
  } else {
    other += d + c.numLayers * 2 * d; // RMSNorm weights
  }
  return { linear, vocab, other, embedding };
}

export function loraParameterCount(c: MemoryModelShape, r: number, targets: string[] | 'all-linear' = 'all-linear'): number {
  const perLayer = layerLinears(c)
    .filter((m) => targeted(c, targets, m.name))
    .reduce((n, m) => n + r * (m.inFeatures + m.outFeatures), 0);
  return perLayer * c.numLayers;
}

export function estimateMemory(x: MemoryInput): MemoryEstimate {
  const c = x.config;
  const lora = x.method === 'lora';
  // Packed frozen weights (f16 or int8): bytes per element of the linear and vocabulary weights.
  const packedBytes = !lora || !x.frozenDtype || x.frozenDtype === 'f32' ? 0 : FROZEN_BITS[x.frozenDtype] / 8;
  const packed = packedBytes > 0;
  const d = c.hiddenSize;
  const I = c.intermediateSize;
  const kv = c.numKvHeads * c.headDim;
  const tokens = x.batch * Math.min(x.seq, c.maxPositions);
  const { linear, vocab, other, embedding } = parameterCounts(c);
  // int8's scales: one f32 per stored row (HF Linear [out, in]: out; GPT-2 Conv1D [in, out]: in; vocabulary: V).
  const rowsPerLayer = layerLinears(c).reduce((n, m) => n + (c.modelType === 'gpt2' ? m.inFeatures : m.outFeatures), 0);
  const scaleBytes = packedBytes === 1 ? (c.numLayers * rowsPerLayer + vocab / d) * F32 : 0;

  const weightsBytes = other * F32 + (linear + vocab) * (packed ? packedBytes : F32) + scaleBytes;
  const trained = lora ? loraParameterCount(c, x.loraR, x.targets ?? 'all-linear') : linear + vocab + other;
  const trainableBytes = trained * F32;
  const gradBytes = trained * F32 + (lora ? 0 : EMBEDDING_GRAD_COPIES * embedding * F32);
  const optimizerBytes = 2 * trained * F32;
  const k = PER_TOKEN[c.modelType === 'gpt2' ? 'gpt2' : 'llama'];
  const perLayer = k.layerD * d + k.layerI * I + k.layerKv * kv;
  const ckpt = !!x.gradientCheckpointing;
  const t = Math.min(x.seq, c.maxPositions);
  // Checkpointed: every block's input [B, T, d], plus the block being recomputed for one slice of the batch
  // (whole sequences, RECOMPUTE_SLICE_TOKENS; the forward goes in the same slices): its tape and, while its
  // backward runs, the gradients of its intermediates as they are freed (k.recomputed blocks' worth).
  const layersFloats = ckpt ? c.numLayers * d : c.numLayers * perLayer;
  const sliceTokens = ckpt ? Math.min(tokens, Math.max(1, Math.floor(RECOMPUTE_SLICE_TOKENS / t)) * t) : 0;
  const recomputedBlock = Math.round(sliceTokens * F32 * k.recomputed * perLayer);
  // Checkpointed, each block also keeps its own reference to the tensors every layer reads (recompute.ts's
  // consts): the attention's key mask [1, T] and Llama's RoPE tables [T, head_dim] ×2. One buffer, but
  // tf.memory counts every reference. Unrecomputed, the per-token fit holds them.
  const layerConsts = ckpt ? F32 * (t + (c.modelType === 'gpt2' ? 0 : 2 * t * c.headDim)) : 0;
  // The LM head and loss go a row block at a time (train/loss.ts's headLossAndGrad) under checkpointing and
  // when the logits [tokens, V] are more than one block, saving no copy of the weight.
  const inBlocks = ckpt || tokens * F32 * c.vocabSize > HEAD_BLOCK_BYTES;
  const savedCopies = packed || inBlocks ? 0 : SAVED_HEAD_COPIES;
  const activationBytes =
    Math.round(tokens * F32 * (layersFloats + k.d * d)) + recomputedBlock + c.numLayers * layerConsts + savedCopies * embedding * F32;
  // In blocks, one row block's logits (≤ 32 MiB) and their gradient at a time, instead of the [N, V] logits
  // kept several times.
  const blockRows = Math.max(1, Math.min(tokens, Math.floor(HEAD_BLOCK_BYTES / (F32 * c.vocabSize))));
  const logitsBytes = inBlocks ? blockRows * F32 * 2 * c.vocabSize : tokens * F32 * k.logits * c.vocabSize;
  const cpuDecodeScratchBytes = packed ? Math.max(embedding, ...layerLinears(c).map((m) => m.inFeatures * m.outFeatures)) * F32 : 0;
  const resident = weightsBytes + (lora ? trainableBytes : 0) + optimizerBytes;
  // The head's logits come and go at the end of the forward, with only the head's own gradient (a trained
  // head's [V, d]) formed yet: the peak is then, or later in the backward with the gradients (and,
  // checkpointed, the slice being recomputed) on top of what the forward kept, not both. Unrecomputed, the
  // backward frees each layer's activations as its gradients form: at most the larger of the two.
  const kept = activationBytes - recomputedBlock;
  const backward = inBlocks
    ? Math.max(kept + logitsBytes + (lora ? 0 : embedding * F32), kept + recomputedBlock + gradBytes)
    : Math.max(activationBytes + logitsBytes + (lora ? 0 : embedding * F32), activationBytes, gradBytes); // (was their sum: 21-23 % over for full fine-tuning with a large vocabulary)
  // At the update: the gradients, and the new parameters, m and v of one group (train/adamw.ts) before they
  // replace the old. A group holds up to ADAMW_GROUP_BYTES of parameters, or one larger tensor.
  const largestTrained = lora
    ? x.loraR * Math.max(...layerLinears(c).map((m) => Math.max(m.inFeatures, m.outFeatures)))
    : Math.max(embedding, ...layerLinears(c).map((m) => m.inFeatures * m.outFeatures));
  const group = Math.min(trained * F32, Math.max(ADAMW_GROUP_BYTES, largestTrained * F32));
  const update = trained * F32 + 3 * group;
  const peakBytes = resident + Math.max(backward, update);

  const unsplit: [string, number][] = [
    [`an MLP weight [${I} × ${d}]`, I * d * (packed ? packedBytes : F32)],
    [`the MLP activations of one batch [${tokens} × ${I}]`, tokens * I * F32],
  ];
  const buffers: [string, number][] = [
    [`the token embedding [${c.vocabSize} × ${d}]`, embedding * (packed ? packedBytes : F32)],
    [`the logits of one batch [${x.batch} × ${Math.min(x.seq, c.maxPositions)} × ${c.vocabSize}]`, tokens * c.vocabSize * F32],
    ...unsplit,
  ];
  const largest = (list: [string, number][]) => list.reduce((a, b) => (b[1] > a[1] ? b : a));
  const [largestBindingName, largestBindingBytes] = largest(buffers);
  const [largestUnsplitName, largestUnsplitBytes] = largest(unsplit);
  return {
    weightsBytes,
    trainableBytes,
    gradBytes,
    optimizerBytes,
    activationBytes,
    logitsBytes,
    peakBytes,
    cpuDecodeScratchBytes,
    largestBindingBytes,
    largestBindingName,
    largestUnsplitBytes,
    largestUnsplitName,
  };
}
