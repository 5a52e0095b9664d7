// Compare screen state: prompts (typed, or held-out examples of the dataset), generation settings, and the
// base and fine-tuned outputs side by side, streamed token by token.
import { callback, tokenizeApi, trainApi } from '../bridge/workers';
import type { Example, GenerationSettings, LoadedRun } from '../bridge/protocol';
import { errorMessage, type AppState } from './app.svelte';

export interface CompareRow {
  prompt: string;
  /** The reference answer of a held-out example, when there is one. */
  reference: string | null;
  base: string;
  tuned: string;
  baseState: 'waiting' | 'running' | 'done' | 'error';
  tunedState: 'waiting' | 'running' | 'done' | 'error';
  baseMs: number | null;
  tunedMs: number | null;
}

/** A prompt and its reference answer from a dataset example (the last user turn for conversations). */
export function promptOf(e: Example): { prompt: string; reference: string | null } {
  if (typeof e.prompt === 'string') return { prompt: e.prompt, reference: e.completion ?? null };
  if (Array.isArray(e.messages)) {
    const lastUser = e.messages.map((m) => m.role).lastIndexOf('user');
    const answer = e.messages.slice(lastUser + 1).find((m) => m.role === 'assistant');
    return { prompt: lastUser >= 0 ? e.messages[lastUser].content : '', reference: answer?.content ?? null };
  }
  const text = e.text ?? '';
  // Raw text: the first half as the prompt, the rest as what a model tuned on it should continue with.
  const cut = text.lastIndexOf(' ', Math.floor(text.length / 2));
  return { prompt: text.slice(0, cut > 0 ? cut : text.length), reference: cut > 0 ? text.slice(cut + 1) : null };
}

export class CompareState {
  input = $state('');
  rows = $state<CompareRow[]>([]);
  settings = $state<GenerationSettings>({ maxNewTokens: 48, greedy: true, temperature: 0.7, topK: 50, topP: 0.9, seed: 0 });
  /** Render prompts through the chat template (for chat-tuned models). */
  chat = $state(false);
  running = $state(false);
  error = $state<string | null>(null);
  loaded = $state.raw<LoadedRun | null>(null);
  #stopRequested = false;
  readonly #app: AppState;

  constructor(app: AppState) {
    this.#app = app;
  }

  async refreshLoaded(): Promise<void> {
    try {
      this.loaded = await trainApi().currentRun();
      const mode = this.loaded ? (this.#app.runs.list.find((r) => r.id === this.loaded!.runId)?.settings?.train.mode ?? this.#app.train.config.mode) : this.#app.train.config.mode;
      this.chat = mode === 'chat';
    } catch (e) {
      this.error = errorMessage(e);
    }
  }

  onModelChanged(): void {
    this.loaded = null;
    this.rows = this.rows.map((r) => ({ ...r, base: '', tuned: '', baseState: 'waiting', tunedState: 'waiting', baseMs: null, tunedMs: null }));
  }

  onDatasetChanged(): void {
    // Keep typed prompts; held-out ones of another dataset no longer apply.
    this.rows = this.rows.filter((r) => r.reference === null);
  }

  #row(prompt: string, reference: string | null): CompareRow {
    return { prompt, reference, base: '', tuned: '', baseState: 'waiting', tunedState: 'waiting', baseMs: null, tunedMs: null };
  }

  addPrompt(): void {
    const p = this.input.trim();
    if (!p) return;
    this.rows.push(this.#row(p, null));
    this.input = '';
  }

  removeRow(i: number): void {
    this.rows.splice(i, 1);
  }

  /** Adds up to `n` validation examples of the selected dataset (never trained on). */
  async addHeldOut(n = 3): Promise<void> {
    const data = this.#app.data.current;
    if (!data) {
      this.error = 'import a dataset first (Data screen) to take held-out examples from it';
      return;
    }
    const c = this.#app.train.config;
    try {
      const examples = await tokenizeApi().heldOut(data.id, c.valRatio, c.seed, n + this.rows.length);
      const have = new Set(this.rows.map((r) => r.prompt));
      for (const e of examples) {
        const { prompt, reference } = promptOf(e);
        if (!prompt || have.has(prompt)) continue;
        this.rows.push(this.#row(prompt, reference));
        have.add(prompt);
        if (--n === 0) break;
      }
    } catch (e) {
      this.error = errorMessage(e);
    }
  }

  get blocker(): string | null {
    if (!this.#app.model.info) return 'Open a base model first (Model screen).';
    if (this.#app.train.status === 'running' || this.#app.train.status === 'starting') return 'Training is running: pause it or wait for it to finish to compare.';
    if (this.rows.length === 0) return 'Add a prompt or held-out examples.';
    return null;
  }

  /** Runs every prompt through the base model, then the fine-tuned one, streaming into the rows. */
  async run(): Promise<void> {
    if (this.running || this.blocker) return;
    this.running = true;
    this.error = null;
    this.#stopRequested = false;
    await this.refreshLoaded();
    const settings = $state.snapshot(this.settings) as GenerationSettings;
    try {
      for (const row of this.rows) {
        row.base = row.tuned = '';
        row.baseState = row.tunedState = 'waiting';
        row.baseMs = row.tunedMs = null;
      }
      for (const row of this.rows) {
        for (const which of ['base', 'tuned'] as const) {
          if (this.#stopRequested) return;
          if (which === 'tuned' && !this.loaded) {
            row.tuned = 'No fine-tuned model yet: train a run, or open one on the Runs screen.';
            row.tunedState = 'error';
            continue;
          }
          const key = which === 'base' ? 'base' : 'tuned';
          row[`${key}State`] = 'running';
          try {
            const r = await trainApi().generate(
              { which, prompt: row.prompt, chat: this.chat, settings },
              callback((text: string) => (row[key] = text)),
            );
            row[key] = r.text || '(no text: the model ended at once)';
            row[`${key}Ms`] = r.ms;
            row[`${key}State`] = 'done';
          } catch (e) {
            row[key] = errorMessage(e);
            row[`${key}State`] = 'error';
          }
        }
      }
    } finally {
      this.running = false;
    }
  }

  async stop(): Promise<void> {
    this.#stopRequested = true;
    await trainApi().stopGeneration();
  }
}
