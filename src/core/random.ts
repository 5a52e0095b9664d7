// A small seeded PRNG (xoshiro128**, seeded through splitmix32) with a serialisable state, so that data
// order, dropout masks and sampling are reproducible and a run resumes exactly where it stopped.

export interface Rng {
  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number;
  /** Uniform unsigned 32-bit integer. */
  nextU32(): number;
  /** Uniform integer in [0, n) without modulo bias; n a positive integer ≤ 2^32. */
  nextInt(n: number): number;
  /** The four 32-bit words of the state; `setState` with them continues the exact same sequence. */
  state(): number[];
  setState(s: readonly number[]): void;
}

const TWO_32 = 4294967296;

/** splitmix32 step: turns any 32-bit seed into well-mixed state words (never all zero in practice). */
function splitmix32(x: number): [number, number] {
  x = (x + 0x9e3779b9) >>> 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return [x, (z ^ (z >>> 16)) >>> 0];
}

/** A generator from an integer seed (any safe integer; the high bits are mixed in too). */
export function createRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`rng seed must be a safe integer, got ${seed}`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / TWO_32) >>> 0;
  let x = (lo ^ Math.imul(hi, 0x27d4eb2d)) >>> 0;
  const s = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    const [nx, out] = splitmix32(x);
    x = nx;
    s[i] = out;
  }
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1; // xoshiro's one forbidden state

  const rotl = (v: number, k: number) => ((v << k) | (v >>> (32 - k))) >>> 0;
  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  };

  return {
    nextU32,
    next: () => nextU32() / TWO_32,
    nextInt(n: number): number {
      if (!Number.isInteger(n) || n <= 0 || n > TWO_32) throw new RangeError(`nextInt: n must be an integer in [1, 2^32], got ${n}`);
      // Rejection sampling: draw until the value falls in the largest multiple of n below 2^32.
      const limit = TWO_32 - (TWO_32 % n);
      for (;;) {
        const v = nextU32();
        if (v < limit) return v % n;
      }
    },
    state: () => Array.from(s),
    setState(st: readonly number[]): void {
      if (st.length !== 4 || st.some((v) => !Number.isInteger(v) || v < 0 || v >= TWO_32)) {
        throw new RangeError('rng state must be four unsigned 32-bit integers');
      }
      if (st.every((v) => v === 0)) throw new RangeError('rng state must not be all zero');
      for (let i = 0; i < 4; i++) s[i] = st[i];
    },
  };
}

/** Alias of createRng. */
export const rng = createRng;
