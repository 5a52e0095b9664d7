// The memory estimate: its parameter counts against real models and adapters, f16 storage halving the linear
// and vocabulary weights, int8 storage's bytes against packed models, and its peak against the peak tf.profile
// measures in a benchmark step (within 15 %) for small GPT-2 (full) and Llama (LoRA, f32, f16 and int8 frozen
// weights) shapes. Runs on the cpu and on the webgpu backend.
import * as tf from '@tensorflow/tfjs';
import { describe, it, expect } from 'vitest';
import { estimateMemory, loraParameterCount, parameterCounts } from '../../../src/core/memory';
import { createRandomModel } from '../../../src/core/models/model';
import { createLora } from '../../../src/core/lora';
import { runPath } from '../../../bench/run';
import { configOf, resolveShape } from '../../../bench/shapes';

const LLAMA = resolveShape('smollm2-135m-lora', { layers: 2, d: 64, heads: 4, kvHeads: 2, seq: 32, batch: 2, vocab: 512 });
const GPT2 = resolveShape('tiny', { seq: 32, batch: 2 });

describe('memory estimate', () => {
  it('counts the parameters and LoRA parameters the models and adapters have', () => {
    for (const dims of [LLAMA, GPT2, resolveShape('gpt-10m', { d: 96, layers: 1, vocab: 300 })]) {
      const config = configOf(dims);
      const model = createRandomModel(config);
      const { linear, vocab, other } = parameterCounts(config);
      expect(linear + vocab + other).toBe(model.numParameters());
      for (const targets of ['all-linear', ['q_proj', 'v_proj'], ['c_attn'], ['c_proj']] as const) {
        const names = targets === 'all-linear' ? 'all-linear' : [...targets];
        const expected = model.linearModules().some((m) => names === 'all-linear' || names.some((t) => m.path.endsWith(`.${t}`)));
        if (!expected) continue;
        const adapter = createLora(model, { r: 4, alpha: 8, dropout: 0, targetModules: names, useRslora: false, fanInFanOut: false });
        expect(loraParameterCount(config, 4, names), JSON.stringify(targets)).toBe(adapter.numParameters());
      }
      model.dispose();
    }
  });

  it('f16 frozen weights halve the linear and vocabulary weights only under LoRA', () => {
    const config = configOf(LLAMA);
    const base = { config, loraR: 16, batch: 2, seq: 32 };
    const f32 = estimateMemory({ ...base, method: 'lora', frozenDtype: 'f32' });
    const f16 = estimateMemory({ ...base, method: 'lora', frozenDtype: 'f16' });
    const { linear, vocab } = parameterCounts(config);
    expect(f32.weightsBytes - f16.weightsBytes).toBe((linear + vocab) * 2);
    expect(f16.trainableBytes).toBe(f32.trainableBytes);
    const full = estimateMemory({ ...base, method: 'full', frozenDtype: 'f16' });
    expect(full.weightsBytes).toBe(f32.weightsBytes);
    expect(full.trainableBytes).toBe(full.weightsBytes);
    for (const e of [f32, f16, full]) {
      expect(e.peakBytes).toBeGreaterThan(e.weightsBytes + e.optimizerBytes);
      expect(e.largestBindingBytes).toBeGreaterThan(0);
    }
  });

  it('int8 frozen weights: the bytes a packed model holds (a byte per value, an f32 scale per row), GPT-2 and Llama', () => {
    for (const dims of [LLAMA, resolveShape('tiny', { seq: 32, batch: 2, vocab: 300 })]) {
      const config = configOf(dims);
      const model = createRandomModel(config);
      model.setTrainable(false);
      const before = tf.memory().numBytes;
      model.packFrozenWeights('int8');
      const after = tf.memory().numBytes;
      const base = { config, loraR: 4, batch: 1, seq: 8, method: 'lora' as const };
      const f32 = estimateMemory({ ...base, frozenDtype: 'f32' });
      const int8 = estimateMemory({ ...base, frozenDtype: 'int8' });
      // Within the padding of each tensor's last word (≤ 3 bytes a tensor).
      const padding = 3 * model.packed.size;
      expect(f32.weightsBytes - int8.weightsBytes, config.modelType).toBeGreaterThanOrEqual(before - after - padding);
      expect(f32.weightsBytes - int8.weightsBytes, config.modelType).toBeLessThanOrEqual(before - after);
      expect(int8.peakBytes).toBeLessThan(estimateMemory({ ...base, frozenDtype: 'f16' }).peakBytes);
      model.dispose();
    }
  });

  const DEEP = resolveShape('smollm2-135m-lora', { layers: 8, d: 64, heads: 4, kvHeads: 2, seq: 64, batch: 2, vocab: 128 });
  const cases = [
    { name: 'tiny GPT-2, full fine-tuning', dims: GPT2, frozenDtype: 'f32' as const },
    { name: 'tiny Llama, LoRA, f32 frozen weights', dims: LLAMA, frozenDtype: 'f32' as const },
    { name: 'tiny Llama, LoRA, f16 frozen weights', dims: LLAMA, frozenDtype: 'f16' as const },
    { name: 'tiny Llama, LoRA, int8 frozen weights', dims: LLAMA, frozenDtype: 'int8' as const },
    { name: '8-layer Llama, LoRA, gradient checkpointing', dims: DEEP, frozenDtype: 'f32' as const, ckpt: true },
    { name: 'tiny GPT-2, full fine-tuning, gradient checkpointing', dims: GPT2, frozenDtype: 'f32' as const, ckpt: true },
    // the AdamW update's peak: the logits and the vocabulary's gradients are never alive together (was 21 % over)
    {
      name: '1-layer GPT-2, full fine-tuning, vocabulary 32768',
      dims: resolveShape('tiny', { layers: 1, d: 32, seq: 16, batch: 1, vocab: 32768 }),
      frozenDtype: 'f32' as const,
    },
    // activations dominate: 4 × 256 tokens through 2 layers (was 10 % under)
    { name: '2-layer GPT-2, full fine-tuning, 4 × 256 tokens', dims: resolveShape('tiny', { seq: 256 }), frozenDtype: 'f32' as const },
    // 256 tokens, d 64: each block's reference to the RoPE tables and the key mask is half its input again
    {
      name: '12-layer Llama, LoRA, 256 tokens, gradient checkpointing',
      dims: { ...DEEP, layers: 12, seq: 256, batch: 1 },
      frozenDtype: 'f32' as const,
      ckpt: true,
    },
    // 2,048 tokens: each block runs and is recomputed for 1,024 of them at a time (RECOMPUTE_SLICE_TOKENS)
    {
      name: '2-layer Llama, LoRA, 64 × 32 tokens, gradient checkpointing in two slices',
      dims: { ...DEEP, layers: 2, seq: 32, batch: 64 },
      frozenDtype: 'f32' as const,
      ckpt: true,
    },
    // logits [256, 40000] over one 32 MiB row block: the head and loss go in row blocks (train/loss.ts)
    {
      name: '1-layer Llama, LoRA, vocabulary 40000, the head in row blocks',
      dims: { ...DEEP, layers: 1, d: 32, seq: 128, vocab: 40000 },
      frozenDtype: 'f32' as const,
    },
    {
      name: '4-layer Llama, LoRA, vocabulary 4096, f16, gradient checkpointing',
      dims: { ...DEEP, layers: 4, vocab: 4096 },
      frozenDtype: 'f16' as const,
      ckpt: true,
    },
    {
      name: '4-layer Llama, LoRA, vocabulary 4096, int8, gradient checkpointing',
      dims: { ...DEEP, layers: 4, vocab: 4096 },
      frozenDtype: 'int8' as const,
      ckpt: true,
    },
  ];
  for (const c of cases) {
    it(`is within 15 % of the peak a benchmark step measures: ${c.name}`, async () => {
      const r = await runPath(c.dims, true, {
        steps: 1,
        warmup: 0,
        lr: 1e-4,
        clip: 1,
        weightDecay: 0.01,
        seed: 0,
        frozenDtype: c.frozenDtype,
        gradientCheckpointing: c.ckpt,
      });
      const e = estimateMemory({
        config: configOf(c.dims),
        method: c.dims.loraR > 0 ? 'lora' : 'full',
        loraR: c.dims.loraR,
        batch: c.dims.batch,
        seq: c.dims.seq,
        frozenDtype: c.frozenDtype,
        gradientCheckpointing: c.ckpt,
      });
      expect(r.estimatedPeakBytes).toBe(e.peakBytes);
      expect(Math.abs(e.peakBytes - r.peakBytes) / r.peakBytes, `estimated ${e.peakBytes}, measured ${r.peakBytes}`).toBeLessThanOrEqual(
        0.15,
      );
    });
  }
});
