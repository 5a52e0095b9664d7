// The demo datasets (public/data/) and the settings the demo trains each with. Data only, no engine code:
// the app's page reads it (step defaults) without pulling tfjs onto the main thread.
import type { TrainConfig } from './train/config';

export type DemoDataset = 'support' | 'intent' | 'domain' | 'alpaca';

export interface DemoSpec {
  train: string;
  heldout: string | null;
  settings: Partial<TrainConfig>;
  /** Classify by generating the label (intent): report accuracy on the held-out set. */
  classify?: boolean;
  /** Prompts shown side by side before and after (user messages or completion prompts). */
  showcase: number;
}

export const DEMO_DATASETS: Record<DemoDataset, DemoSpec> = {
  support: { train: 'support.jsonl', heldout: 'support-heldout.jsonl', settings: { mode: 'chat', maxLength: 384, batchSize: 4, lr: 1e-2, steps: 120, lora: { r: 16, alpha: 32, dropout: 0, targets: 'all-linear', rslora: false } }, showcase: 2 },
  intent: { train: 'intent.jsonl', heldout: 'intent-test.jsonl', settings: { mode: 'completion', maxLength: 96, batchSize: 8, lr: 1e-2, steps: 150, lora: { r: 16, alpha: 32, dropout: 0, targets: 'all-linear', rslora: false } }, classify: true, showcase: 3 },
  domain: { train: 'domain.txt', heldout: 'domain-heldout.txt', settings: { mode: 'text', maxLength: 128, batchSize: 8, lr: 1e-2, steps: 100, lora: { r: 16, alpha: 32, dropout: 0, targets: 'all-linear', rslora: false } }, showcase: 1 },
  alpaca: { train: 'alpaca.json', heldout: null, settings: { mode: 'chat', maxLength: 192, batchSize: 4, lr: 1e-2, steps: 100, valRatio: 0.15, lora: { r: 16, alpha: 32, dropout: 0, targets: 'all-linear', rslora: false } }, showcase: 2 },
};
