// The one-click demo: the embedded default model fine-tuned with LoRA on one of the demo datasets, with the
// numbers before and after (held-out loss; accuracy for the intent classifier) and side-by-side outputs.
// DOM-free: the CLI (`whetstone demo`) and the app's "Try the demo" run this same code.
import type { FileSource } from './files';
import { loadModel } from './models/model';
import { loadTokenizer, type WhetTokenizer } from './tokenizer';
import type { CausalLM } from './models/model';
import { generate } from './generate';
import { resolveTrainConfig } from './train/config';
import { assertTokenizerFits, prepareData, setupMethod, splitData } from './train/job';
import { evaluateSequences } from './train/evaluate';
import { Trainer, type TrainEvent } from './train/trainer';
import type { Example } from './data';
import type { ChatMessage } from './chat-template';
import { DEMO_DATASETS, type DemoDataset } from './demo-datasets';

export { DEMO_DATASETS, type DemoDataset, type DemoSpec } from './demo-datasets';

export interface DemoSample {
  prompt: string;
  before: string;
  after: string;
  expected?: string;
}

export interface DemoNumbers {
  val_loss: number;
  accuracy?: number;
}

export interface DemoResult {
  dataset: DemoDataset;
  steps: number;
  before: DemoNumbers;
  after: DemoNumbers;
  /** 1 − after/before of the held-out loss. */
  loss_reduction: number;
  samples: DemoSample[];
  wall_s: number;
}

interface Prompted {
  /** What the model is given, as text (rendered chat prompt or completion prompt). */
  input: string;
  /** Shown to people: the user's message or the prompt. */
  label: string;
  expected: string;
}

function promptOf(e: Example, tok: WhetTokenizer): Prompted | null {
  if (e.messages) {
    const lastAssistant = e.messages.map((m) => m.role).lastIndexOf('assistant');
    if (lastAssistant < 1) return null;
    const context: ChatMessage[] = e.messages.slice(0, lastAssistant);
    return { input: tok.applyChatTemplate(context, { addGenerationPrompt: true }), label: context[context.length - 1].content, expected: e.messages[lastAssistant].content };
  }
  if (e.prompt !== undefined) return { input: e.prompt, label: e.prompt, expected: e.completion ?? '' };
  if (e.text !== undefined) {
    const words = e.text.split(/\s+/);
    const head = words.slice(0, Math.min(12, Math.floor(words.length / 2))).join(' ');
    return { input: head, label: head, expected: words.slice(12, 40).join(' ') };
  }
  return null;
}

async function complete(model: CausalLM, tok: WhetTokenizer, input: string, maxNewTokens: number, stopAtNewline = false): Promise<string> {
  const ids = tok.encode(input, { addSpecialTokens: true });
  const stop = [...tok.endOfTurnIds];
  if (stopAtNewline) {
    const nl = tok.encode('\n', { addSpecialTokens: false });
    if (nl.length === 1) stop.push(nl[0]);
  }
  const out = await generate(model, ids, { maxNewTokens, greedy: true, stopIds: stop });
  return tok.decode(out.slice(ids.length), { skipSpecialTokens: true }).trim();
}

async function accuracyOf(model: CausalLM, tok: WhetTokenizer, examples: Prompted[]): Promise<number> {
  let hit = 0;
  for (const p of examples) {
    const got = (await complete(model, tok, p.input, 8, true)).split(/\s+/)[0] ?? '';
    if (got === p.expected.trim()) hit += 1;
  }
  return examples.length ? hit / examples.length : NaN;
}

export interface DemoOptions {
  model: FileSource;
  /** Reads a demo data file by name (public/data/…). */
  data: (name: string) => Promise<Blob>;
  dataset: DemoDataset;
  steps?: number;
  onEvent?: (e: TrainEvent) => void;
  onPhase?: (phase: 'load' | 'before' | 'train' | 'after', detail?: string) => void;
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const started = Date.now();
  const spec = DEMO_DATASETS[opts.dataset];
  opts.onPhase?.('load');
  const model = await loadModel(opts.model);
  const tok = await loadTokenizer(opts.model);
  assertTokenizerFits(model, tok);
  const config = resolveTrainConfig({ valRatio: 0, evalEvery: 0, seed: 1, ...spec.settings, steps: opts.steps ?? spec.settings.steps ?? 100 });
  const data = await prepareData(await opts.data(spec.train), spec.train, tok, config);
  let train = data.sequences;
  let heldSeqs: typeof train;
  let heldExamples: Example[];
  if (spec.heldout) {
    const held = await prepareData(await opts.data(spec.heldout), spec.heldout, tok, config);
    heldSeqs = held.sequences;
    heldExamples = held.dataset.examples;
  } else {
    const split = splitData(data.sequences, config);
    train = split.train;
    heldSeqs = split.val;
    heldExamples = data.dataset.examples.slice(-Math.max(1, split.val.length));
  }
  const padId = tok.padTokenId ?? tok.eosTokenId ?? 0;
  const prompts = heldExamples.map((e) => promptOf(e, tok)).filter((p): p is Prompted => p !== null);
  // Showcase the held-out prompts first (support's "net banking" case is first in its file).
  const shown = prompts.slice(0, spec.showcase);
  const maxNew = config.mode === 'chat' ? 96 : config.mode === 'text' ? 32 : 8;

  opts.onPhase?.('before');
  const before: DemoNumbers = { val_loss: (await evaluateSequences(model, heldSeqs, config.batchSize, padId)).loss };
  if (spec.classify) before.accuracy = await accuracyOf(model, tok, prompts);
  const beforeText: string[] = [];
  for (const p of shown) beforeText.push(await complete(model, tok, p.input, maxNew, spec.classify));

  opts.onPhase?.('train');
  const { trainables, noDecay } = setupMethod(model, config);
  const trainer = new Trainer(model, { config, train, val: [], padId, trainables, noDecay, onEvent: opts.onEvent });
  const summary = await trainer.run();
  trainer.dispose();

  opts.onPhase?.('after');
  const after: DemoNumbers = { val_loss: (await evaluateSequences(model, heldSeqs, config.batchSize, padId)).loss };
  if (spec.classify) after.accuracy = await accuracyOf(model, tok, prompts);
  const samples: DemoSample[] = [];
  for (let i = 0; i < shown.length; i++) {
    samples.push({ prompt: shown[i].label, before: beforeText[i], after: await complete(model, tok, shown[i].input, maxNew, spec.classify), expected: shown[i].expected });
  }
  model.dispose();
  return {
    dataset: opts.dataset,
    steps: summary.steps,
    before,
    after,
    loss_reduction: 1 - after.val_loss / before.val_loss,
    samples,
    wall_s: (Date.now() - started) / 1000,
  };
}
