// Demo screen state: "Try the demo" runs the embedded default model's LoRA fine-tune on a demo dataset in the
// training worker, streams its phase and steps here, and keeps the result (held-out numbers before and after,
// side-by-side samples).
import { callback, trainApi } from '../bridge/workers';
import type { DemoDataset, DemoEvent, DemoPhase, DemoResult } from '../bridge/protocol';
import { DEMO_DATASETS } from '../core/demo-datasets';
import { errorMessage, type AppState } from './app.svelte';

export const DEMO_CHOICES: { id: DemoDataset; label: string; hint: string }[] = [
  { id: 'support', label: 'Customer support (chat)', hint: 'Whetstone Bank support conversations; the model learns the house voice of its agents.' },
  { id: 'intent', label: 'Intent classification', hint: 'Support tickets → an intent label (card_lost, fee_dispute …); accuracy on held-out tickets.' },
  { id: 'domain', label: 'Domain text (continued pretraining)', hint: 'Legal agreements as raw text; the model learns their wording.' },
  { id: 'alpaca', label: 'Instructions (Alpaca)', hint: 'Instruction / answer pairs (Alpaca format), rendered with the chat template.' },
];

export const PHASE_LABELS: Record<DemoPhase, string> = {
  load: 'Loading the default model and the data',
  before: 'Measuring the model before training',
  train: 'Training (LoRA)',
  after: 'Measuring the fine-tuned model',
};

export function defaultDemoSteps(d: DemoDataset): number {
  return DEMO_DATASETS[d].settings.steps ?? 100;
}

export class DemoState {
  dataset = $state<DemoDataset>('support');
  steps = $state(defaultDemoSteps('support'));
  running = $state(false);
  phase = $state<DemoPhase | null>(null);
  step = $state(0);
  totalSteps = $state(0);
  loss = $state<number | null>(null);
  result = $state.raw<DemoResult | null>(null);
  error = $state<string | null>(null);
  readonly #app: AppState;

  constructor(app: AppState) {
    this.#app = app;
  }

  get blocker(): string | null {
    if (!this.#app.backend) return 'the compute backend has not started';
    if (!this.#app.model.hasDefault) return 'this build has no embedded default model';
    if (this.#app.train.busy) return 'a training run is in progress';
    return null;
  }

  /** Picks a dataset and its default step count. */
  choose(d: DemoDataset): void {
    this.dataset = d;
    this.steps = defaultDemoSteps(d);
  }

  async run(): Promise<void> {
    if (this.running || this.blocker) return;
    const steps = Math.round(Number(this.steps));
    if (!Number.isFinite(steps) || steps < 1) {
      this.error = 'Steps must be a whole number of at least 1.';
      return;
    }
    this.running = true;
    this.error = null;
    this.result = null;
    this.phase = null;
    this.step = 0;
    this.totalSteps = steps;
    this.loss = null;
    try {
      this.result = await trainApi().runDemo(
        this.dataset,
        steps,
        callback((e: DemoEvent) => this.#onEvent(e)),
      );
    } catch (e) {
      this.error = `The demo failed: ${errorMessage(e)}`;
    } finally {
      this.running = false;
      this.phase = null;
    }
  }

  #onEvent(e: DemoEvent): void {
    if (e.type === 'phase') this.phase = e.phase;
    else if (e.type === 'step') {
      this.step = e.step;
      this.totalSteps = e.totalSteps;
      this.loss = e.loss;
    }
  }
}
