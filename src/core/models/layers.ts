// Building blocks shared by the model families: linear layers (with an optional LoRA branch), norms,
// activations, RoPE and causal self-attention. Shapes: B batch, T new positions, S key positions, d width,
// H query heads, K key/value heads, D head size.
import * as tf from '@tensorflow/tfjs';
import type { LoraAdapter } from '../lora';
import * as fk from '../kernels'; // [fused kernels]
import { recomputed } from './recompute';

export interface ForwardOptions {
  /** [B, S] 1 for real tokens, 0 for padding, over past + new positions. */
  attentionMask?: tf.Tensor2D;
  /** Dropout on (training) or off (evaluation, generation). */
  training?: boolean;
  /** Seeds for dropout masks, drawn in a fixed order so that a resumed run draws the same ones. */
  nextSeed?: () => number;
  /** Key/value cache for incremental decoding; updated in place. */
  cache?: KVCache;
  /** Gradient checkpointing: each block's activations are recomputed in the backward (training only). */
  checkpoint?: boolean;
  /**
   * Set by recompute.ts while a block runs on sequences [start, start + rows) of the batch: dropout then draws
   * those rows of the whole batch's masks.
   */
  slice?: { start: number; rows: number };
}

/** Per-layer keys and values of the positions already seen: [B, K, S, D] each. */
export class KVCache {
  keys: (tf.Tensor4D | null)[];
  values: (tf.Tensor4D | null)[];
  length = 0;
  constructor(numLayers: number) {
    this.keys = new Array(numLayers).fill(null);
    this.values = new Array(numLayers).fill(null);
  }
  /** Appends this step's k/v [B, K, T, D] for `layer` and returns the full ones [B, K, S, D] (kept alive). */
  append(layer: number, k: tf.Tensor4D, v: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
    const pk = this.keys[layer];
    const pv = this.values[layer];
    const nk = tf.keep(pk ? tf.concat([pk, k], 2) : k.clone());
    const nv = tf.keep(pv ? tf.concat([pv, v], 2) : v.clone());
    pk?.dispose();
    pv?.dispose();
    this.keys[layer] = nk;
    this.values[layer] = nv;
    return [nk, nv];
  }
  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t?.dispose();
    this.keys.fill(null);
    this.values.fill(null);
    this.length = 0;
  }
}

/** What a model needs to run a linear layer: its weights by HF name and the LoRA adapter, if any. */
export interface LinearContext {
  params: Map<string, tf.Variable>;
  /** Frozen weights kept packed (under LoRA with frozenDtype f16 or int8), by HF name; absent from `params`. */
  packed?: Map<string, fk.PackedWeight>;
  adapter: LoraAdapter | null;
  opts: ForwardOptions;
}

/** The trained tensors of one block (names starting with `prefix`): its trainable base weights and LoRA matrices. */
export function trainedIn(ctx: LinearContext, prefix: string): tf.Tensor[] {
  const trains = (v: tf.Tensor) => !(v instanceof tf.Variable) || v.trainable;
  const out: tf.Tensor[] = [];
  for (const [name, v] of ctx.params) if (v.trainable && name.startsWith(prefix)) out.push(v);
  for (const [path, l] of ctx.adapter?.layers ?? []) if (path.startsWith(prefix)) out.push(...[l.A, l.B].filter(trains));
  return out;
}

/**
 * One block applied to x: directly, or (training with opts.checkpoint, no cache) with its activations
 * recomputed in the backward (recompute.ts). `prefix` names the block's parameters ("model.layers.3.");
 * `consts` are the shared tensors it reads (RoPE tables, the attention mask's keys), handed back to `block`.
 */
export function eachLayer<C extends tf.Tensor[]>(
  ctx: LinearContext,
  prefix: string,
  x: tf.Tensor3D,
  consts: C,
  block: (ctx: LinearContext, x: tf.Tensor3D, consts: C) => tf.Tensor3D,
): tf.Tensor3D {
  const { opts } = ctx;
  if (!(opts.checkpoint && opts.training) || opts.cache) return tf.tidy(() => block(ctx, x, consts));
  const run = (xi: tf.Tensor, cs: tf.Tensor[], o: ForwardOptions) => block({ ...ctx, opts: o }, xi as tf.Tensor3D, cs as C);
  return recomputed(run, x, consts, trainedIn(ctx, prefix), opts) as tf.Tensor3D;
}

export function param(ctx: { params: Map<string, tf.Variable> }, name: string): tf.Variable {
  const p = ctx.params.get(name);
  if (!p) throw new Error(`missing parameter ${name}`);
  return p;
}

/** x as `shape` (same data). [fused kernels] Its backward keeps nothing alive, where tf.reshape's keeps x. */
export function view<T extends tf.Tensor>(x: tf.Tensor, shape: number[]): T {
  return (fk.fusedKernelsEnabled() ? fk.fusedView<T>(x, shape) : tf.reshape(x, shape)) as T;
}

/** The residual stream x plus a block's output y of the same shape. [fused kernels] Nothing kept for the backward. */
export function residual<T extends tf.Tensor>(x: T, y: tf.Tensor): T {
  return (fk.fusedKernelsEnabled() ? fk.fusedResidualAdd(x, y) : tf.add(x, y)) as T;
}

/**
 * The seed and first-element index of a dropout mask on a tensor of `size` elements (kernels/dropout.ts hashes
 * both): the next seed of opts.nextSeed, and the tensor's index in the whole batch. The tensor, [B, …] or
 * [B·T, …], is batch-major; when a block runs a slice of the batch, its first `opts.slice.rows` sequences
 * are sequence `opts.slice.start` on.
 */
function maskOf(size: number, opts: ForwardOptions): { seed: number; offset: number } {
  const seed = opts.nextSeed ? opts.nextSeed() : fk.randomDropoutSeed();
  return { seed, offset: opts.slice ? opts.slice.start * (size / opts.slice.rows) : 0 };
}

/** Dropout while training (kernels/dropout.ts's hashed masks, maskOf). */
export function dropout(x: tf.Tensor, rate: number, opts: ForwardOptions): tf.Tensor {
  if (!opts.training || rate <= 0) return x;
  const { seed, offset } = maskOf(x.size, opts);
  return fk.hashDropout(x, rate, seed, offset);
}

/**
 * y = x Wᵀ + b for HF Linear (weight [out, in]) or x W + b for GPT-2 Conv1D (weight [in, out]), plus the
 * LoRA branch (dropout(x) Aᵀ Bᵀ · scale) when the adapter targets `module`. x: [N, in] → [N, out].
 */
export function linear(ctx: LinearContext, module: string, x: tf.Tensor2D, conv1d: boolean, bias: boolean): tf.Tensor2D {
  const packed = ctx.packed?.get(`${module}.weight`);
  const b = bias ? param(ctx, `${module}.bias`) : undefined;
  const l = ctx.adapter?.layers.get(module);
  const rate = l && ctx.opts.training ? ctx.adapter!.config.dropout : 0;
  if (fk.fusedKernelsEnabled()) {
    // [fused kernels] x W + b and the LoRA branch (its dropout too) as one kernel, which keeps only x
    const w = packed ?? (param(ctx, `${module}.weight`) as tf.Tensor2D);
    const drop = rate > 0 ? { rate, ...maskOf(x.size, ctx.opts) } : undefined;
    return fk.fusedLinear(x, w, conv1d, b, l && { A: l.A, B: l.B, scale: l.scale, dropout: drop });
  }
  const w = packed ? (fk.unpackWeight(packed) as tf.Tensor2D) : (param(ctx, `${module}.weight`) as tf.Tensor2D);
  let y: tf.Tensor2D = tf.matMul(x, w, false, !conv1d);
  if (b) y = tf.add(y, b) as tf.Tensor2D;
  if (l) {
    const xd = dropout(x, rate, ctx.opts) as tf.Tensor2D;
    const down = tf.mul(tf.matMul(xd, l.A as tf.Tensor2D, false, true), l.scale); // [N, r]
    y = tf.add(y, tf.matMul(down, l.B as tf.Tensor2D, false, true)) as tf.Tensor2D; // + [N, out]
  }
  return y;
}

/** LayerNorm over the last axis: (x - mean) / sqrt(var + eps) · w + b (biased variance, as torch). */
export function layerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  if (fk.fusedKernelsEnabled()) return fk.fusedLayerNorm(x, w, b, eps); // [fused kernels]
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), w), b);
}

/** RMSNorm: w · x / sqrt(mean(x²) + eps). */
export function rmsNorm(x: tf.Tensor, w: tf.Tensor, eps: number): tf.Tensor {
  if (fk.fusedKernelsEnabled()) return fk.fusedRmsNorm(x, w, eps); // [fused kernels]
  const ms = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), w);
}

/** GPT-2's gelu_new: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))). */
export function geluNew(x: tf.Tensor): tf.Tensor {
  if (fk.fusedKernelsEnabled()) return fk.fusedGeluNew(x); // [fused kernels]
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/** SwiGLU's gate: silu(gate) · up = gate · σ(gate) · up. [fused kernels] one kernel each way when on. */
export function siluGate(gate: tf.Tensor, up: tf.Tensor): tf.Tensor {
  if (fk.fusedKernelsEnabled()) return fk.fusedSiluGate(gate, up);
  return tf.mul(tf.mul(gate, tf.sigmoid(gate)), up);
}

/** cos and sin tables [T, D] for positions offset..offset+T-1 (rotate-half layout: frequencies repeated). */
export function ropeTables(offset: number, t: number, headDim: number, theta: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const half = headDim / 2;
  const cos = new Float32Array(t * headDim);
  const sin = new Float32Array(t * headDim);
  for (let i = 0; i < half; i++) {
    // As transformers: inv_freq computed in float32.
    const invFreq = Math.fround(1 / Math.fround(Math.pow(theta, Math.fround((2 * i) / headDim))));
    for (let p = 0; p < t; p++) {
      const angle = Math.fround((offset + p) * invFreq);
      cos[p * headDim + i] = cos[p * headDim + i + half] = Math.cos(angle);
      sin[p * headDim + i] = sin[p * headDim + i + half] = Math.sin(angle);
    }
  }
  return { cos: tf.tensor2d(cos, [t, headDim]), sin: tf.tensor2d(sin, [t, headDim]) };
}

/** x · cos + rotate_half(x) · sin for x [B, H, T, D]; rotate_half(x) = [-x₂, x₁]. */
export function applyRope(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  if (fk.fusedKernelsEnabled()) return fk.fusedRope(x, cos, sin); // [fused kernels]
  const half = x.shape[3] / 2;
  const [x1, x2] = tf.split(x, [half, half], 3);
  const rotated = tf.concat([tf.neg(x2), x1], 3);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin)) as tf.Tensor4D;
}

/**
 * The key mask attention reads, [B, S] over past + new positions (1 real, 0 padding; `mask` cast to f32), or
 * ones [1, S] without one: O(S) memory. Queries see keys causally besides: query i of T new positions is at
 * position S − T + i and sees keys j ≤ S − T + i. The fused kernel computes each score's bias from it, the
 * plain path materializes attentionBias.
 */
export function attentionKeys(t: number, past: number, mask?: tf.Tensor2D): tf.Tensor2D {
  // tf.fill runs on the backend (tf.ones would upload a new array each forward).
  return mask ? (tf.cast(mask, 'float32') as tf.Tensor2D) : tf.fill([1, past + t], 1, 'float32');
}

/**
 * The additive bias [B|1, 1, T, S] of T queries over the key mask [B|1, S]: 0 where query i may see key j, a
 * large negative number elsewhere: min(causal + (1 − keys) · −1e9, 0) (the fused kernel computes the same
 * f32 values in place).
 */
export function attentionBias(t: number, keys: tf.Tensor2D): tf.Tensor4D {
  const s = keys.shape[1];
  const past = s - t;
  const causal = new Float32Array(t * s);
  for (let i = 0; i < t; i++) for (let j = 0; j < s; j++) causal[i * s + j] = j <= past + i ? 0 : -1e9;
  const pad = tf.mul(tf.sub(1, keys), -1e9).reshape([keys.shape[0], 1, 1, s]);
  return tf.minimum(tf.add(tf.tensor4d(causal, [1, 1, t, s]), pad), 0) as tf.Tensor4D;
}

/** Splits [B, T, n·D] into heads [B, n, T, D]. */
export function splitHeads(x: tf.Tensor, b: number, t: number, n: number, d: number): tf.Tensor4D {
  if (fk.fusedKernelsEnabled()) return fk.fusedSplitHeads(x, b, t, n); // [fused kernels]
  return tf.transpose(tf.reshape(x, [b, t, n, d]), [0, 2, 1, 3]);
}

/** Splits [B, T, parts·n·D] along its last axis into `parts` equal tensors, each into heads [B, n, T, D]. */
export function splitHeadsParts(x: tf.Tensor, b: number, t: number, n: number, d: number, parts: number): tf.Tensor4D[] {
  if (fk.fusedKernelsEnabled()) return fk.fusedSplitHeadsParts(x, b, t, n, parts); // [fused kernels] one program a part
  return tf.split(tf.reshape(x, [b, t, parts * n * d]), parts, 2).map((p) => splitHeads(p, b, t, n, d));
}

/** Splits [B, T, n·D] into heads [B, n, T, D] and applies RoPE (cos/sin [T, D]): applyRope(splitHeads(x)). */
export function splitHeadsRope(x: tf.Tensor, b: number, t: number, n: number, d: number, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  if (fk.fusedKernelsEnabled()) return fk.fusedSplitRope(x, b, t, n, cos, sin); // [fused kernels] one pass
  return applyRope(splitHeads(x, b, t, n, d), cos, sin);
}

/**
 * Causal scaled dot-product attention with grouped key/value heads and a key mask (attentionKeys).
 * q [B, H, T, D], k/v [B, K, S, D], keys [B|1, S] → [B, T, H·D].
 */
export function attention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  keys: tf.Tensor2D,
  dropRate: number,
  opts: ForwardOptions,
): tf.Tensor3D {
  const [b, h, t, d] = q.shape;
  const kvHeads = k.shape[1];
  // [fused kernels] scale + bias + softmax + dropout + both matmuls + head merge as one kernel, grouped
  // key/value heads used in place (no repeat); the dropout mask that of the probabilities [B, H, T, S] below.
  if (fk.fusedKernelsEnabled()) {
    const drop = opts.training && dropRate > 0 ? { rate: dropRate, ...maskOf(b * h * t * k.shape[2], opts) } : undefined;
    return fk.fusedAttention(q, k, v, keys, 1 / Math.sqrt(d), drop);
  }
  if (kvHeads !== h) {
    // repeat_interleave: key/value head j serves query heads j·rep … (j+1)·rep − 1.
    const rep = h / kvHeads;
    const heads = tf.tensor1d(
      Array.from({ length: h }, (_, i) => Math.floor(i / rep)),
      'int32',
    );
    k = tf.gather(k, heads, 1);
    v = tf.gather(v, heads, 1);
  }
  const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d)), attentionBias(t, keys)); // [B, H, T, S]
  const probs = dropout(tf.softmax(scores, -1), dropRate, opts);
  const out = tf.matMul(probs as tf.Tensor4D, v); // [B, H, T, D]
  return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [b, t, h * d]);
}
