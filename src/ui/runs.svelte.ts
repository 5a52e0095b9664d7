// Runs screen state: the history of runs with their settings and curves, deleting them, opening one for
// Compare / Export, and the origin's storage use, quota and persistence.
import { trainApi } from '../bridge/workers';
import type { MetricRow, RunListItem } from '../bridge/protocol';
import { requestPersistence, storageEstimate } from '../store/quota';
import { errorMessage, type AppState } from './app.svelte';

export class RunsState {
  list = $state.raw<RunListItem[]>([]);
  selectedId = $state<string | null>(null);
  metrics = $state.raw<MetricRow[]>([]);
  storage = $state.raw<{ usage: number; quota: number } | null>(null);
  persisted = $state<boolean | null>(null);
  error = $state<string | null>(null);
  busy = $state(false);
  readonly #app: AppState;

  constructor(app: AppState) {
    this.#app = app;
  }

  get selected(): RunListItem | null {
    return this.list.find((r) => r.id === this.selectedId) ?? null;
  }

  async refresh(): Promise<void> {
    try {
      this.list = await trainApi().listRuns();
      const e = await storageEstimate();
      this.storage = e ? { usage: e.usage, quota: e.quota } : null;
      this.persisted = (await navigator.storage?.persisted?.()) ?? null;
    } catch (e) {
      this.error = errorMessage(e);
    }
  }

  async select(id: string): Promise<void> {
    this.selectedId = id;
    try {
      this.metrics = await trainApi().readMetrics(id);
    } catch (e) {
      this.error = errorMessage(e);
    }
  }

  async remove(id: string): Promise<void> {
    this.error = null;
    try {
      await trainApi().deleteRun(id);
      if (this.selectedId === id) {
        this.selectedId = null;
        this.metrics = [];
      }
      await this.refresh();
      this.#app.train.findResumable();
      await this.#app.compare.refreshLoaded();
    } catch (e) {
      this.error = errorMessage(e);
    }
  }

  /** Loads the run's trained weights for Compare and Export. */
  async open(id: string): Promise<void> {
    this.error = null;
    this.busy = true;
    try {
      await trainApi().openRun(id);
      await this.#app.model.sync();
      const datasetId = this.list.find((r) => r.id === id)?.settings?.datasetId;
      if (datasetId && this.#app.data.current?.id !== datasetId) await this.#app.data.select(datasetId, { keepMode: true });
      await this.#app.compare.refreshLoaded();
      this.#app.go('compare');
    } catch (e) {
      this.error = errorMessage(e);
    } finally {
      this.busy = false;
    }
  }

  /** Asks the browser to keep this origin's data under storage pressure. */
  async persist(): Promise<void> {
    this.persisted = await requestPersistence();
  }
}
