// The model screen's memory figures: src/core/memory.ts's accounting (the one `whetstone bench` checks against
// measured peaks) for the chosen settings, and whether the largest single buffer fits the adapter's
// per-buffer limit, which WebGPU refuses before the total.
import type { AdapterSummary, ModelShape } from '../bridge/protocol';
import { estimateMemory as estimateCore, type FrozenDtype } from '../core/memory';

export interface MemoryEstimate {
  weights: number;
  trainable: number;
  /** Gradients + AdamW moments of the trainable parameters. */
  optimizer: number;
  /** Activations kept for the backward pass, logits included. */
  activations: number;
  /** The peak of a training step. */
  total: number;
  largest: { name: string; bytes: number };
  /** Why it will not run on this adapter, or null. */
  wontFit: string | null;
  /** A softer warning (large total). */
  warning: string | null;
}

export interface EstimateInput {
  shape: ModelShape;
  method: 'lora' | 'full';
  loraR: number;
  targets?: string[] | 'all-linear';
  frozenDtype?: FrozenDtype;
  gradientCheckpointing?: boolean;
  batchSize: number;
  seqLen: number;
  adapter: AdapterSummary | null;
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

export function estimateMemory(x: EstimateInput): MemoryEstimate {
  const e = estimateCore({
    config: x.shape,
    method: x.method,
    loraR: x.loraR,
    targets: x.targets,
    batch: x.batchSize,
    seq: x.seqLen,
    frozenDtype: x.frozenDtype,
    gradientCheckpointing: x.gradientCheckpointing,
  });
  const total = e.peakBytes; // WebGPU reads packed f16 / int8 weights in place: no decode scratch
  const largest = { name: e.largestBindingName, bytes: e.largestBindingBytes };
  let wontFit: string | null = null;
  const limit = x.adapter?.maxStorageBufferBindingSize;
  // Vocabulary weights and logits over the limit are split by the engine; only the rest must fit one buffer.
  if (limit && e.largestUnsplitBytes > limit) {
    wontFit =
      `won't fit: ${e.largestUnsplitName} needs ${formatBytes(e.largestUnsplitBytes)} in one buffer, but this GPU allows at most ` +
      `${formatBytes(limit)} per buffer (maxStorageBufferBindingSize)` +
      (e.largestUnsplitName.includes('of one batch') ? '; lower the batch size or the max length' : '');
  }
  let warning: string | null = null;
  if (!wontFit && total > 4e9) warning = `about ${formatBytes(total)} of GPU memory is needed: more than most laptops have free`;
  return {
    weights: e.weightsBytes,
    trainable: e.trainableBytes,
    optimizer: e.gradBytes + e.optimizerBytes,
    activations: e.activationBytes + e.logitsBytes,
    total,
    largest,
    wontFit,
    warning,
  };
}
