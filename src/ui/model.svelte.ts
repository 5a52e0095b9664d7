// Model screen state: the loaded base model, the stored ones, loading progress and errors, and the memory
// estimate for the chosen training settings against the adapter's limits.
import { callback, setTokenizer, trainApi } from '../bridge/workers';
import type { ModelInfo, ModelRequest, Progress, StoredModel } from '../bridge/protocol';
import { estimateMemory, type MemoryEstimate } from './memory';
import { errorMessage, type AppState } from './app.svelte';
import { saveSession } from './session';

export class ModelState {
  info = $state.raw<ModelInfo | null>(null);
  stored = $state.raw<StoredModel[]>([]);
  progress = $state.raw<Progress | null>(null);
  busy = $state(false);
  error = $state<string | null>(null);
  hubId = $state('');
  readonly defaultFiles = __WHETSTONE_DEFAULT_MODEL__;
  readonly #app: AppState;

  estimate = $derived.by((): MemoryEstimate | null => {
    const info = this.info;
    if (!info) return null;
    const c = this.#app.train.config;
    return estimateMemory({
      shape: info.shape,
      method: c.method,
      loraR: c.lora.r,
      targets: c.lora.targets,
      frozenDtype: c.frozenDtype,
      gradientCheckpointing: c.gradientCheckpointing,
      batchSize: c.batchSize,
      seqLen: c.maxLength,
      adapter: this.#app.backend?.adapter ?? null,
    });
  });

  constructor(app: AppState) {
    this.#app = app;
  }

  get hasDefault(): boolean {
    return this.defaultFiles.length > 0;
  }

  get defaultSize(): number {
    return this.defaultFiles.reduce((n, f) => n + f.size, 0);
  }

  async refreshStored(): Promise<void> {
    try {
      this.stored = await trainApi().listModels();
    } catch (e) {
      this.error = errorMessage(e);
    }
  }

  async load(req: ModelRequest): Promise<boolean> {
    if (this.busy) {
      this.error = 'a model is still loading: try again when it is done';
      return false;
    }
    this.busy = true;
    this.error = null;
    this.progress = { phase: 'starting', done: 0, total: 0 };
    try {
      const info = await trainApi().openModel(
        req,
        callback((p: Progress) => (this.progress = p)),
      );
      this.info = info;
      saveSession({ model: info.ref });
      await setTokenizer(info.tokenizerFiles, info.tokenizerHash);
      this.#app.compare.onModelChanged();
      await Promise.all([this.refreshStored(), this.#app.data.onModelChanged()]);
      return true;
    } catch (e) {
      this.error = errorMessage(e);
      return false;
    } finally {
      this.busy = false;
      this.progress = null;
    }
  }

  /** Takes over the model the worker holds now (it loads a run's base model itself to resume or open it). */
  async sync(): Promise<void> {
    const info = await trainApi().currentModel();
    if (!info || (this.info && this.info.tokenizerHash === info.tokenizerHash && JSON.stringify(this.info.ref) === JSON.stringify(info.ref))) return;
    this.info = info;
    saveSession({ model: info.ref });
    await setTokenizer(info.tokenizerFiles, info.tokenizerHash);
    this.#app.compare.onModelChanged();
    await this.#app.data.onModelChanged();
  }

  loadDefault(): Promise<boolean> {
    return this.load({ kind: 'default' });
  }

  loadFiles(files: File[], label: string): Promise<boolean> {
    if (files.length === 0) return Promise.resolve(false);
    return this.load({ kind: 'files', files, label });
  }

  loadStored(id: string): Promise<boolean> {
    return this.load({ kind: 'stored', id });
  }

  download(): Promise<boolean> {
    const repo = this.hubId.trim();
    if (!repo) {
      this.error = 'enter a Hugging Face model id, e.g. HuggingFaceTB/SmolLM2-135M';
      return Promise.resolve(false);
    }
    return this.load({ kind: 'hub', repo }).then((ok) => {
      if (ok) this.hubId = '';
      return ok;
    });
  }

  async remove(id: string): Promise<void> {
    this.error = null;
    try {
      await trainApi().deleteModel(id);
      await this.refreshStored();
    } catch (e) {
      this.error = errorMessage(e);
    }
  }

  /** Used by the Train screen: a run needs a model. */
  get ready(): boolean {
    return this.info !== null && !this.busy;
  }
}
