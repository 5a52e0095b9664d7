// AdamW as torch.optim.AdamW computes it (decoupled weight decay: p ← p·(1 − lr·wd) before the Adam
// update), with global-norm gradient clipping as torch.nn.utils.clip_grad_norm_. tf.train.adam has no
// decoupled decay, hence this file.
import * as tf from '@tensorflow/tfjs';
import { fusedAdamW, fusedClipScale, fusedGlobalNorm, fusedKernelsEnabled } from '../kernels'; // [fused kernels]
import { ADAMW_GROUP_BYTES } from '../memory';
import { maxBindingBytes } from '../backend';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Names of parameters exempt from weight decay (HF's default: biases and norm weights). */
  noDecay?: (name: string) => boolean;
}

export const ADAMW_DEFAULTS: AdamWOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

/** sqrt(Σ‖g‖²) over all gradients, as a scalar tensor. */
export function globalNorm(grads: tf.Tensor[]): tf.Scalar {
  if (fusedKernelsEnabled()) return fusedGlobalNorm(grads); // [fused kernels]
  return tf.tidy(() => tf.sqrt(tf.sum(tf.stack(grads.map((g) => tf.sum(tf.square(g)))))) as tf.Scalar);
}

/**
 * Scales gradients by min(1, maxNorm / (norm + 1e-6)) as torch does; returns the clipped gradients (new
 * tensors; the inputs are left to the caller) and the norm before clipping.
 */
export function clipByGlobalNorm(grads: tf.Tensor[], maxNorm: number): { grads: tf.Tensor[]; norm: tf.Scalar } {
  const norm = globalNorm(grads);
  if (!(maxNorm > 0)) return { grads: grads.map((g) => g.clone()), norm };
  if (fusedKernelsEnabled()) return { grads: fusedClipScale(grads, norm, maxNorm), norm }; // [fused kernels]
  const clipped = tf.tidy(() => {
    const coef = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
    return grads.map((g) => tf.mul(g, coef));
  });
  return { grads: clipped, norm };
}

/**
 * `t` as a (non-trainable) variable. The tensor is freed here: a variable shares its data, so the tensor left
 * alive would keep the buffer after the first assign (twice the moments' memory).
 */
function variableOf(t: tf.Tensor): tf.Variable {
  const v = tf.variable(t, false);
  t.dispose();
  return v;
}

/** Consecutive runs of `items` of at most `limit` bytes together; an item over the limit makes a run alone. */
export function byteGroups<T>(items: T[], bytes: (item: T) => number, limit: number): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let total = 0;
  for (const item of items) {
    const b = bytes(item);
    if (current.length > 0 && total + b > limit) {
      groups.push(current);
      current = [];
      total = 0;
    }
    current.push(item);
    total += b;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/**
 * A parameter's two moments: stacked as one tensor [2, ...shape], the first (m) then the second (v), so that the
 * fused update writes both in one WebGPU program (a program has one output); or, where that tensor would not fit
 * one storage-buffer binding (maxBindingBytes; a parameter itself is sized to fit one), apart.
 */
export type Moments = [mv: tf.Variable] | [m: tf.Variable, v: tf.Variable];

/** Whether the moments of a parameter of `size` elements are kept stacked (see Moments). */
function stackable(size: number): boolean {
  const limit = maxBindingBytes();
  return limit === null || 2 * 4 * size <= limit;
}

export class AdamW {
  readonly options: AdamWOptions;
  step = 0;
  /** Each parameter's moments, by its name. */
  readonly moments = new Map<string, Moments>();

  constructor(options: Partial<AdamWOptions> = {}) {
    this.options = { ...ADAMW_DEFAULTS, ...options };
  }

  /**
   * The first and second moments as separate new tensors by name (what a state file holds, what a roll-back
   * restores with load); the caller disposes them.
   */
  split(): { m: Map<string, tf.Tensor>; v: Map<string, tf.Tensor> } {
    const m = new Map<string, tf.Tensor>();
    const v = new Map<string, tf.Tensor>();
    for (const [name, mo] of this.moments) {
      const [a, b] = mo.length === 1 ? tf.unstack(mo[0]) : [mo[0].clone(), mo[1].clone()];
      m.set(name, a);
      v.set(name, b);
    }
    return { m, v };
  }

  /**
   * Sets the moments to those given by name in `m` and `v` (the same names and shapes), copying them; the
   * moments of other parameters are dropped (they start again from zeros), as in the state they come from.
   */
  load(m: Map<string, tf.Tensor>, v: Map<string, tf.Tensor>): void {
    this.dispose();
    for (const [name, a] of m) {
      const b = v.get(name);
      if (!b) throw new Error(`AdamW: a first moment for ${name} but no second`);
      this.moments.set(name, stackable(a.size) ? [variableOf(tf.stack([a, b]))] : [variableOf(a.clone()), variableOf(b.clone())]);
    }
  }

  /** The moments of parameter `name` (zeros on its first update). */
  #momentsOf(name: string, p: tf.Tensor): Moments {
    let mo = this.moments.get(name);
    if (!mo) {
      mo = stackable(p.size) ? [variableOf(tf.zeros([2, ...p.shape]))] : [variableOf(tf.zerosLike(p)), variableOf(tf.zerosLike(p))];
      this.moments.set(name, mo);
    }
    return mo;
  }

  /** One update of every named parameter with its gradient, at learning rate `lr`. */
  apply(params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>, lr: number): void {
    if (fusedKernelsEnabled()) return this.#fusedApply(params, grads, lr, 0); // [fused kernels]
    this.step += 1;
    const { beta1, beta2, eps } = this.options;
    const bc1 = 1 - Math.pow(beta1, this.step);
    const bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, this.step));
    const stepSize = lr / bc1;
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g) continue;
      const mo = this.#momentsOf(name, p);
      const decay = this.#decay(name, lr);
      const [p1, ...mo1] = tf.tidy(() => {
        const [m, v] = mo.length === 1 ? tf.unstack(mo[0]) : mo;
        const m1 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
        const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
        const denom = tf.add(tf.div(tf.sqrt(v1), bc2Sqrt), eps);
        const decayed = decay === 1 ? p : tf.mul(p, decay);
        const p1 = tf.sub(decayed, tf.mul(tf.div(m1, denom), stepSize));
        return mo.length === 1 ? [p1, tf.stack([m1, v1])] : [p1, m1, v1];
      });
      p.assign(p1);
      mo.forEach((t, i) => t.assign(mo1[i]));
      tf.dispose([p1, ...mo1]);
    }
  }

  /**
   * clipByGlobalNorm + apply; returns the gradient norm before clipping (the caller disposes it).
   * [fused kernels] With them on, the clipping is folded into the update kernel (src/core/kernels).
   */
  clipAndApply(params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>, lr: number, maxNorm: number): tf.Scalar {
    const norm = globalNorm([...grads.values()]);
    this.applyClipped(params, grads, lr, norm, maxNorm);
    return norm;
  }

  /**
   * apply() to the gradients scaled by min(1, maxNorm / (norm + 1e-6)), `norm` from globalNorm() (e.g.
   * read first to skip non-finite steps); maxNorm ≤ 0: no clipping. [fused kernels] One kernel a group.
   */
  applyClipped(params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>, lr: number, norm: tf.Scalar, maxNorm: number): void {
    if (fusedKernelsEnabled()) return this.#fusedApply(params, grads, lr, maxNorm > 0 ? maxNorm : 0, norm);
    if (!(maxNorm > 0)) return this.apply(params, grads, lr);
    const names = [...grads.keys()];
    const clipped = tf.tidy(() => {
      const coef = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
      return names.map((n) => tf.mul(grads.get(n)!, coef));
    });
    this.apply(params, new Map(names.map((n, i) => [n, clipped[i]])), lr);
    tf.dispose(clipped);
  }

  /** The factor decoupled weight decay scales a parameter by: 1 − lr·weightDecay, or 1 when exempt. */
  #decay(name: string, lr: number): number {
    const { weightDecay, noDecay } = this.options;
    return weightDecay > 0 && !(noDecay?.(name) ?? false) ? 1 - lr * weightDecay : 1;
  }

  /**
   * [fused kernels] The same update as apply() (plus clipping to maxNorm when > 0) as one kernel for each
   * group of parameters of at most ADAMW_GROUP_BYTES.
   */
  #fusedApply(params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>, lr: number, maxNorm: number, norm?: tf.Scalar): void {
    this.step += 1;
    const { beta1, beta2, eps } = this.options;
    const names = [...params.keys()].filter((name) => grads.has(name));
    for (const name of names) this.#momentsOf(name, params.get(name)!);
    const step = {
      lr,
      beta1,
      beta2,
      eps,
      bc2Sqrt: Math.sqrt(1 - Math.pow(beta2, this.step)),
      stepSize: lr / (1 - Math.pow(beta1, this.step)),
      maxNorm,
    };
    // A group at a time: its new parameters and moments replace the old before the next group's exist.
    for (const group of byteGroups(names, (n) => 4 * params.get(n)!.size, ADAMW_GROUP_BYTES)) {
      const out = fusedAdamW(
        group.map((n) => params.get(n)!),
        group.map((n) => grads.get(n)!),
        group.map((n) => this.moments.get(n)!),
        { ...step, decays: group.map((n) => this.#decay(n, lr)) },
        norm,
      );
      group.forEach((n, i) => {
        params.get(n)!.assign(out.params[i]);
        this.moments.get(n)!.forEach((t, j) => t.assign(out.moments[i][j]));
      });
      tf.dispose([...out.params, ...out.moments.flat()]);
    }
  }

  dispose(): void {
    for (const mo of this.moments.values()) tf.dispose(mo);
    this.moments.clear();
  }
}
