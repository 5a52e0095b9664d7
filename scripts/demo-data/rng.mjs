// A small seeded PRNG (mulberry32) with the helpers the demo-data generators use. Deterministic: the same
// seed always gives the same files.

export class Rng {
  constructor(seed) {
    this.s = seed >>> 0;
  }
  /** A float in [0, 1). */
  next() {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n) {
    return Math.floor(this.next() * n);
  }
  chance(p) {
    return this.next() < p;
  }
  pick(arr) {
    return arr[this.int(arr.length)];
  }
  /** A new array, shuffled (Fisher-Yates). */
  shuffle(arr) {
    const a = arr.slice();
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
  /** k distinct elements, in random order. */
  sample(arr, k) {
    return this.shuffle(arr).slice(0, k);
  }
}

/** Text normalised for duplicate checks: lower case, letters and digits only, single spaces. */
export function norm(s) {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

export const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
