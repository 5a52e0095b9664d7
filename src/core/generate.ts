// Text generation with a key/value cache: greedy or sampled (temperature → top-k → top-p, as transformers
// orders its warpers), seeded, stopping on EOS / end-of-turn ids, streaming each new id to a callback.
import * as tf from '@tensorflow/tfjs';
import type { CausalLM } from './models/model';
import { KVCache } from './models/layers';
import { createRng } from './random';
import { assertDeviceAlive } from './backend';
import { checkPositions, positionLimit } from './hf-config';

export interface GenerateOptions {
  maxNewTokens: number;
  /** Greedy decoding (the default when no temperature is given). */
  greedy?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Ids that end generation (included in the output); empty: never stop early. */
  stopIds?: number[];
  onToken?: (id: number) => void;
  signal?: AbortSignal;
}

/** Picks the next id from one row of logits [V]. */
export function sampleNext(logits: Float32Array, opts: GenerateOptions, random: () => number): number {
  const greedy = opts.greedy ?? opts.temperature === undefined;
  if (greedy || (opts.temperature ?? 1) <= 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  const t = opts.temperature ?? 1;
  let order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
  if (opts.topK && opts.topK > 0) order = order.slice(0, opts.topK);
  const max = logits[order[0]];
  let probs = order.map((i) => Math.exp((logits[i] - max) / t));
  let sum = probs.reduce((a, b) => a + b, 0);
  probs = probs.map((p) => p / sum);
  if (opts.topP !== undefined && opts.topP < 1) {
    // Keep the smallest prefix whose mass reaches top_p (at least one token).
    let cum = 0;
    let keep = 0;
    while (keep < probs.length && (keep === 0 || cum < opts.topP)) cum += probs[keep++];
    order = order.slice(0, keep);
    probs = probs.slice(0, keep);
    sum = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / sum);
  }
  let u = random();
  for (let i = 0; i < probs.length; i++) {
    u -= probs[i];
    if (u < 0) return order[i];
  }
  return order[order.length - 1];
}

/** Returns the prompt ids followed by the generated ids. */
export async function generate(model: CausalLM, promptIds: number[], opts: GenerateOptions): Promise<number[]> {
  if (promptIds.length === 0) throw new Error('generate: the prompt is empty');
  checkPositions(model.config, promptIds.length, 'the prompt');
  const maxPos = positionLimit(model.config) ?? Infinity; // generation ends there (HF would fail past it)
  const rng = createRng(opts.seed ?? 0);
  const stop = new Set(opts.stopIds ?? []);
  const cache = new KVCache(model.config.numLayers);
  const out = [...promptIds];
  try {
    let input = promptIds;
    for (let n = 0; n < opts.maxNewTokens; n++) {
      if (opts.signal?.aborted) break;
      if (out.length >= maxPos) break;
      assertDeviceAlive();
      const last = tf.tidy(() => {
        const ids = tf.tensor2d(input, [1, input.length], 'int32');
        // logits for the last position only: [1, V], never a prompt's [T, V]
        const h = model.hidden(ids, { cache }); // [T, d]
        return model.logits(tf.slice(h, [input.length - 1, 0], [1, h.shape[1]])).reshape([-1]);
      });
      const row = (await last.data()) as Float32Array;
      last.dispose();
      const next = sampleNext(row, opts, () => rng.next());
      out.push(next);
      opts.onToken?.(next);
      if (stop.has(next)) break;
      input = [next];
    }
  } finally {
    cache.dispose();
  }
  return out;
}
