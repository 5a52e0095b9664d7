// Export / Import screen state: downloads of the loaded run (PEFT adapter, merged model, full-state file,
// scale-out recipe) and the import of a full-state file from another device as a run to resume here.
import { trainApi } from '../bridge/workers';
import type { ExportKind } from '../bridge/protocol';
import { saveFiles } from './download';
import { errorMessage, type AppState } from './app.svelte';

export const EXPORTS: { kind: ExportKind; label: string; what: string }[] = [
  { kind: 'peft', label: 'PEFT adapter', what: 'adapter_config.json + adapter_model.safetensors (zip): load with PeftModel.from_pretrained, or serve with vLLM.' },
  { kind: 'merged', label: 'merged model', what: 'The base with the adapter merged in, as a Hugging Face model folder (zip) with its tokenizer and chat template.' },
  { kind: 'state', label: 'full-state file', what: 'One .whetstone file: weights, optimizer, schedule and data position, to continue training on another device.' },
  { kind: 'recipe', label: 'scale-out recipe', what: 'tokenized.jsonl, raw.jsonl, train.py (transformers + PEFT) and axolotl.yaml (zip), for a job that outgrows the browser.' },
];

export class ExportState {
  busy = $state<ExportKind | 'import' | null>(null);
  error = $state<string | null>(null);
  message = $state<string | null>(null);
  readonly #app: AppState;

  constructor(app: AppState) {
    this.#app = app;
  }

  async export(kind: ExportKind): Promise<void> {
    if (this.busy) return;
    this.busy = kind;
    this.error = null;
    this.message = null;
    try {
      const result = await trainApi().exportFiles(kind);
      saveFiles(result.name, result.files);
      const n = Object.keys(result.files).length;
      this.message = `Saved ${result.name}${n > 1 ? ` (${n} files)` : ''}.`;
    } catch (e) {
      this.error = errorMessage(e);
    } finally {
      this.busy = null;
    }
  }

  async importState(file: File): Promise<void> {
    if (this.busy) return;
    this.busy = 'import';
    this.error = null;
    this.message = null;
    try {
      const run = await trainApi().importState(file);
      await this.#app.runs.refresh();
      this.#app.train.findResumable();
      this.message =
        run.status === 'completed'
          ? `Imported "${run.name}" (finished, step ${run.checkpointStep}): open it on the Runs screen for Compare and Export.`
          : `Imported "${run.name}" at step ${run.checkpointStep}: resume it from the offer above.`;
    } catch (e) {
      this.error = errorMessage(e);
    } finally {
      this.busy = null;
    }
  }
}
