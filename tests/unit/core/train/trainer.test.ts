// The trainer on both backends: full fine-tuning reproduces torch.optim.AdamW's losses on the GPT-2
// fixture; a run saved and resumed in a fresh trainer equals one run; non-finite steps are skipped and
// three in a row roll back with a halved learning rate.
import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../../../../src/core/models/model';
import { loadTokenizer } from '../../../../src/core/tokenizer';
import { Trainer, type TrainEvent } from '../../../../src/core/train/trainer';
import { resolveTrainConfig, type TrainConfig } from '../../../../src/core/train/config';
import { setupMethod } from '../../../../src/core/train/job';
import { applyState, decodeState, encodeState } from '../../../../src/core/checkpoint';
import { tokenizeExamples, type Sequence } from '../../../../src/core/data/tokenize';
import { learningRate } from '../../../../src/core/train/schedule';
import { fixtureJson, fixtureSource, readReference } from '../../../helpers';

const webgpu = process.env.WHETSTONE_BACKEND === 'webgpu';
const BASE = { name: 'fixture', modelType: 'llama', configHash: 'x', numParameters: 0, config: {} };

async function sequences(): Promise<Sequence[]> {
  const tok = await loadTokenizer(fixtureSource('tok-llama'));
  const examples = Array.from({ length: 12 }, (_, i) => ({ prompt: `Question ${i}: is it ${i % 2 ? 'odd' : 'even'}?`, completion: i % 2 ? ' odd' : ' even' }));
  return tokenizeExamples(examples, tok, { mode: 'completion', maxLength: 32 }).sequences;
}

async function lossesOf(config: TrainConfig, train: Sequence[], val: Sequence[], resumeAt?: number) {
  const events: TrainEvent[] = [];
  const make = async () => {
    const model = await loadModel(fixtureSource('model-llama'));
    const { trainables, noDecay } = setupMethod(model, config);
    return { model, trainables, noDecay };
  };
  const a = await make();
  if (resumeAt === undefined) {
    const t = new Trainer(a.model, { config, train, val, padId: 0, trainables: a.trainables, noDecay: a.noDecay, onEvent: (e) => events.push(e) });
    await t.run();
    const out = { events, weights: await Promise.all([...a.trainables.values()].map((v) => v.data())) };
    t.dispose();
    a.model.dispose();
    return out;
  }
  // First part, then serialise, then a fresh model + trainer load it and finish.
  const first = new Trainer(a.model, { config: { ...config, steps: resumeAt }, train, val, padId: 0, trainables: a.trainables, noDecay: a.noDecay, onEvent: (e) => events.push(e) });
  await first.run();
  const bytes = await encodeState(first, { base: BASE, datasetHash: 'd', tokenizerHash: 't' });
  first.dispose();
  a.model.dispose();
  const b = await make();
  const state = await decodeState(bytes, 'state.whetstone');
  const second = new Trainer(b.model, { config, train, val, padId: 0, trainables: b.trainables, noDecay: b.noDecay, onEvent: (e) => events.push(e) });
  applyState(second, state);
  await second.run();
  const out = { events, weights: await Promise.all([...b.trainables.values()].map((v) => v.data())) };
  second.dispose();
  b.model.dispose();
  return out;
}

describe('Trainer', () => {
  it('full fine-tuning of the GPT-2 fixture gives torch.optim.AdamW losses', async () => {
    const ref = await readReference('model-gpt2');
    const json = fixtureJson('model-gpt2');
    const ids = ref.get('input_ids')!.i32!;
    const labels = ref.get('labels')!.i32!;
    const t = ref.get('input_ids')!.shape[1];
    const seqs: Sequence[] = [0, 1].map((b) => ({ inputIds: Array.from(ids.subarray(b * t, (b + 1) * t)), labels: Array.from(labels.subarray(b * t, (b + 1) * t)) }));
    const model = await loadModel(fixtureSource('model-gpt2'));
    const config = resolveTrainConfig({ method: 'full', lr: json.adamw.lr, weightDecay: json.adamw.weight_decay, decayNormAndBias: true, clip: json.adamw.clip_grad_norm, batchSize: 2, steps: 5, valRatio: 0, schedule: 'constant' });
    const { trainables, noDecay } = setupMethod(model, config);
    const losses: number[] = [];
    const trainer = new Trainer(model, { config, train: seqs, val: [], padId: 0, trainables, noDecay, onEvent: (e) => e.type === 'step' && losses.push(e.loss) });
    await trainer.run();
    expect(losses).toHaveLength(5);
    losses.forEach((l, i) => expect(Math.abs(l - json.adamw.losses[i]), `step ${i}`).toBeLessThanOrEqual(1e-4));
    trainer.dispose();
    model.dispose();
  });

  it('N steps, save, load into a fresh trainer, M steps equals N+M steps in one go', async () => {
    const seqs = await sequences();
    const config = resolveTrainConfig({ method: 'lora', lora: { r: 4, alpha: 8, dropout: 0.1, targets: 'all-linear', rslora: false }, lr: 1e-2, batchSize: 3, gradAccum: 2, steps: 4, valRatio: 0, evalEvery: 2, schedule: 'cosine', warmup: 1, modelDropout: 0.1, seed: 5 });
    const val = seqs.slice(0, 3);
    const train = seqs.slice(3);
    const once = await lossesOf(config, train, val);
    const resumed = await lossesOf(config, train, val, 2);
    const stepLosses = (ev: TrainEvent[]) => ev.filter((e) => e.type === 'step').map((e) => (e as { loss: number }).loss);
    const evalLosses = (ev: TrainEvent[]) => ev.filter((e) => e.type === 'eval').map((e) => (e as { valLoss: number }).valLoss);
    expect(stepLosses(once.events)).toHaveLength(4);
    const tol = webgpu ? 1e-6 : 0;
    stepLosses(resumed.events).forEach((l, i) => expect(Math.abs(l - stepLosses(once.events)[i]), `step ${i + 1}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(l))));
    evalLosses(resumed.events).forEach((l, i) => expect(Math.abs(l - evalLosses(once.events)[i])).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(l))));
    once.weights.forEach((w, i) => {
      let max = 0;
      for (let j = 0; j < w.length; j++) max = Math.max(max, Math.abs(w[j] - resumed.weights[i][j]));
      expect(max).toBeLessThanOrEqual(tol);
    });
  });

  it('skips a non-finite step, and rolls back with half the learning rate after three in a row', async () => {
    const seqs = await sequences();
    const config = resolveTrainConfig({ method: 'lora', lr: 1e-2, batchSize: 4, steps: 3, valRatio: 0 });
    const model = await loadModel(fixtureSource('model-llama'));
    const { trainables, noDecay } = setupMethod(model, config);
    const events: TrainEvent[] = [];
    const before = await Promise.all([...trainables.values()].map((v) => v.data()));
    const bad = new Set([2, 3, 4]);
    let calls = 0;
    const trainer = new Trainer(model, {
      config, train: seqs, val: [], padId: 0, trainables, noDecay,
      onEvent: (e) => events.push(e),
      // The optimizer step number repeats after a skip; count attempts instead.
      injectNonFinite: () => bad.has(++calls),
    });
    const summary = await trainer.run();
    const skips = events.filter((e) => e.type === 'skip');
    const rollbacks = events.filter((e) => e.type === 'rollback');
    expect(skips).toHaveLength(3);
    expect(skips[0]).toMatchObject({ type: 'skip', reason: expect.stringMatching(/gradient norm is NaN/) });
    expect(rollbacks).toEqual([{ type: 'rollback', step: 1, toStep: 0, lrScale: 0.5 }]);
    // After the roll-back the run trains on with lr × 0.5 and every weight finite.
    const steps = events.filter((e) => e.type === 'step') as Array<{ lr: number; step: number }>;
    expect(steps.at(-1)!.lr).toBeCloseTo(0.5e-2, 8);
    expect(summary.steps).toBe(3);
    const after = await Promise.all([...trainables.values()].map((v) => v.data()));
    expect(after.every((w) => w.every(Number.isFinite))).toBe(true);
    expect(after.some((w, i) => w.some((x, j) => x !== before[i][j]))).toBe(true);
    trainer.dispose();
    model.dispose();
  });
});

describe('learning-rate schedules', () => {
  it('follow HF: linear warmup, then constant, linear or cosine decay to 0', () => {
    expect(learningRate('constant', 1, 0, 10, 2)).toBe(0);
    expect(learningRate('constant', 1, 1, 10, 2)).toBe(0.5);
    expect(learningRate('constant', 1, 5, 10, 2)).toBe(1);
    expect(learningRate('linear', 1, 6, 10, 2)).toBeCloseTo(0.5);
    expect(learningRate('cosine', 1, 6, 10, 2)).toBeCloseTo(0.5);
    expect(learningRate('cosine', 1, 4, 10, 2)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI * 0.25)));
    expect(learningRate('linear', 1, 3, 10, 0.2)).toBeCloseTo(7 / 8);
  });
});
