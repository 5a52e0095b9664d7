// The app's state: which screen is shown, the compute backend, service-worker updates, worker crashes,
// and one state object per screen. Components read these and call their methods; only the state classes
// reach the workers, through src/bridge/workers.ts.
import { callback, onWorkerCrash, trainApi } from '../bridge/workers';
import type { BackendReport } from '../bridge/protocol';
import { ModelState } from './model.svelte';
import { DataState } from './data.svelte';
import { TrainState } from './train.svelte';
import { CompareState } from './compare.svelte';
import { ExportState } from './export.svelte';
import { RunsState } from './runs.svelte';
import { DemoState } from './demo.svelte';
import { readSession } from './session';

export type Screen = 'model' | 'data' | 'train' | 'compare' | 'export' | 'runs' | 'demo';

export const SCREENS: { id: Screen; label: string }[] = [
  { id: 'model', label: 'Model' },
  { id: 'data', label: 'Data' },
  { id: 'train', label: 'Train' },
  { id: 'compare', label: 'Compare' },
  { id: 'export', label: 'Export / Import' },
  { id: 'runs', label: 'Runs' },
  { id: 'demo', label: 'Demo' },
];

/** The message of anything thrown (comlink rethrows worker errors with their message). */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  return 'something went wrong';
}

export class AppState {
  screen = $state<Screen>('model');
  backend = $state.raw<BackendReport | null>(null);
  startError = $state<string | null>(null);
  crash = $state<string | null>(null);
  updateReady = $state(false);
  /** Another tab opened a newer database schema: this tab's connection is closed; it must reload. */
  storeUpgraded = $state(false);
  /** Start-up (backend, stored lists, the last session's model and dataset) is done. */
  ready = $state(false);
  offlineReady = $state(false);
  readonly model: ModelState;
  readonly data: DataState;
  readonly train: TrainState;
  readonly compare: CompareState;
  readonly exports: ExportState;
  readonly runs: RunsState;
  readonly demo: DemoState;
  #applyUpdate: ((reload?: boolean) => Promise<void>) | null = null;

  constructor() {
    this.model = new ModelState(this);
    this.data = new DataState(this);
    this.train = new TrainState(this);
    this.compare = new CompareState(this);
    this.exports = new ExportState(this);
    this.runs = new RunsState(this);
    this.demo = new DemoState(this);
  }

  /** Starts the training worker (backend detection) and reads what is stored. */
  async start(): Promise<void> {
    onWorkerCrash((which, message) => {
      this.crash =
        which === 'train'
          ? `The training worker stopped (${message}). Progress up to the last checkpoint is saved: resume the run from the Runs screen.`
          : `The tokenizer worker stopped (${message}); it restarts on the next action.`;
      if (which === 'train') this.train.onWorkerLost();
    });
    void trainApi()
      .watchStore(callback(() => (this.storeUpgraded = true)))
      .catch(() => undefined);
    try {
      this.backend = await trainApi().init({ baseUrl: new URL(import.meta.env.BASE_URL, location.href).href, defaultFiles: __WHETSTONE_DEFAULT_MODEL__ });
    } catch (e) {
      this.startError = `The compute backend could not start: ${errorMessage(e)}`;
    }
    await Promise.all([this.runs.refresh(), this.data.refreshList(), this.model.refreshStored()]);
    await this.#restoreSession();
    this.train.findResumable();
    this.ready = true;
  }

  /** Reopens the last model and dataset with the last settings (each only if it is still stored). */
  async #restoreSession(): Promise<void> {
    const s = readSession();
    if (s.train) this.train.restoreSettings(s.train.config, s.train.useSteps);
    if (!this.backend) return;
    const m = s.model;
    if (m && (m.kind === 'default' ? this.model.hasDefault : this.model.stored.some((x) => x.id === m.id))) await this.model.load(m);
    else if (!m && this.model.hasDefault) await this.model.loadDefault(); // a first visit starts with the embedded model
    if (s.datasetId && this.data.list.some((d) => d.id === s.datasetId)) await this.data.select(s.datasetId, { keepMode: true });
  }

  go(screen: Screen): void {
    this.screen = screen;
    if (screen === 'runs') void this.runs.refresh();
    if (screen === 'compare' || screen === 'export') void this.compare.refreshLoaded();
  }

  /** A new version of the app is installed and waiting. */
  onUpdateReady(apply: (reload?: boolean) => Promise<void>): void {
    this.#applyUpdate = apply;
    this.updateReady = true;
  }

  /** Switches to the new version, unless a job would be lost by the reload. */
  async applyUpdate(): Promise<void> {
    if (this.train.busy || this.demo.running) return;
    await this.#applyUpdate?.(true);
  }
}
