// A GPU device lost mid-run (here: destroyed, as a driver reset or a lost tab does): the run stops with a
// clear DeviceError instead of hanging, and the last checkpoint resumes the run on a re-initialised backend.
import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../../src/core/models/model';
import { loadTokenizer } from '../../src/core/tokenizer';
import { Trainer } from '../../src/core/train/trainer';
import { resolveTrainConfig } from '../../src/core/train/config';
import { setupMethod } from '../../src/core/train/job';
import { tokenizeExamples } from '../../src/core/data/tokenize';
import { DeviceError } from '../../src/core/errors';
import { reinitBackend } from '../../src/core/backend';
import { applyState, decodeState, encodeState } from '../../src/core/checkpoint';
import { fixtureSource } from '../helpers';

describe('device loss', () => {
  it('stops the run with a DeviceError, never a hang, and resumes from the last checkpoint after re-initialisation', async () => {
    const tok = await loadTokenizer(fixtureSource('tok-llama'));
    const seqs = tokenizeExamples(Array.from({ length: 8 }, (_, i) => ({ prompt: `Q${i}:`, completion: ` A${i}` })), tok, { mode: 'completion', maxLength: 16 }).sequences;
    const model = await loadModel(fixtureSource('model-llama'));
    const config = resolveTrainConfig({ method: 'lora', steps: 6, batchSize: 4, valRatio: 0, checkpointEvery: 2 });
    let last: Uint8Array | null = null;
    const { trainables, noDecay } = setupMethod(model, config);
    const steps: number[] = [];
    const trainer = new Trainer(model, {
      config, train: seqs, val: [], padId: 0, trainables, noDecay,
      onCheckpoint: async (t) => {
        last = await encodeState(t, { base: { name: 'fixture', modelType: 'llama', configHash: '', numParameters: 0, config: {} }, datasetHash: '', tokenizerHash: '' });
      },
      onEvent: (e) => {
        if (e.type !== 'step') return;
        steps.push(e.step);
        if (e.step === 3) (tf.backend() as unknown as { device: { destroy(): void } }).device.destroy();
      },
    });
    const outcome = await Promise.race([
      trainer.run().then(() => 'finished', (e: unknown) => e),
      new Promise((r) => setTimeout(() => r('hang'), 60_000)),
    ]);
    expect(outcome).toBeInstanceOf(DeviceError);
    expect((outcome as Error).message).toMatch(/GPU device was lost/);
    expect(steps.at(-1)).toBeLessThan(6);

    // Re-initialise the backend, reload the model and the last checkpoint, and finish the run.
    await reinitBackend();
    expect(last).not.toBeNull();
    const state = await decodeState(last!, 'state.whetstone');
    expect(state.meta.trainer.step).toBe(2);
    const again = await loadModel(fixtureSource('model-llama'));
    const m = setupMethod(again, config);
    const resumed = new Trainer(again, { config, train: seqs, val: [], padId: 0, trainables: m.trainables, noDecay: m.noDecay });
    applyState(resumed, state);
    const summary = await resumed.run();
    expect(summary.steps).toBe(6);
    expect(Number.isFinite(summary.train_loss)).toBe(true);
    resumed.dispose();
    again.dispose();
  });
});
