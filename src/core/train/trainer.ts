// The training loop, read like nanoGPT's train.py: get batch → forward/loss → backward (accumulated) →
// guard non-finite → clip → AdamW step → schedule → eval / early stopping / checkpoint, with progress out
// through a callback. It knows the model only through CausalLM and the trainable variables it is given.
import * as tf from '@tensorflow/tfjs';
import type { CausalLM } from '../models/model';
import type { Sequence } from '../data/tokenize';
import { createRng, type Rng } from '../random';
import { assertDeviceAlive, deviceErrorFor } from '../backend';
import { AdamW, clipByGlobalNorm } from './adamw';
import { epochOrder, makeBatch } from './batching';
import { evaluateSequences, type EvalResult } from './evaluate';
import { lossAndGrads } from './gradients';
import { learningRate } from './schedule';
import type { TrainConfig } from './config';

/** Everything besides tensors that a resumed run needs to continue exactly. */
export interface TrainerState {
  /** Optimizer steps done. */
  step: number;
  /** Data cursor: epoch and the next micro-batch within its order. */
  epoch: number;
  microBatch: number;
  /** Dropout RNG. */
  rngState: number[];
  /** Learning-rate multiplier (halved by each roll-back after non-finite steps). */
  lrScale: number;
  tokensSeen: number;
  bestValLoss: number | null;
  bestStep: number | null;
  /** Evaluations since the best one (early stopping). */
  badEvals: number;
  nonFiniteStreak: number;
  lastTrainLoss: number | null;
  lastValLoss: number | null;
  stoppedEarly: boolean;
}

export type TrainEvent =
  | {
      type: 'step';
      step: number;
      totalSteps: number;
      epoch: number;
      loss: number;
      lr: number;
      gradNorm: number;
      tokensPerSecond: number;
      tokensSeen: number;
      tokenAccuracy: number;
      elapsedMs: number;
      etaMs: number;
    }
  | { type: 'eval'; step: number; valLoss: number; valAccuracy: number; best: boolean }
  | { type: 'skip'; step: number; reason: string; streak: number }
  | { type: 'rollback'; step: number; toStep: number; lrScale: number }
  | { type: 'early-stop'; step: number; bestStep: number; bestValLoss: number }
  | { type: 'checkpoint'; step: number };

export interface TrainSummary {
  steps: number;
  train_loss: number | null;
  val_loss: number | null;
  best_val_loss: number | null;
  stopped_early: boolean;
  stopped: boolean;
}

export interface TrainerOptions {
  config: TrainConfig;
  train: Sequence[];
  val: Sequence[];
  padId: number;
  /** The variables trained, by export name (PEFT names under LoRA, HF names in full fine-tuning). */
  trainables: Map<string, tf.Variable>;
  /** Names exempt from weight decay. */
  noDecay?: (name: string) => boolean;
  onEvent?: (e: TrainEvent) => void;
  /** Called every config.checkpointEvery steps and at the end; persists the full state. */
  onCheckpoint?: (trainer: Trainer) => Promise<void>;
  /** Test hook: makes the gradients of the given (1-based) optimizer steps non-finite. */
  injectNonFinite?: (step: number) => boolean;
}

interface Snapshot {
  step: number;
  weights: Map<string, tf.Tensor>;
  /** AdamW's moments (AdamW.split). */
  m: Map<string, tf.Tensor>;
  v: Map<string, tf.Tensor>;
  optimizerStep: number;
  state: TrainerState;
}

export function stepsPerEpoch(nTrain: number, c: TrainConfig): number {
  return Math.max(1, Math.ceil(Math.ceil(nTrain / c.batchSize) / c.gradAccum));
}

export function totalStepsFor(nTrain: number, c: TrainConfig): number {
  return c.steps ?? Math.max(1, Math.ceil(stepsPerEpoch(nTrain, c) * c.epochs));
}

function cloneMap(m: Map<string, tf.Tensor>): Map<string, tf.Tensor> {
  return new Map([...m].map(([k, t]) => [k, tf.keep(t.clone())]));
}

export class Trainer {
  readonly model: CausalLM;
  readonly config: TrainConfig;
  readonly optimizer: AdamW;
  readonly trainables: Map<string, tf.Variable>;
  state: TrainerState;
  totalSteps: number;
  /** Weights of the best evaluation (early stopping restores them). */
  best: Map<string, tf.Tensor> | null = null;
  #opts: TrainerOptions;
  #rng: Rng;
  #lastGood: Snapshot | null = null;
  #paused: { promise: Promise<void>; resolve: () => void } | null = null;
  #stopRequested = false;
  /** The model's own dropout, put back by dispose() (a run may override it). */
  #savedDropout: CausalLM['config']['dropout'];

  constructor(model: CausalLM, opts: TrainerOptions) {
    if (opts.train.length === 0) throw new Error('the training split is empty');
    this.model = model;
    this.config = opts.config;
    this.#opts = opts;
    this.trainables = opts.trainables;
    this.optimizer = new AdamW({ weightDecay: opts.config.weightDecay, noDecay: opts.noDecay });
    this.totalSteps = totalStepsFor(opts.train.length, opts.config);
    this.#rng = createRng(opts.config.seed);
    this.state = {
      step: 0,
      epoch: 0,
      microBatch: 0,
      rngState: this.#rng.state(),
      lrScale: 1,
      tokensSeen: 0,
      bestValLoss: null,
      bestStep: null,
      badEvals: 0,
      nonFiniteStreak: 0,
      lastTrainLoss: null,
      lastValLoss: null,
      stoppedEarly: false,
    };
    this.#savedDropout = model.config.dropout;
    if (opts.config.modelDropout !== null) {
      const p = opts.config.modelDropout;
      model.config.dropout = { embedding: p, attention: p, residual: p };
    }
  }

  /** Restores a saved state (from a checkpoint) before run(); the moments are copied, `best` is kept. */
  restore(
    state: TrainerState,
    optimizer: { step: number; m: Map<string, tf.Tensor>; v: Map<string, tf.Tensor> },
    best: Map<string, tf.Tensor> | null,
  ): void {
    this.state = { ...state };
    this.#rng.setState(state.rngState);
    this.optimizer.step = optimizer.step;
    this.optimizer.load(optimizer.m, optimizer.v);
    this.best = best;
  }

  pause(): void {
    if (this.#paused) return;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.#paused = { promise, resolve };
  }

  resume(): void {
    this.#paused?.resolve();
    this.#paused = null;
  }

  stop(): void {
    this.#stopRequested = true;
    this.resume();
  }

  get paused(): boolean {
    return this.#paused !== null;
  }

  #emit(e: TrainEvent): void {
    this.#opts.onEvent?.(e);
  }

  /** The next micro-batch in data order, advancing the cursor (epochs wrap). */
  #nextMicroBatch(): Sequence[] {
    const { train } = this.#opts;
    const size = this.config.batchSize;
    const perEpoch = Math.ceil(train.length / size);
    if (this.state.microBatch >= perEpoch) {
      this.state.epoch += 1;
      this.state.microBatch = 0;
    }
    const order = epochOrder(train.length, this.config.seed, this.state.epoch);
    const start = this.state.microBatch * size;
    this.state.microBatch += 1;
    return order.slice(start, start + size).map((i) => train[i]);
  }

  #takeSnapshot(): void {
    this.#dropSnapshot();
    this.#lastGood = {
      step: this.state.step,
      weights: cloneMap(this.trainables),
      ...this.optimizer.split(),
      optimizerStep: this.optimizer.step,
      state: { ...this.state, rngState: this.#rng.state() },
    };
  }

  #dropSnapshot(): void {
    if (!this.#lastGood) return;
    tf.dispose([...this.#lastGood.weights.values(), ...this.#lastGood.m.values(), ...this.#lastGood.v.values()]);
    this.#lastGood = null;
  }

  #rollBack(): void {
    const snap = this.#lastGood!;
    for (const [name, t] of snap.weights) this.trainables.get(name)!.assign(t);
    this.optimizer.load(snap.m, snap.v);
    this.optimizer.step = snap.optimizerStep;
    const lrScale = this.state.lrScale / 2;
    const fromStep = this.state.step;
    // Keep the data cursor moving (the bad batches are not replayed); restore the optimizer position.
    this.state = { ...this.state, step: snap.step, lrScale, nonFiniteStreak: 0 };
    this.#emit({ type: 'rollback', step: fromStep, toStep: snap.step, lrScale });
  }

  /** Mean loss and token accuracy over the validation split (dropout off). */
  evaluate(seqs: Sequence[] = this.#opts.val): Promise<EvalResult> {
    return evaluateSequences(this.model, seqs, this.config.batchSize, this.#opts.padId);
  }

  /** One optimizer step over gradAccum micro-batches. Returns false when the update was skipped. */
  async #step(): Promise<boolean> {
    const c = this.config;
    const started = Date.now();
    const stepNumber = this.state.step + 1;
    let sumGrads: Map<string, tf.Tensor> | null = null;
    let lossSum = 0;
    let correct = 0;
    let total = 0;
    let tokens = 0;
    for (let micro = 0; micro < c.gradAccum; micro++) {
      const batch = makeBatch(this.#nextMicroBatch(), this.#opts.padId);
      tokens += batch.tokens;
      const { loss, grads, accuracy } = lossAndGrads(
        this.model,
        batch.inputIds,
        batch.labels,
        this.trainables,
        { training: true, nextSeed: () => this.#rng.nextU32(), checkpoint: c.gradientCheckpointing },
        true,
      );
      const [l] = await loss.data();
      const [hit, n] = await accuracy!.data();
      lossSum += l;
      correct += hit;
      total += n;
      if (!sumGrads) sumGrads = grads;
      else {
        for (const [name, g] of grads) {
          const prev = sumGrads.get(name)!;
          sumGrads.set(name, tf.add(prev, g));
          tf.dispose([prev, g]);
        }
      }
      tf.dispose([loss, accuracy!]);
      batch.dispose();
    }
    const grads = sumGrads!;
    if (c.gradAccum > 1) {
      for (const [name, g] of grads) {
        grads.set(name, tf.div(g, c.gradAccum));
        g.dispose();
      }
    }
    if (this.#opts.injectNonFinite?.(stepNumber)) {
      const [name, g] = grads.entries().next().value!;
      grads.set(name, tf.mul(g, NaN));
      g.dispose();
    }
    const loss = lossSum / c.gradAccum;
    const names = [...grads.keys()];
    const clipped = clipByGlobalNorm([...grads.values()], c.clip);
    const [gradNorm] = await clipped.norm.data();
    tf.dispose([...grads.values(), clipped.norm]);
    this.state.tokensSeen += tokens;

    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      tf.dispose(clipped.grads);
      this.state.nonFiniteStreak += 1;
      this.#emit({
        type: 'skip',
        step: stepNumber,
        reason: !Number.isFinite(loss) ? `loss is ${loss}` : `gradient norm is ${gradNorm}`,
        streak: this.state.nonFiniteStreak,
      });
      if (this.state.nonFiniteStreak >= 3 && this.#lastGood) this.#rollBack();
      return false;
    }
    this.state.nonFiniteStreak = 0;
    const lr = learningRate(c.schedule, c.lr, this.state.step, this.totalSteps, c.warmup) * this.state.lrScale;
    this.optimizer.apply(this.trainables, new Map(names.map((n, i) => [n, clipped.grads[i]])), lr);
    tf.dispose(clipped.grads);
    this.state.step = stepNumber;
    this.state.lastTrainLoss = loss;
    const ms = Math.max(1, Date.now() - started);
    this.#stepTimes.push(ms);
    const avg = this.#stepTimes.slice(-20).reduce((a, b) => a + b, 0) / Math.min(20, this.#stepTimes.length);
    this.#emit({
      type: 'step',
      step: stepNumber,
      totalSteps: this.totalSteps,
      epoch: this.state.epoch,
      loss,
      lr,
      gradNorm,
      tokensPerSecond: (tokens * 1000) / ms,
      tokensSeen: this.state.tokensSeen,
      tokenAccuracy: total > 0 ? correct / total : NaN,
      elapsedMs: ms,
      etaMs: avg * (this.totalSteps - stepNumber),
    });
    return true;
  }

  #stepTimes: number[] = [];

  async #evalAndMaybeStop(): Promise<boolean> {
    const { loss, accuracy } = await this.evaluate();
    this.state.lastValLoss = loss;
    const s = this.state;
    const improved = s.bestValLoss === null || loss < s.bestValLoss - this.config.threshold;
    if (improved) {
      s.bestValLoss = loss;
      s.bestStep = s.step;
      s.badEvals = 0;
      if (this.config.patience > 0) {
        if (this.best) tf.dispose([...this.best.values()]);
        this.best = cloneMap(this.trainables);
      }
    } else {
      s.badEvals += 1;
    }
    this.#emit({ type: 'eval', step: s.step, valLoss: loss, valAccuracy: accuracy, best: improved });
    if (this.config.patience > 0 && s.badEvals >= this.config.patience) {
      s.stoppedEarly = true;
      this.restoreBest();
      this.#emit({ type: 'early-stop', step: s.step, bestStep: s.bestStep!, bestValLoss: s.bestValLoss! });
      return true;
    }
    return false;
  }

  /** Puts the best evaluated weights back into the trainable variables. */
  restoreBest(): void {
    if (!this.best) return;
    for (const [name, t] of this.best) this.trainables.get(name)!.assign(t);
  }

  /** Runs until the total step count, early stopping, or stop(). A lost GPU device rejects with a DeviceError. */
  async run(): Promise<TrainSummary> {
    try {
      return await this.#run();
    } catch (e) {
      throw await deviceErrorFor(e);
    }
  }

  async #run(): Promise<TrainSummary> {
    const c = this.config;
    const hasVal = this.#opts.val.length > 0;
    this.#takeSnapshot();
    let stopped = false;
    while (this.state.step < this.totalSteps && !this.state.stoppedEarly) {
      if (this.#paused) await this.#paused.promise;
      if (this.#stopRequested) {
        stopped = true;
        break;
      }
      assertDeviceAlive();
      const updated = await this.#step();
      if (!updated) continue;
      const s = this.state.step;
      if (hasVal && c.evalEvery > 0 && s % c.evalEvery === 0 && (await this.#evalAndMaybeStop())) break;
      if (c.checkpointEvery > 0 && s % c.checkpointEvery === 0 && s < this.totalSteps) await this.#checkpoint();
    }
    let bestValLoss = this.state.bestValLoss;
    if (hasVal && !this.state.stoppedEarly && !stopped && (c.evalEvery === 0 || this.state.step % c.evalEvery !== 0)) {
      // Off the evaluation schedule: reported (the event, the summary), but early stopping and the best weights
      // count scheduled evaluations only, so that a run that ends here and is resumed later is the run that
      // never stopped.
      const { loss, accuracy } = await this.evaluate();
      this.state.lastValLoss = loss;
      const best = bestValLoss === null || loss < bestValLoss;
      if (best) bestValLoss = loss;
      this.#emit({ type: 'eval', step: this.state.step, valLoss: loss, valAccuracy: accuracy, best });
    }
    await this.#checkpoint();
    this.#dropSnapshot();
    return {
      steps: this.state.step,
      train_loss: this.state.lastTrainLoss,
      val_loss: this.state.lastValLoss,
      best_val_loss: bestValLoss,
      stopped_early: this.state.stoppedEarly,
      stopped,
    };
  }

  async #checkpoint(): Promise<void> {
    this.state.rngState = this.#rng.state();
    if (this.#opts.onCheckpoint) {
      await this.#opts.onCheckpoint(this);
      this.#emit({ type: 'checkpoint', step: this.state.step });
    }
    this.#takeSnapshot();
  }

  dispose(): void {
    this.model.config.dropout = this.#savedDropout;
    this.#dropSnapshot();
    if (this.best) tf.dispose([...this.best.values()]);
    this.best = null;
    this.optimizer.dispose();
  }
}
