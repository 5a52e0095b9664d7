// A memory estimate for training a model on WebGPU, and whether it fits the adapter's per-buffer limit.
// Rough by design (f32 everywhere, activations kept for the backward pass); it names the largest single
// buffer because that, not the total, is what WebGPU refuses first.
import type { AdapterSummary, ModelShape } from '../bridge/protocol';

export interface MemoryEstimate {
  weights: number;
  trainable: number;
  /** Gradients + AdamW moments of the trainable parameters. */
  optimizer: number;
  activations: number;
  total: number;
  largest: { name: string; bytes: number };
  /** Why it will not run on this adapter, or null. */
  wontFit: string | null;
  /** A softer warning (large total). */
  warning: string | null;
}

export interface EstimateInput {
  shape: ModelShape;
  numParameters: number;
  method: 'lora' | 'full';
  loraR: number;
  batchSize: number;
  seqLen: number;
  adapter: AdapterSummary | null;
}

const F32 = 4;

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** LoRA parameters with every linear layer adapted (the default target preset, all-linear). */
export function loraParameters(s: ModelShape, r: number): number {
  const d = s.hiddenSize;
  const q = s.numHeads * s.headDim;
  const kv = s.numKvHeads * s.headDim;
  const I = s.intermediateSize;
  const perLayer =
    s.modelType === 'gpt2'
      ? r * (d + 3 * d) + r * (d + d) + r * (d + I) + r * (I + d)
      : r * (d + q) + 2 * r * (d + kv) + r * (q + d) + 2 * r * (d + I) + r * (I + d);
  return perLayer * s.numLayers;
}

export function estimateMemory(x: EstimateInput): MemoryEstimate {
  const s = x.shape;
  const B = x.batchSize;
  const T = Math.min(x.seqLen, s.maxPositions);
  const weights = x.numParameters * F32;
  const trainableParams = x.method === 'lora' ? loraParameters(s, x.loraR) : x.numParameters;
  const trainable = trainableParams * F32;
  const optimizer = trainable * 3;
  // Per layer: residual stream, norms, q/k/v/o, MLP hidden (×2 for gated) and attention scores.
  const perLayer = B * T * (10 * s.hiddenSize + 3 * s.intermediateSize) + 2 * B * s.numHeads * T * T;
  const logits = B * T * s.vocabSize * 3; // logits, softmax, their gradient
  const activations = (perLayer * s.numLayers + logits) * F32;
  const total = weights + optimizer + (x.method === 'lora' ? trainable : 0) + activations;
  const buffers = [
    { name: `the token embedding [${s.vocabSize} × ${s.hiddenSize}]`, bytes: s.vocabSize * s.hiddenSize * F32 },
    { name: `the logits of one batch [${B} × ${T} × ${s.vocabSize}]`, bytes: B * T * s.vocabSize * F32 },
    { name: `an MLP weight [${s.intermediateSize} × ${s.hiddenSize}]`, bytes: s.intermediateSize * s.hiddenSize * F32 },
    { name: `the attention scores [${B} × ${s.numHeads} × ${T} × ${T}]`, bytes: B * s.numHeads * T * T * F32 },
  ];
  const largest = buffers.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  let wontFit: string | null = null;
  const limit = x.adapter?.maxStorageBufferBindingSize;
  if (limit && largest.bytes > limit) {
    wontFit =
      `won't fit: ${largest.name} needs ${formatBytes(largest.bytes)} in one buffer, but this GPU allows at most ` +
      `${formatBytes(limit)} per buffer (maxStorageBufferBindingSize)` +
      (largest.name.startsWith('the logits') ? '; lower the batch size or the max length' : '');
  }
  let warning: string | null = null;
  if (!wontFit && total > 4e9) warning = `about ${formatBytes(total)} of GPU memory is needed: more than most laptops have free`;
  return { weights, trainable, optimizer, activations, total, largest, wontFit, warning };
}
