// The model screen's fit check (src/ui/memory.ts): vocabulary weights and logits over the adapter's
// per-buffer limit are split by the engine, so Qwen2.5-0.5B (a 544 MB f32 embedding) is not refused on an
// adapter that binds 128 MiB; what the engine cannot split (an MLP activation of a huge batch) still is.
import { describe, it, expect } from 'vitest';
import { estimateMemory } from '../../../src/ui/memory';
import type { AdapterSummary, ModelShape } from '../../../src/bridge/protocol';

const QWEN: ModelShape = {
  modelType: 'qwen2',
  vocabSize: 151936,
  hiddenSize: 896,
  numLayers: 24,
  numHeads: 14,
  numKvHeads: 2,
  headDim: 64,
  intermediateSize: 4864,
  maxPositions: 32768,
  tieWordEmbeddings: true,
};
const ADAPTER: AdapterSummary = {
  vendor: 'test',
  architecture: '',
  description: '',
  maxStorageBufferBindingSize: 128 * 2 ** 20,
  maxBufferSize: 256 * 2 ** 20,
  features: [],
};

describe('model screen memory estimate', () => {
  it('does not refuse a vocabulary larger than one binding (the engine chunks it)', () => {
    const e = estimateMemory({ shape: QWEN, method: 'lora', loraR: 8, batchSize: 4, seqLen: 256, adapter: ADAPTER });
    expect(e.largest.bytes).toBeGreaterThan(ADAPTER.maxStorageBufferBindingSize); // the embedding, 544 MB
    expect(e.wontFit).toBeNull();
  });

  it('refuses what cannot be split: MLP activations of one batch over the limit', () => {
    const e = estimateMemory({ shape: QWEN, method: 'lora', loraR: 8, batchSize: 16, seqLen: 1024, adapter: ADAPTER });
    expect(e.wontFit).toMatch(/MLP activations of one batch \[16384 × 4864\] needs 318\.8 MB in one buffer.*lower the batch size/);
  });

  it('16-bit frozen weights and gradient checkpointing lower the total', () => {
    const base = { shape: QWEN, method: 'lora' as const, loraR: 8, batchSize: 4, seqLen: 512, adapter: ADAPTER };
    const f32 = estimateMemory(base);
    const f16 = estimateMemory({ ...base, frozenDtype: 'f16' });
    const both = estimateMemory({ ...base, frozenDtype: 'f16', gradientCheckpointing: true });
    expect(f16.weights).toBeLessThan(0.55 * f32.weights);
    expect(f16.total).toBeLessThan(f32.total);
    expect(both.total).toBeLessThan(0.5 * f16.total);
  });
});
