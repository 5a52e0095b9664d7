// Train screen state: the settings (mode presets, LoRA or full, basic and advanced), the active run and
// its live series for the charts, pause / resume / stop, k-fold results, and the offer to resume a run
// that a reload or a closed tab interrupted.
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../core/train/config';
import { callback, trainApi } from '../bridge/workers';
import type { DataFormat, MetricRow, RunEvent, RunListItem, RunStarted, TrainMode } from '../bridge/protocol';
import { errorMessage, type AppState } from './app.svelte';
import { saveSession } from './session';

type StepEvent = Extract<RunEvent, { type: 'step' }>;
type RunStatus = 'idle' | 'starting' | 'created' | 'running' | 'paused' | 'stopped' | 'completed' | 'failed';

export interface ModePreset {
  label: string;
  hint: string;
  apply: (c: TrainConfig) => void;
}

export const MODE_PRESETS: Record<TrainMode, ModePreset> = {
  text: {
    label: 'Continued pretraining',
    hint: 'Raw text from your domain, packed into blocks; every token is trained.',
    apply: (c) => Object.assign(c, { mode: 'text', lr: 1e-4, schedule: 'cosine', warmup: 0.05, maxLength: 256, epochs: 1, lora: { ...c.lora, r: 16, alpha: 32 } }),
  },
  completion: {
    label: 'Supervised (prompt → completion)',
    hint: 'Prompt/completion pairs; only the completion and its end token carry loss.',
    apply: (c) => Object.assign(c, { mode: 'completion', lr: 2e-4, schedule: 'cosine', warmup: 0.05, maxLength: 256, epochs: 3, lora: { ...c.lora, r: 8, alpha: 16 } }),
  },
  chat: {
    label: 'Instruction / chat',
    hint: "Conversations rendered with the model's chat template; only the assistant's turns carry loss.",
    apply: (c) => Object.assign(c, { mode: 'chat', lr: 2e-4, schedule: 'cosine', warmup: 0.05, maxLength: 512, epochs: 3, lora: { ...c.lora, r: 16, alpha: 32 } }),
  },
};

/** Which modes a dataset format can train in (as the engine's modeAcceptsFormat). */
export function modeAccepts(mode: TrainMode, format: DataFormat): boolean {
  if (mode === 'text') return true;
  if (mode === 'completion') return format === 'prompt-completion';
  return format !== 'text';
}

export interface Series {
  step: number[];
  loss: (number | null)[];
  val: (number | null)[];
  lr: (number | null)[];
  tps: (number | null)[];
  /** Vertical marks: the best evaluation and where early stopping ended the run. */
  marks: { step: number; label: string }[];
}

function emptySeries(): Series {
  return { step: [], loss: [], val: [], lr: [], tps: [], marks: [] };
}

export interface Notice {
  step: number;
  text: string;
}

export class TrainState {
  config = $state<TrainConfig>(structuredClone(DEFAULT_TRAIN_CONFIG));
  useSteps = $state(false);
  kfold = $state(0);
  runName = $state('');
  active = $state.raw<(RunStarted & { name: string }) | null>(null);
  status = $state<RunStatus>('idle');
  statusMessage = $state<string | null>(null);
  error = $state<string | null>(null);
  last = $state.raw<StepEvent | null>(null);
  lastEval = $state.raw<{ step: number; valLoss: number; valAccuracy: number } | null>(null);
  checkpointStep = $state<number | null>(null);
  /** The step a resumed run continues from (shown until its first new step). */
  startStep = $state(0);
  notices = $state.raw<Notice[]>([]);
  folds = $state.raw<{ fold: number; k: number; results: { fold: number; bestValLoss: number | null }[]; mean?: number; sd?: number } | null>(null);
  resumable = $state.raw<RunListItem[]>([]);
  /** Bumped on every change of `series` (mutated in place: charts redraw on the bump). */
  tick = $state(0);
  series = $state.raw<Series>(emptySeries());
  readonly #app: AppState;

  constructor(app: AppState) {
    this.#app = app;
    MODE_PRESETS[this.config.mode].apply(this.config);
    // In the app a closed tab must not lose the run: checkpoint every 10 steps, and evaluate as often.
    Object.assign(this.config, { checkpointEvery: 10, evalEvery: 10 });
  }

  get busy(): boolean {
    return this.status === 'starting' || this.status === 'running' || this.status === 'paused';
  }

  get step(): number {
    return this.last?.step ?? this.startStep;
  }

  get progress(): number {
    if (!this.active) return 0;
    return Math.min(1, this.step / Math.max(1, this.last?.totalSteps ?? this.active.totalSteps));
  }

  restoreSettings(config: TrainConfig, useSteps: boolean): void {
    this.config = { ...structuredClone(DEFAULT_TRAIN_CONFIG), ...config, lora: { ...DEFAULT_TRAIN_CONFIG.lora, ...config.lora } };
    this.useSteps = useSteps;
  }

  setMode(mode: TrainMode): void {
    MODE_PRESETS[mode].apply(this.config);
  }

  /** After a dataset import: the mode its format suits best, unless the current one already fits. */
  fitToFormat(format: DataFormat): void {
    if (modeAccepts(this.config.mode, format) && !(this.config.mode === 'text' && format !== 'text')) return;
    this.setMode(format === 'text' ? 'text' : format === 'prompt-completion' ? 'completion' : 'chat');
  }

  /** The settings as a plain object (a $state proxy cannot cross to the worker). */
  snapshot(): TrainConfig {
    const c = $state.snapshot(this.config) as TrainConfig;
    if (!this.useSteps) c.steps = null;
    if (c.method === 'full') c.frozenDtype = 'f32'; // 16- and 8-bit storage is for LoRA's frozen base (the control hides)
    return c;
  }

  #reset(): void {
    this.series = emptySeries();
    this.last = null;
    this.lastEval = null;
    this.checkpointStep = null;
    this.startStep = 0;
    this.notices = [];
    this.statusMessage = null;
    this.tick++;
  }

  #onEvent = (e: RunEvent): void => {
    const s = this.series;
    switch (e.type) {
      case 'step':
        s.step.push(e.step);
        s.loss.push(e.loss);
        s.val.push(null);
        s.lr.push(e.lr);
        s.tps.push(e.tokensPerSecond);
        this.last = e;
        break;
      case 'eval': {
        const i = s.step.lastIndexOf(e.step);
        if (i >= 0) s.val[i] = e.valLoss;
        this.lastEval = e;
        break;
      }
      case 'early-stop':
        s.marks.push({ step: e.bestStep, label: 'best' }, { step: e.step, label: 'early stop' });
        this.notices = [...this.notices, { step: e.step, text: `Early stopping at step ${e.step}: the best weights (step ${e.bestStep}, validation loss ${e.bestValLoss.toFixed(4)}) were restored.` }];
        break;
      case 'checkpoint':
        this.checkpointStep = e.step;
        break;
      case 'skip':
        this.notices = [...this.notices, { step: e.step, text: `Step ${e.step} skipped: ${e.reason} (${e.streak} in a row).` }];
        break;
      case 'rollback':
        this.notices = [...this.notices, { step: e.step, text: `Rolled back to step ${e.toStep} after repeated non-finite steps; learning rate × ${e.lrScale}.` }];
        break;
      case 'fold':
        this.series = emptySeries();
        this.last = null;
        this.lastEval = null;
        this.folds = { fold: e.fold, k: e.k, results: this.folds?.results ?? [] };
        if (this.active) this.active = { ...this.active, runId: e.runId };
        break;
      case 'kfold-done':
        this.folds = { fold: e.folds.length, k: e.folds.length, results: e.folds, mean: e.mean, sd: e.sd };
        break;
      case 'status':
        if (this.active && e.runId !== this.active.runId) break;
        // Between the folds of a k-fold job the job goes on.
        if (e.status === 'completed' && this.folds && this.folds.fold < this.folds.k) break;
        this.status = e.status;
        if (e.message) this.statusMessage = e.message;
        if (e.status === 'failed') this.error = `The run failed: ${e.message ?? 'unknown error'}`;
        if (e.status === 'completed' || e.status === 'stopped' || e.status === 'failed') void this.#finished();
        // Paused by the worker itself (the GPU device was lost): the run is over in this worker; offer to resume.
        if (e.interrupted) {
          this.status = 'stopped';
          this.statusMessage = null;
          this.error = e.message ?? null;
          void this.#finished();
        }
        break;
    }
    this.tick++;
  };

  async #finished(): Promise<void> {
    await this.#app.runs.refresh();
    await this.#app.compare.refreshLoaded();
    this.findResumable();
  }

  /** "support · supervised · LoRA", numbered when that name is taken. */
  defaultName(): string {
    const data = (this.#app.data.current?.name ?? 'data').replace(/\.[a-z0-9]+$/i, '');
    const mode = { text: 'pretraining', completion: 'supervised', chat: 'chat' }[this.config.mode];
    const base = `${data} · ${mode} · ${this.config.method === 'lora' ? 'LoRA' : 'full'}`;
    const taken = new Set(this.#app.runs.list.map((r) => r.name.replace(/ · fold \d+\/\d+$/, '')));
    if (!taken.has(base)) return base;
    let n = 2;
    while (taken.has(`${base} #${n}`)) n++;
    return `${base} #${n}`;
  }

  get blocker(): string | null {
    if (!this.#app.model.info) return 'Open a base model first (Model screen).';
    if (!this.#app.data.current) return 'Import a dataset first (Data screen).';
    if (this.#app.data.tokenizing) return 'Tokenizing the dataset…';
    if (this.#app.data.tokenizeError) return `The dataset does not tokenize for this mode: ${this.#app.data.tokenizeError}`;
    if (!this.#app.data.ready) return 'The dataset has no trainable example for these settings.';
    if (this.#app.model.estimate?.wontFit) return `This model ${this.#app.model.estimate.wontFit}.`;
    return null;
  }

  async start(): Promise<void> {
    if (this.busy || this.blocker) return;
    const data = this.#app.data.current!;
    this.error = null;
    this.#reset();
    this.folds = null;
    this.status = 'starting';
    const name = this.runName.trim() || this.defaultName();
    saveSession({ train: { config: $state.snapshot(this.config) as TrainConfig, useSteps: this.useSteps } });
    try {
      void this.#app.runs.persist();
      const started = await trainApi().startRun(
        { name, datasetId: data.id, config: this.snapshot(), ...(this.kfold >= 2 ? { kfold: this.kfold } : {}) },
        callback(this.#onEvent),
      );
      this.active = { ...started, name };
      void this.#app.runs.refresh();
    } catch (e) {
      this.status = 'idle';
      this.error = errorMessage(e);
    }
  }

  async pause(): Promise<void> {
    await this.#call(() => trainApi().pause());
  }

  async resume(): Promise<void> {
    await this.#call(() => trainApi().resume());
  }

  async stop(): Promise<void> {
    await this.#call(() => trainApi().stop());
  }

  async #call(fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.error = errorMessage(e);
    }
  }

  /** Runs that were running or paused when the page went away and have a checkpoint to continue from. */
  findResumable(): void {
    const mine = this.busy ? this.active?.runId : undefined;
    this.resumable = this.#app.runs.list.filter((r) => (r.status === 'running' || r.status === 'paused') && r.checkpointStep !== null && r.id !== mine);
  }

  /** Continues a run from its last checkpoint, with its earlier curves. */
  async resumeRun(run: RunListItem): Promise<void> {
    if (this.busy) return;
    this.error = null;
    this.#reset();
    this.folds = null;
    this.status = 'starting';
    this.#app.screen = 'train';
    try {
      const rows = await trainApi().readMetrics(run.id);
      this.#replay(rows, run.checkpointStep ?? Infinity);
      this.startStep = run.checkpointStep ?? 0;
      if (run.settings) this.restoreSettings(run.settings.train, run.settings.train.steps !== null);
      const started = await trainApi().resumeRun(run.id, callback(this.#onEvent));
      this.active = { ...started, name: run.name };
      this.resumable = this.resumable.filter((r) => r.id !== run.id);
      // The worker loaded the run's base model if another was open: show it, and the run's data, too.
      await this.#app.model.sync();
      if (run.settings && this.#app.data.current?.id !== run.settings.datasetId) await this.#app.data.select(run.settings.datasetId, { keepMode: true });
    } catch (e) {
      this.status = 'idle';
      this.error = errorMessage(e);
    }
  }

  async dismissResume(run: RunListItem): Promise<void> {
    this.resumable = this.resumable.filter((r) => r.id !== run.id);
    await this.#call(() => trainApi().setRunStatus(run.id, 'stopped'));
    void this.#app.runs.refresh();
  }

  /** Rebuilds the charts from stored metrics, up to the checkpoint the run resumes from. */
  #replay(rows: MetricRow[], upTo: number): void {
    const steps = new Map<number, RunEvent>();
    const evals = new Map<number, RunEvent>();
    for (const r of rows) {
      const step = Number(r.step);
      if (!(step <= upTo)) continue;
      if (r.type === 'step') steps.set(step, r as unknown as RunEvent);
      else if (r.type === 'eval') evals.set(step, r as unknown as RunEvent);
    }
    for (const step of [...steps.keys()].sort((a, b) => a - b)) {
      this.#onEvent(steps.get(step)!);
      const ev = evals.get(step);
      if (ev) this.#onEvent(ev);
    }
    this.checkpointStep = upTo === Infinity ? null : upTo;
  }

  /** The training worker died: the run is over in this tab (its checkpoint can be resumed). */
  onWorkerLost(): void {
    if (this.busy) {
      this.status = 'failed';
      this.error = 'The training worker stopped; the run can be resumed from its last checkpoint (Runs screen).';
    }
  }
}
