// What a model family file provides, so that the rest of the engine (loading, LoRA, training, export)
// never needs to know which family it runs.
import type * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../hf-config';
import type { LinearContext } from './layers';

export interface LinearModule {
  /** HF module path, e.g. `model.layers.0.self_attn.q_proj` or `transformer.h.0.attn.c_attn`. */
  path: string;
  inFeatures: number;
  outFeatures: number;
  /** GPT-2 Conv1D: weight stored [in, out]. */
  conv1d: boolean;
}

export interface ModelFamily {
  /** Every parameter by canonical HF name, with its shape (tied weights once). */
  parameterShapes(c: ModelConfig): Map<string, number[]>;
  /** Linear layers LoRA can target (never the LM head). */
  linearModules(c: ModelConfig): LinearModule[];
  /** Maps a checkpoint tensor name to the canonical parameter name, or null for buffers to ignore. */
  canonicalName(name: string): string | null;
  /** ids [B, T] → the LM head's input [B·T, d] (after the final norm); the model applies the head. */
  hidden(c: ModelConfig, ctx: LinearContext, ids: tf.Tensor2D): tf.Tensor2D;
  /** The LM head's weight [V, d]: the embedding when tied. */
  headName(c: ModelConfig): string;
  /** Parameters HF's Trainer exempts from weight decay by default. */
  isNormOrBias(name: string): boolean;
  embeddingName: string;
}
