// Data screen state: the stored datasets, the one selected (preview, counts), import errors with file,
// line and field, the column mapping, tokenization for the chosen mode (stats, length histogram) and the
// trained-token mask of one example.
import { abortTokenize, callback, tokenizeApi, WorkerGoneError } from '../bridge/workers';
import type { ColumnMapping, DataFormat, DatasetListItem, DatasetSummary, ExplainResult, Progress, TokenizeRequest, TokenizeResult } from '../bridge/protocol';
import { errorMessage, type AppState } from './app.svelte';
import { saveSession } from './session';

export interface ImportErrorInfo {
  message: string;
  file: string | null;
  line: number | null;
  field: string | null;
}

/** The fields a column can be mapped to, per format. */
export const FORMAT_FIELDS: Record<DataFormat, string[]> = {
  text: ['text'],
  'prompt-completion': ['prompt', 'completion'],
  messages: ['messages'],
  sharegpt: ['conversations'],
  alpaca: ['instruction', 'input', 'output', 'system'],
};

export const FORMAT_LABELS: Record<DataFormat | 'auto', string> = {
  auto: 'Detect automatically',
  text: 'Raw text',
  'prompt-completion': 'Prompt → completion',
  messages: 'Chat messages',
  sharegpt: 'ShareGPT conversations',
  alpaca: 'Alpaca instructions',
};

export class DataState {
  list = $state.raw<DatasetListItem[]>([]);
  current = $state.raw<DatasetSummary | null>(null);
  importError = $state.raw<ImportErrorInfo | null>(null);
  /** Every record error of the failed import, in line order (the first is `importError`). */
  importErrors = $state.raw<ImportErrorInfo[]>([]);
  /** The failed file has more errors than the list holds. */
  moreImportErrors = $state(false);
  errorColumns = $state.raw<string[]>([]);
  progress = $state.raw<Progress | null>(null);
  busy = $state(false);
  error = $state<string | null>(null);
  format = $state<DataFormat | 'auto'>('auto');
  /** field → column name in the file. */
  mapping = $state<Record<string, string>>({});
  tokenized = $state.raw<TokenizeResult | null>(null);
  tokenizeError = $state<string | null>(null);
  tokenizing = $state.raw<Progress | null>(null);
  explainIndex = $state(0);
  explained = $state.raw<ExplainResult | null>(null);
  explainError = $state<string | null>(null);
  /** The last file that failed, kept so a new mapping can retry it. */
  #failedFile: File | null = null;
  /** The stored dataset whose re-mapping failed, so a corrected mapping can retry it. */
  #failedRemap: string | null = null;
  #tokenizeSeq = 0;
  readonly #app: AppState;

  constructor(app: AppState) {
    this.#app = app;
  }

  /** What tokenization uses now: the selected dataset with the Train screen's mode and max length. */
  get request(): TokenizeRequest | null {
    const c = this.#app.train.config;
    if (!this.current) return null;
    return { datasetId: this.current.id, mode: c.mode, maxLength: c.maxLength, trainOnPrompt: c.trainOnPrompt };
  }

  /** The columns the mapping can choose from: the file's first record's keys. */
  get columns(): string[] {
    return this.current?.columns.length ? this.current.columns : this.errorColumns;
  }

  async refreshList(): Promise<void> {
    try {
      this.list = await tokenizeApi().listDatasets();
    } catch (e) {
      this.error = errorMessage(e);
    }
  }

  #mappingObject(): ColumnMapping | undefined {
    const entries = Object.entries(this.mapping).filter(([, col]) => col);
    return entries.length ? (Object.fromEntries(entries) as ColumnMapping) : undefined;
  }

  async importFile(file: File, opts: { keepMapping?: boolean; replaceId?: string } = {}): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    this.error = null;
    this.importError = null;
    this.importErrors = [];
    this.moreImportErrors = false;
    if (!opts.keepMapping) {
      this.mapping = {};
      this.format = 'auto';
    }
    this.progress = { phase: 'reading', done: 0, total: file.size };
    try {
      const onProgress = callback((p: Progress) => (this.progress = p));
      const outcome = opts.replaceId
        ? await tokenizeApi().remap(opts.replaceId, this.format, this.#mappingObject(), onProgress)
        : await tokenizeApi().importFile({ file, format: this.format, columns: this.#mappingObject() }, onProgress);
      if (!outcome.ok) {
        this.importError = outcome.error;
        this.importErrors = outcome.errors;
        this.moreImportErrors = outcome.moreErrors;
        this.errorColumns = outcome.columns;
        this.#failedFile = opts.replaceId ? null : file;
        this.#failedRemap = opts.replaceId ?? null;
        return false;
      }
      this.#failedFile = null;
      this.#failedRemap = null;
      this.errorColumns = [];
      await this.#show(outcome.dataset);
      await this.refreshList();
      return true;
    } catch (e) {
      this.error = e instanceof WorkerGoneError ? 'The import was cancelled; nothing was stored.' : errorMessage(e);
      return false;
    } finally {
      this.busy = false;
      this.progress = null;
    }
  }

  /** Cancels an import or tokenization in progress (the tokenize worker is restarted). */
  cancel(): void {
    abortTokenize();
  }

  /** Re-reads the file with the chosen format and column mapping. */
  async applyMapping(): Promise<void> {
    const remapId = this.#failedRemap ?? this.current?.id ?? null;
    if (this.#failedFile) {
      await this.importFile(this.#failedFile, { keepMapping: true });
    } else if (remapId) {
      await this.importFile(new File([], this.current?.fileName ?? 'dataset'), { keepMapping: true, replaceId: remapId });
    }
  }

  async #show(d: DatasetSummary, opts: { keepMode?: boolean } = {}): Promise<void> {
    this.current = d;
    saveSession({ datasetId: d.id });
    this.format = 'auto';
    this.mapping = { ...(d.columnMapping ?? {}) } as Record<string, string>;
    this.explainIndex = 0;
    this.explained = null;
    this.tokenized = null;
    if (!opts.keepMode) this.#app.train.fitToFormat(d.format);
    this.#app.compare.onDatasetChanged();
    await this.tokenize();
  }

  async select(id: string, opts: { keepMode?: boolean } = {}): Promise<void> {
    this.error = null;
    this.importError = null;
    this.importErrors = [];
    this.moreImportErrors = false;
    try {
      await this.#show(await tokenizeApi().openDataset(id), opts);
    } catch (e) {
      this.error = errorMessage(e);
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await tokenizeApi().deleteDataset(id);
      if (this.current?.id === id) {
        saveSession({ datasetId: null });
        this.current = null;
        this.tokenized = null;
        this.explained = null;
      }
      await this.refreshList();
    } catch (e) {
      this.error = errorMessage(e);
    }
  }

  async onModelChanged(): Promise<void> {
    this.tokenized = null;
    this.explained = null;
    if (this.current) await this.tokenize();
  }

  /** Tokenizes the selected dataset for the current settings (cached per model, mode and length). */
  async tokenize(): Promise<void> {
    const req = this.request;
    if (!req || !this.#app.model.info) return;
    const seq = ++this.#tokenizeSeq;
    this.tokenizeError = null;
    this.tokenizing = { phase: 'tokenizing', done: 0, total: this.current?.count ?? 0 };
    try {
      const result = await tokenizeApi().tokenize(
        req,
        callback((p: Progress) => {
          if (seq === this.#tokenizeSeq) this.tokenizing = p;
        }),
      );
      if (seq !== this.#tokenizeSeq) return;
      this.tokenized = result;
      await this.explain(Math.min(this.explainIndex, Math.max(0, (this.current?.count ?? 1) - 1)));
    } catch (e) {
      if (seq === this.#tokenizeSeq) {
        this.tokenized = null;
        this.tokenizeError = e instanceof WorkerGoneError ? 'Tokenization was cancelled.' : errorMessage(e);
      }
    } finally {
      if (seq === this.#tokenizeSeq) this.tokenizing = null;
    }
  }

  async explain(index: number): Promise<void> {
    const req = this.request;
    if (!req || !this.#app.model.info) return;
    this.explainIndex = index;
    this.explainError = null;
    try {
      this.explained = await tokenizeApi().explain(req, index);
    } catch (e) {
      this.explained = null;
      this.explainError = errorMessage(e);
    }
  }

  /** Ready to train: a dataset whose tokenization for these settings succeeded. */
  get ready(): boolean {
    return this.current !== null && this.tokenized !== null && this.tokenized.stats.sequences > 0;
  }
}
