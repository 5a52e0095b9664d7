// Deterministic data order: a seeded shuffle, a train/validation split (ratio or count) and k rotating folds
// for cross-validation. The same seed gives the same split on every machine.

import { createRng, type Rng } from '../random';

/** A shuffled copy (Fisher–Yates) driven by a seed or a generator (which advances). */
export function shuffle<T>(items: readonly T[], seed: number | Rng): T[] {
  const rng = typeof seed === 'number' ? createRng(seed) : seed;
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

export interface Split<T> {
  train: T[];
  val: T[];
}

/**
 * Shuffles with `seed`, then the first valCount items (or ceil(valRatio × n), as datasets' train_test_split
 * rounds) are validation and the rest training. A non-zero ratio keeps at least one item on each side.
 */
export function trainValSplit<T>(items: readonly T[], opts: { valRatio?: number; valCount?: number; seed: number }): Split<T> {
  const n = items.length;
  let k: number;
  if (opts.valCount !== undefined && opts.valRatio !== undefined) throw new RangeError('give valRatio or valCount, not both');
  if (opts.valCount !== undefined) {
    k = opts.valCount;
    if (!Number.isInteger(k) || k < 0 || (k >= n && k > 0))
      throw new RangeError(`valCount must be an integer in [0, ${Math.max(0, n - 1)}], got ${k}`);
  } else if (opts.valRatio !== undefined) {
    const r = opts.valRatio;
    if (!(r >= 0 && r < 1)) throw new RangeError(`valRatio must be in [0, 1), got ${r}`);
    k = r === 0 ? 0 : Math.ceil(r * n - 1e-9);
    if (r > 0) {
      if (n < 2) throw new RangeError(`cannot split ${n} item${n === 1 ? '' : 's'} into training and validation`);
      k = Math.min(Math.max(k, 1), n - 1);
    }
  } else {
    throw new RangeError('trainValSplit needs valRatio or valCount');
  }
  const order = shuffle(items, opts.seed);
  return { val: order.slice(0, k), train: order.slice(k) };
}

/**
 * k folds for cross-validation: the items are shuffled once with `seed` and cut into k parts whose sizes
 * differ by at most one (the first n mod k parts are larger, as scikit-learn's KFold); fold i validates on
 * part i and trains on the others, in order.
 */
export function kFolds<T>(items: readonly T[], k: number, seed: number): Split<T>[] {
  const n = items.length;
  if (!Number.isInteger(k) || k < 2) throw new RangeError(`k must be an integer ≥ 2, got ${k}`);
  if (k > n) throw new RangeError(`k = ${k} folds need at least ${k} items, got ${n}`);
  const order = shuffle(items, seed);
  const bounds: number[] = [0];
  for (let i = 0; i < k; i++) bounds.push(bounds[i] + Math.floor(n / k) + (i < n % k ? 1 : 0));
  return Array.from({ length: k }, (_, i) => ({
    val: order.slice(bounds[i], bounds[i + 1]),
    train: [...order.slice(0, bounds[i]), ...order.slice(bounds[i + 1])],
  }));
}
