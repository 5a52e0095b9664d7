// Seeded shuffle, train/validation split and k-fold: deterministic, complete and disjoint.
import { describe, expect, it } from 'vitest';
import { kFolds, shuffle, trainValSplit } from '../../../../src/core/data/split';
import { createRng } from '../../../../src/core/random';

const items = Array.from({ length: 10 }, (_, i) => i);
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

describe('shuffle', () => {
  it('is a deterministic permutation per seed', () => {
    const a = shuffle(items, 1);
    expect(shuffle(items, 1)).toEqual(a);
    expect(sorted(a)).toEqual(items);
    expect(a).not.toEqual(items);
    expect(shuffle(items, 2)).not.toEqual(a);
    expect(items).toEqual(Array.from({ length: 10 }, (_, i) => i)); // input untouched
  });

  it('continues from a generator', () => {
    const r = createRng(5);
    const first = shuffle(items, r);
    const second = shuffle(items, r);
    expect(second).not.toEqual(first);
    const r2 = createRng(5);
    expect(shuffle(items, r2)).toEqual(first);
    expect(shuffle(items, r2)).toEqual(second);
  });

  it('is roughly uniform', () => {
    const firsts = new Array(4).fill(0);
    for (let s = 0; s < 4000; s++) firsts[shuffle([0, 1, 2, 3], s)[0]]++;
    for (const n of firsts) expect(Math.abs(n - 1000)).toBeLessThan(120);
  });
});

describe('trainValSplit', () => {
  it('by ratio (ceil, like datasets) and by count, disjoint and complete', () => {
    const r = trainValSplit(items, { valRatio: 0.25, seed: 3 });
    expect(r.val).toHaveLength(3);
    expect(r.train).toHaveLength(7);
    expect(sorted([...r.train, ...r.val])).toEqual(items);
    expect(trainValSplit(items, { valRatio: 0.25, seed: 3 })).toEqual(r);
    expect(trainValSplit(items, { valRatio: 0.2, seed: 3 }).val).toHaveLength(2);
    const c = trainValSplit(items, { valCount: 4, seed: 3 });
    expect(c.val).toHaveLength(4);
    expect(c.val).toEqual(shuffle(items, 3).slice(0, 4));
  });

  it('keeps one item on each side for tiny sets and ratio 0 keeps all for training', () => {
    expect(trainValSplit([1, 2], { valRatio: 0.01, seed: 1 }).val).toHaveLength(1);
    expect(trainValSplit([1, 2], { valRatio: 0.99, seed: 1 }).train).toHaveLength(1);
    expect(trainValSplit(items, { valRatio: 0, seed: 1 })).toEqual({ val: [], train: shuffle(items, 1) });
  });

  it('rejects bad arguments', () => {
    expect(() => trainValSplit(items, { seed: 1 })).toThrow(/valRatio or valCount/);
    expect(() => trainValSplit(items, { valRatio: 1, seed: 1 })).toThrow(RangeError);
    expect(() => trainValSplit(items, { valCount: 10, seed: 1 })).toThrow(RangeError);
    expect(() => trainValSplit(items, { valCount: 1, valRatio: 0.1, seed: 1 })).toThrow(/not both/);
    expect(() => trainValSplit([1], { valRatio: 0.5, seed: 1 })).toThrow(/cannot split 1 item/);
  });
});

describe('kFolds', () => {
  it('k rotating folds whose validation parts cover every item once', () => {
    const folds = kFolds(items, 3, 9);
    expect(folds).toHaveLength(3);
    expect(folds.map((f) => f.val.length)).toEqual([4, 3, 3]);
    expect(sorted(folds.flatMap((f) => f.val))).toEqual(items);
    for (const f of folds) {
      expect(sorted([...f.train, ...f.val])).toEqual(items);
      expect(f.train.filter((x) => f.val.includes(x))).toEqual([]);
    }
    const order = shuffle(items, 9);
    expect(folds[1].val).toEqual(order.slice(4, 7));
    expect(folds[1].train).toEqual([...order.slice(0, 4), ...order.slice(7)]);
    expect(kFolds(items, 3, 9)).toEqual(folds);
  });

  it('rejects bad k', () => {
    expect(() => kFolds(items, 1, 0)).toThrow(RangeError);
    expect(() => kFolds([1, 2], 3, 0)).toThrow(/at least 3 items/);
  });
});
