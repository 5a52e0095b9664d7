// Attention as single kernels: heads split [B, T, n·D] → [B, n, T, D] (and merged back), RoPE (rotate-half)
// and causal scaled dot-product attention with a key padding mask, computed flash-style in tiles (online
// softmax forward, recomputing backward) so that no [B, H, T, S] score or probability tensor, and no [T, S]
// mask, is ever allocated.
import * as tf from '@tensorflow/tfjs';
import { elementwise, f32, intUniforms, run, sizeOf, type Uniform, type WebGpuProgram } from './backend-util';
import { DROP_UNIFORMS, DROP_WGSL, dropFactorJs, dropUniforms, type DropoutAttrs } from './dropout';
import {
  callKernel,
  defineComposite,
  defineGradient,
  defineKernel,
  disposeInfos,
  reshaped,
  runKernel,
  type Backend,
  type BackendName,
} from './register';

type Info = tf.TensorInfo;

// ---------------------------------------------------------------- heads

// Rows split into heads, [B, T, n·D] → [B, n, T, D], in one or several equal parts per row (GPT-2's fused c_attn
// output [B, T, 3·n·D] into q, k, v): part p of x [B, T, parts·n·D] → [B, n, T, D], one program per part, where
// a slice and a transpose each ran; the backward merges the parts' gradients into [B, T, parts·n·D] in one
// program (slices' concat, transposes).

/** b, t, heads; `shape`: the shape of the un-split side ([B, T, n·D] or [B·T, n·D]; with parts, parts·n·D). */
type HeadAttrs = { b: number; t: number; heads: number; shape: number[] };
type PartsAttrs = HeadAttrs & { parts: number };

/**
 * Element i of heads [B, n, T, D]: its column c, its position tt, and `row`, the index of element (b, tt, head,
 * 0) in the rows they are split from, [B, T, parts·n·D] (part p; a plain split: one part).
 */
function fromHeads(i: number, d: number, t: number, heads: number, parts = 1, p = 0): { c: number; tt: number; row: number } {
  const c = i % d;
  const tt = Math.floor(i / d) % t;
  const bh = Math.floor(i / (d * t));
  const bt = Math.floor(bh / heads) * t + tt;
  return { c, tt, row: ((bt * parts + p) * heads + (bh % heads)) * d };
}

defineKernel<PartsAttrs>({
  name: 'WhetSplitHeadsParts',
  cpu({ x }, backend, { b, t, heads, parts }) {
    const xv = f32(backend, x);
    const d = xv.length / (b * t * heads * parts);
    const outs: Info[] = [];
    for (let p = 0; p < parts; p++) {
      const out = new Float32Array(b * heads * t * d);
      for (let o = 0; o < out.length; o++) {
        const { c, row } = fromHeads(o, d, t, heads, parts, p);
        out[o] = xv[row + c];
      }
      outs.push(backend.makeTensorInfo([b, heads, t, d], 'float32', out));
    }
    return outs;
  },
  webgpu({ x }, backend, { b, t, heads, parts }) {
    const d = sizeOf(x.shape) / (b * t * heads * parts);
    const program = elementwise(
      'split_heads_part',
      ['x'],
      [b, heads, t, d],
      `
      let D = uniforms.d;
      let tt = (index / D) % uniforms.t;
      let bh = index / (D * uniforms.t);
      let bt = bh / uniforms.n * uniforms.t + tt;
      result[index] = x[((bt * uniforms.parts + uniforms.p) * uniforms.n + bh % uniforms.n) * D + index % D];`,
      't : i32, d : i32, n : i32, parts : i32, p : i32,',
    );
    return Array.from({ length: parts }, (_, p) => run(backend, program, [x], intUniforms(t, d, heads, parts, p)));
  },
});

defineKernel<PartsAttrs>({
  name: 'WhetMergeHeadsParts',
  cpu(inputs, backend, { b, t, heads, parts, shape }) {
    const dys = Array.from({ length: parts }, (_, p) => f32(backend, inputs[`dy${p}`]));
    const d = dys[0].length / (b * t * heads);
    const out = new Float32Array(parts * dys[0].length);
    for (let p = 0; p < parts; p++)
      for (let i = 0; i < dys[p].length; i++) {
        const { c, row } = fromHeads(i, d, t, heads, parts, p);
        out[row + c] = dys[p][i];
      }
    return backend.makeTensorInfo(shape, 'float32', out);
  },
  webgpu(inputs, backend, { b, t, heads, parts, shape }) {
    const d = sizeOf(shape) / (b * t * heads * parts);
    const names = Array.from({ length: parts }, (_, p) => `dy${p}`);
    const pick = names.map((name, p) => `if (p == ${p}) { result[index] = ${name}[i]; }`).join(' else ');
    const program = elementwise(
      `merge_heads_parts_${parts}`,
      names,
      shape,
      `
      let D = uniforms.d;
      let h = (index / D) % uniforms.n;
      let p = (index / (D * uniforms.n)) % ${parts};
      let bt = index / (D * uniforms.n * ${parts});
      let i = ((bt / uniforms.t * uniforms.n + h) * uniforms.t + bt % uniforms.t) * D + index % D; // in dy_p [B, n, T, D]
      ${pick}`,
      't : i32, d : i32, n : i32,',
    );
    return run(
      backend,
      program,
      names.map((name) => inputs[name]),
      intUniforms(t, d, heads),
    );
  },
});

defineGradient('WhetSplitHeadsParts', [], (dys, _s, attrs) => {
  const parts = Array.isArray(dys) ? dys : [dys]; // tfjs passes one output's gradient bare
  const inputs = Object.fromEntries(parts.map((dy, p) => [`dy${p}`, dy]));
  return { x: () => runKernel<tf.Tensor>('WhetMergeHeadsParts', inputs, attrs) };
});

/** x [B, T, n·D] or [B·T, n·D] → [B, n, T, D]. */
export function fusedSplitHeads(x: tf.Tensor, b: number, t: number, heads: number): tf.Tensor4D {
  return fusedSplitHeadsParts(x, b, t, heads, 1)[0];
}

/** x [B, T, parts·n·D] or [B·T, parts·n·D] → `parts` tensors [B, n, T, D]: x split along its last axis, then into heads. */
export function fusedSplitHeadsParts(x: tf.Tensor, b: number, t: number, heads: number, parts: number): tf.Tensor4D[] {
  return runKernel<tf.Tensor4D[]>('WhetSplitHeadsParts', { x }, { b, t, heads, parts, shape: x.shape });
}

// ---------------------------------------------------------------- RoPE

const ROPE_WGSL = `
  fn rotated(i : i32) -> vec2<i32> {
    // (source index, sign) of rotate_half at position i of a row of D: [-x2, x1].
    let D = uniforms.d;
    let hd = D / 2;
    let c = i % D;
    if (c < hd) { return vec2<i32>(i + hd, -1); }
    return vec2<i32>(i - hd, 1);
  }`;

defineKernel({
  name: 'WhetRope',
  cpu({ x, cos, sin }, backend) {
    const xv = f32(backend, x);
    const cv = f32(backend, cos);
    const sv = f32(backend, sin);
    const d = x.shape[3];
    const td = x.shape[2] * d;
    const half = d / 2;
    const out = new Float32Array(xv.length);
    for (let i = 0; i < xv.length; i++) {
      const c = i % d;
      const k = i % td;
      const rot = c < half ? -xv[i + half] : xv[i - half];
      out[i] = xv[i] * cv[k] + rot * sv[k];
    }
    return backend.makeTensorInfo(x.shape, 'float32', out);
  },
  webgpu({ x, cos, sin }, backend) {
    const [, , t, d] = x.shape;
    const program = elementwise(
      'rope',
      ['x', 'cos', 'sin'],
      x.shape,
      `
      let k = index % (uniforms.t * uniforms.d);
      let r = rotated(index);
      result[index] = x[index] * cos[k] + f32(r.y) * x[r.x] * sin[k];`,
      't : i32, d : i32,',
      ROPE_WGSL,
    );
    return run(
      backend,
      program,
      [x, cos, sin],
      [
        { type: 'int32', data: [t] },
        { type: 'int32', data: [d] },
      ],
    );
  },
});

defineKernel({
  name: 'WhetRopeGrad',
  cpu({ dy, cos, sin }, backend) {
    const g = f32(backend, dy);
    const cv = f32(backend, cos);
    const sv = f32(backend, sin);
    const d = dy.shape[3];
    const td = dy.shape[2] * d;
    const half = d / 2;
    const out = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) {
      const c = i % d;
      const k = i % td;
      // Transpose of rotate_half: position i receives +dy·sin from i+half (c < half) or −dy·sin from i−half.
      const back = c < half ? g[i + half] * sv[k + half] : -g[i - half] * sv[k - half];
      out[i] = g[i] * cv[k] + back;
    }
    return backend.makeTensorInfo(dy.shape, 'float32', out);
  },
  webgpu({ dy, cos, sin }, backend) {
    const [, , t, d] = dy.shape;
    const program = elementwise(
      'rope_grad',
      ['dy', 'cos', 'sin'],
      dy.shape,
      `
      let k = index % (uniforms.t * uniforms.d);
      let r = rotated(index);
      let kk = k + (r.x - index);
      result[index] = dy[index] * cos[k] - f32(r.y) * dy[r.x] * sin[kk];`,
      't : i32, d : i32,',
      ROPE_WGSL,
    );
    return run(
      backend,
      program,
      [dy, cos, sin],
      [
        { type: 'int32', data: [t] },
        { type: 'int32', data: [d] },
      ],
    );
  },
});

defineGradient('WhetRope', ['cos', 'sin'], (dy, [cos, sin]) => ({
  x: () => runKernel<tf.Tensor>('WhetRopeGrad', { dy: dy as tf.Tensor, cos, sin }),
}));

/** x · cos + rotate_half(x) · sin for x [B, H, T, D], cos/sin [T, D]. */
export function fusedRope(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  return runKernel<tf.Tensor4D>('WhetRope', { x, cos, sin });
}

// ---------------------------------------------------------------- heads split with RoPE
//
// splitHeads then RoPE (q and k of Llama-family attention) as one pass: element [b, h, t, c] of the output is
// row (b, t), head h of x [B, T, n·D], rotated as WhetRope rotates it; the backward is WhetRopeGrad's
// transpose written straight into [B, T, n·D]. Same values as the two kernels, one program each way.

defineKernel<HeadAttrs>({
  name: 'WhetSplitRope',
  cpu({ x, cos, sin }, backend, { b, t, heads }) {
    const [xv, cv, sv] = [x, cos, sin].map((a) => f32(backend, a));
    const d = xv.length / (b * t * heads);
    const half = d / 2;
    const out = new Float32Array(xv.length);
    for (let o = 0; o < out.length; o++) {
      const { c, tt, row } = fromHeads(o, d, t, heads);
      const k = tt * d + c;
      const rot = c < half ? -xv[row + c + half] : xv[row + c - half];
      out[o] = xv[row + c] * cv[k] + rot * sv[k];
    }
    return backend.makeTensorInfo([b, heads, t, d], 'float32', out);
  },
  webgpu({ x, cos, sin }, backend, { b, t, heads }) {
    const d = sizeOf(x.shape) / (b * t * heads);
    const program = elementwise(
      'split_rope',
      ['x', 'cos', 'sin'],
      [b, heads, t, d],
      `
      let D = uniforms.d;
      let c = index % D;
      let tt = (index / D) % uniforms.t;
      let bh = index / (D * uniforms.t);
      let row = ((bh / uniforms.n * uniforms.t + tt) * uniforms.n + bh % uniforms.n) * D;
      let k = tt * D + c;
      let hd = D / 2;
      var rot = 0.0;
      if (c < hd) { rot = -x[row + c + hd]; } else { rot = x[row + c - hd]; }
      result[index] = x[row + c] * cos[k] + rot * sin[k];`,
      't : i32, d : i32, n : i32,',
    );
    return run(backend, program, [x, cos, sin], intUniforms(t, d, heads));
  },
});

defineKernel<HeadAttrs>({
  name: 'WhetRopeMerge',
  cpu({ dy, cos, sin }, backend, { b, t, heads, shape }) {
    const [g, cv, sv] = [dy, cos, sin].map((a) => f32(backend, a));
    const d = g.length / (b * t * heads);
    const half = d / 2;
    const out = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) {
      const { c, tt, row } = fromHeads(i, d, t, heads);
      const k = tt * d + c;
      // as WhetRopeGrad: +dy·sin from i+half (c < half) or −dy·sin from i−half
      const back = c < half ? g[i + half] * sv[k + half] : -g[i - half] * sv[k - half];
      out[row + c] = g[i] * cv[k] + back;
    }
    return backend.makeTensorInfo(shape, 'float32', out);
  },
  webgpu({ dy, cos, sin }, backend, { b, t, heads, shape }) {
    const d = sizeOf(dy.shape) / (b * t * heads);
    const program = elementwise(
      'rope_merge',
      ['dy', 'cos', 'sin'],
      shape,
      `
      let D = uniforms.d;
      let c = index % D;
      let h = (index / D) % uniforms.n;
      let tt = (index / (D * uniforms.n)) % uniforms.t;
      let bb = index / (D * uniforms.n * uniforms.t);
      let i = ((bb * uniforms.n + h) * uniforms.t + tt) * D + c; // the element of dy [B, n, T, D]
      let k = tt * D + c;
      let hd = D / 2;
      var back = 0.0;
      if (c < hd) { back = dy[i + hd] * sin[k + hd]; } else { back = -dy[i - hd] * sin[k - hd]; }
      result[index] = dy[i] * cos[k] + back;`,
      't : i32, d : i32, n : i32,',
    );
    return run(backend, program, [dy, cos, sin], intUniforms(t, d, heads));
  },
});

defineGradient('WhetSplitRope', ['cos', 'sin'], (dy, [cos, sin], attrs) => ({
  x: () => runKernel<tf.Tensor>('WhetRopeMerge', { dy: dy as tf.Tensor, cos, sin }, attrs),
}));

/** x [B, T, n·D] or [B·T, n·D] → heads [B, n, T, D] with RoPE applied (cos/sin [T, D]): fusedRope(fusedSplitHeads(x)). */
export function fusedSplitRope(x: tf.Tensor, b: number, t: number, heads: number, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  return runKernel<tf.Tensor4D>('WhetSplitRope', { x, cos, sin }, { b, t, heads, shape: x.shape });
}

// ---------------------------------------------------------------- attention (flash-style, tiled)
//
// softmax(q kᵀ · scale + bias) v without a [B, H, T, S] score tensor: the forward walks the keys in tiles with
// an online softmax (running max m and sum l per query row) and saves, besides the output O, only the row
// statistics (m, log l) [B, H, T, 2] (m + log l is the row's log-sum-exp; kept apart because bias −1e9
// would swallow log l in f32 and a fully masked row would come back with p = 1 instead of 1/n). The bias is
// never stored: each score's is computed from its positions and the key mask [B|1, S], the same f32 values
// layers.ts's attentionBias materializes for the plain path (causal, query i at position S − T + i; padded
// keys −1e9). The backward recomputes the probabilities tile by tile: P = exp(s − m − log l),
// Dᵢ = Σ dO∘O, dS = P∘(dP − Dᵢ).
// Grouped key/value heads (query head h reads kv head ⌊h / (H/K)⌋) are indexed, never repeated; dk/dv sum
// over the group. On WebGPU each workgroup keeps its key/value (or query/dO) tile in shared memory.
// Dropout (training): probability (row, j) is multiplied by its factor z (0 or 1 / (1 − rate), dropout.ts's
// hash of its [B, H, T, S] index) in O = Σ P∘z v; the row sums l are over P; the backward takes dP = z∘(dO vᵀ),
// dV = (P∘z)ᵀ dO, and Dᵢ = Σ dO∘O still equals Σⱼ Pᵢⱼ dPᵢⱼ. Nothing is stored: z is drawn again.

interface AttnDims {
  b: number;
  h: number;
  kv: number;
  t: number;
  s: number;
  d: number;
  /** The key mask has a row per sequence (else one row for all). */
  keysBatched: boolean;
  /** S − T: positions before the first query (a KV cache's length); query i is at position past + i. */
  past: number;
  scale: number;
  /** Dropout on the probabilities (training): dropout.ts's hashed mask over the [B, H, T, S] indices. */
  drop?: DropoutAttrs;
}

type AttnAttrs = { scale: number; drop?: DropoutAttrs };

function attnDims(q: Info, k: Info, keys: Info, { scale, drop }: AttnAttrs): AttnDims {
  const [b, h, t, d] = q.shape;
  const s = k.shape[2];
  return { b, h, kv: k.shape[1], t, s, d, keysBatched: keys.shape[0] !== 1, past: s - t, scale, drop };
}

/**
 * The dropout factor of probability [row, j] (row = (b·H + h)·T + i, the flat [B, H, T, S] index row·S + j):
 * 0 or 1 / (1 − rate) as hashDropout draws it on the whole probability tensor; 1 without dropout.
 */
function dropFactor(dims: AttnDims): (row: number, j: number) => number {
  const z = dropFactorJs(dims.drop);
  const offset = dims.drop?.offset ?? 0;
  return (row, j) => z(offset + row * dims.s + j);
}
const ATTN_DROP_WGSL = `
    ${DROP_WGSL}
    fn dropZ(row : i32, j : i32) -> f32 {
      if (uniforms.dropOn == 0) { return 1.0; }
      return dropFactorAt(u32(row), u32(uniforms.s), u32(j));
    }`;

const NEG = -1e9; // as MASK_BIAS_WGSL's

/**
 * The additive bias of query i and key j (key mask value `key`: 1 real, 0 padding) in f32 steps, as
 * attentionBias computes it: min(causal + (1 − key) · −1e9, 0), causal −1e9 when j > past + i.
 */
function maskBias(i: number, j: number, key: number, past: number): number {
  return Math.min(Math.fround((j > past + i ? NEG : 0) + Math.fround((1 - key) * NEG)), 0);
}

/**
 * The first key of a sequence that is not padding (S when all are): query i sees a key exactly when
 * past + i ≥ it. A row that sees one skips every key after past + i (each adds exactly 0); a row that sees
 * none is computed over every key, as the plain path does.
 */
function firstKey(mv: ArrayLike<number>, keyRow: number, s: number): number {
  let f = 0;
  while (f < s && Math.fround((1 - mv[keyRow + f]) * NEG) < MASKED) f++;
  return f;
}
// The WGSL twins of maskBias and firstKey. keys may be stored as i32 (tfjs casts an int mask to f32 without
// a copy): read through f32().
const MASK_BIAS_WGSL = `
    fn maskBias(i : i32, j : i32, key : f32) -> f32 {
      return min(select(0.0, -1e9, j > uniforms.past + i) + (1.0 - key) * -1e9, 0.0);
    }
    fn firstKey(keyRow : i32) -> i32 {
      var f = 0;
      loop {
        if (f >= uniforms.s || (1.0 - f32(keys[keyRow + f])) * -1e9 >= MASKED) { break; }
        f = f + 1;
      }
      return f;
    }`;

/**
 * Masked keys are skipped, exactly: a key with bias < MASKED (attentionBias uses −1e9) in a row whose max is
 * above SEEN (the row has a visible key) gets p = exp(≈ −1e9) = 0 in f32 whatever q·k is, so its q·k, dO·v and
 * updates are not computed (about half the work under a causal mask). Rows that see no key at all (left
 * padding) are computed in full, as the plain path does.
 */
const MASKED = -1e7;
const SEEN = -1e6;
const MASK_WGSL = `const MASKED : f32 = ${MASKED}; const SEEN : f32 = ${SEEN}; const SKIP : f32 = -3.402823e+38;
    ${MASK_BIAS_WGSL}
    ${ATTN_DROP_WGSL}`;

/** Keys per shared tile (forward, dq): two tiles of keyTile·D floats stay within WebGPU's 16 KiB default. */
function keyTile(d: number): number {
  return Math.min(64, Math.max(1, Math.floor(2048 / d)));
}

/** Query rows per shared tile (dk/dv): q and dO tiles plus 3 row statistics each, within 16 KiB. */
function rowTile(d: number): number {
  return Math.min(64, Math.max(1, Math.floor(1900 / d)));
}

/** Threads per workgroup, one row each: fewer for short sequences (generation, T = 1). */
function threadsFor(n: number): number {
  return n >= 64 ? 64 : n >= 32 ? 32 : 16;
}

// ------------------------------------------------ cpu: the same tiled algorithm in JS

/**
 * One score in f32 steps, as the GPU and the plain path compute it: with bias −1e9 the q·k term vanishes in
 * f32, so the scores of a fully masked row tie (uniform probabilities) instead of ranking by q·k.
 */
function score(qk: number, scale: number, bias: number): number {
  return Math.fround(Math.fround(Math.fround(qk) * scale) + bias);
}

function forwardCpu(backend: Backend, q: Info, k: Info, v: Info, keys: Info, dims: AttnDims): Info[] {
  const [qv, kv, vv, mv] = [q, k, v, keys].map((x) => f32(backend, x));
  const { b: B, h: H, kv: K, t: T, s: S, d: D, scale } = dims;
  const rep = H / K;
  const BK = keyTile(D);
  const out = new Float32Array(B * T * H * D); // [B, T, H·D]
  const stats = new Float32Array(B * H * T * 2); // [B, H, T, (m, log l)]
  const acc = new Float64Array(D);
  const sc = new Float64Array(BK);
  const z = dropFactor(dims);
  for (let b = 0; b < B; b++) {
    const keyRow = (dims.keysBatched ? b : 0) * S;
    const first = firstKey(mv, keyRow, S);
    for (let h = 0; h < H; h++) {
      const kvBase = (b * K + Math.floor(h / rep)) * S * D;
      for (let i = 0; i < T; i++) {
        const qBase = ((b * H + h) * T + i) * D;
        const end = dims.past + i >= first ? dims.past + i + 1 : S; // causal: no key tile after the row's last
        let m = -Infinity;
        let l = 0;
        acc.fill(0);
        for (let j0 = 0; j0 < end; j0 += BK) {
          const n = Math.min(BK, S - j0);
          let tmax = m;
          for (let jj = 0; jj < n; jj++) {
            const bias = maskBias(i, j0 + jj, mv[keyRow + j0 + jj], dims.past);
            if (bias < MASKED && m > SEEN) {
              sc[jj] = -Infinity; // contributes exactly 0: skip its q·k and v
              continue;
            }
            const kb = kvBase + (j0 + jj) * D;
            let qk = 0;
            for (let c = 0; c < D; c++) qk += qv[qBase + c] * kv[kb + c];
            const x = score(qk, scale, bias);
            sc[jj] = x;
            if (x > tmax) tmax = x;
          }
          const corr = Math.exp(m - tmax); // rescales what the earlier tiles summed
          l *= corr;
          for (let c = 0; c < D; c++) acc[c] *= corr;
          for (let jj = 0; jj < n; jj++) {
            if (sc[jj] === -Infinity) continue;
            const p = Math.exp(sc[jj] - tmax);
            const vb = kvBase + (j0 + jj) * D;
            l += p; // the softmax's sum is over the probabilities before dropout
            const pz = p * z((b * H + h) * T + i, j0 + jj);
            for (let c = 0; c < D; c++) acc[c] += pz * vv[vb + c];
          }
          m = tmax;
        }
        const oBase = ((b * T + i) * H + h) * D;
        for (let c = 0; c < D; c++) out[oBase + c] = acc[c] / l;
        const r = ((b * H + h) * T + i) * 2;
        stats[r] = m;
        stats[r + 1] = Math.log(l);
      }
    }
  }
  return [backend.makeTensorInfo([B, T, H * D], 'float32', out), backend.makeTensorInfo([B, H, T, 2], 'float32', stats)];
}

function backwardCpu(backend: Backend, inputs: Record<string, Info>, dims: AttnDims): Info[] {
  const { dy, q, k, v, keys, y, stats } = inputs;
  const [gv, qv, kv, vv, mv, yv, st] = [dy, q, k, v, keys, y, stats].map((x) => f32(backend, x));
  const { b: B, h: H, kv: K, t: T, s: S, d: D, scale } = dims;
  const rep = H / K;
  const BK = keyTile(D);
  const BR = rowTile(D);
  const dq = new Float32Array(B * H * T * D);
  const dk = new Float32Array(B * K * S * D);
  const dv = new Float32Array(B * K * S * D);
  const z = dropFactor(dims);
  // Dᵢ = Σ dO∘O per query row [B, H, T] (O after dropout: Σⱼ Pᵢⱼ dPᵢⱼ with dP = z∘(dO vᵀ)).
  const di = new Float64Array(B * H * T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < T; i++) {
        const base = ((b * T + i) * H + h) * D;
        let acc = 0;
        for (let c = 0; c < D; c++) acc += gv[base + c] * yv[base + c];
        di[(b * H + h) * T + i] = acc;
      }
  // Key tiles outside, the group's query rows in tiles inside: dk/dv of a key tile complete in one pass,
  // dq accumulates across key tiles (FlashAttention-2's order).
  for (let b = 0; b < B; b++) {
    const keyRow = (dims.keysBatched ? b : 0) * S;
    const first = firstKey(mv, keyRow, S);
    for (let g = 0; g < K; g++) {
      const kvBase = (b * K + g) * S * D;
      const row0 = (b * H + g * rep) * T; // the group's first query row in [B, H, T]
      for (let j0 = 0; j0 < S; j0 += BK) {
        const nj = Math.min(BK, S - j0);
        for (let r0 = 0; r0 < rep * T; r0 += BR) {
          const nr = Math.min(BR, rep * T - r0);
          for (let rr = 0; rr < nr; rr++) {
            const r = r0 + rr;
            const h = g * rep + Math.floor(r / T);
            const i = r % T;
            if (dims.past + i < j0 && dims.past + i >= first) continue; // causal: the key tile adds 0 to this row
            const row = row0 + r;
            const qBase = row * D;
            const gBase = ((b * T + i) * H + h) * D;
            const m = st[row * 2];
            const logl = st[row * 2 + 1];
            for (let jj = 0; jj < nj; jj++) {
              const j = j0 + jj;
              const bias = maskBias(i, j, mv[keyRow + j], dims.past);
              if (bias < MASKED && m > SEEN) continue; // p = 0 exactly
              const kb = kvBase + j * D;
              let qk = 0;
              let dp = 0;
              for (let c = 0; c < D; c++) {
                qk += qv[qBase + c] * kv[kb + c];
                dp += gv[gBase + c] * vv[kb + c];
              }
              const p = Math.exp(score(qk, scale, bias) - m - logl);
              const zr = z(row, j);
              const ds = p * (dp * zr - di[row]) * scale;
              const pz = p * zr;
              for (let c = 0; c < D; c++) {
                dq[qBase + c] += ds * kv[kb + c];
                dk[kb + c] += ds * qv[qBase + c];
                dv[kb + c] += pz * gv[gBase + c];
              }
            }
          }
        }
      }
    }
  }
  return [
    backend.makeTensorInfo([B, H, T, D], 'float32', dq),
    backend.makeTensorInfo([B, K, S, D], 'float32', dk),
    backend.makeTensorInfo([B, K, S, D], 'float32', dv),
  ];
}

// ------------------------------------------------ webgpu

const ATTN_UNIFORMS =
  't : i32, s : i32, h : i32, kv : i32, keysBatched : i32, past : i32, scale : f32, groups : i32, nout : i32, ' +
  `dropOn : i32, ${DROP_UNIFORMS}`;

function attnUniforms(dims: AttnDims, groups: number, nout: number): Uniform[] {
  return [
    { type: 'int32', data: [dims.t] },
    { type: 'int32', data: [dims.s] },
    { type: 'int32', data: [dims.h] },
    { type: 'int32', data: [dims.kv] },
    { type: 'int32', data: [dims.keysBatched ? 1 : 0] },
    { type: 'int32', data: [dims.past] },
    { type: 'float32', data: [dims.scale] },
    { type: 'int32', data: [groups] },
    { type: 'int32', data: [nout] },
    { type: 'int32', data: [dims.drop ? 1 : 0] },
    ...dropUniforms(dims.drop),
  ];
}

/** A program of `groups` workgroups of `wg` threads; `main` finds its own workgroup (dispatch may be 2-D). */
function tiled(key: string, variableNames: string[], outputShape: number[], groups: number, wg: number, code: string): WebGpuProgram {
  return {
    variableNames,
    outputShape,
    shaderKey: `whet_${key}`,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [groups, 1, 1],
    workgroupSize: [wg, 1, 1],
    uniforms: ATTN_UNIFORMS,
    getUserCode: () => code,
  };
}

/**
 * Head-dim lanes: vec4<f32> when D is a multiple of 4 (dot products and updates four at a time), else f32.
 * Storage buffers stay scalar arrays (tfjs binds them so); `gather` builds a lane from W consecutive floats.
 */
interface Lanes {
  w: number;
  /** Lanes per row of D. */
  n: number;
  type: string;
  gather: (buf: string, idx: string) => string;
  dot: (a: string, b: string) => string;
  /** Writes lane `val` to result[idx …]. */
  scatter: (idx: string, val: string) => string;
}

function lanesOf(d: number): Lanes {
  if (d % 4 === 0)
    return {
      w: 4,
      n: d / 4,
      type: 'vec4<f32>',
      gather: (buf, idx) => `vec4<f32>(${buf}[${idx}], ${buf}[${idx} + 1], ${buf}[${idx} + 2], ${buf}[${idx} + 3])`,
      dot: (a, b) => `dot(${a}, ${b})`,
      scatter: (idx, val) =>
        `let lane = ${val}; result[${idx}] = lane.x; result[${idx} + 1] = lane.y; result[${idx} + 2] = lane.z; result[${idx} + 3] = lane.w;`,
    };
  return {
    w: 1,
    n: d,
    type: 'f32',
    gather: (buf, idx) => `${buf}[${idx}]`,
    dot: (a, b) => `(${a} * ${b})`,
    scatter: (idx, val) => `result[${idx}] = ${val};`,
  };
}

/** The constants every attention program starts with. */
function header(d: number, L: Lanes): string {
  return `
    const D : i32 = ${d};
    const W : i32 = ${L.w};
    const DW : i32 = ${L.n};
    alias Lane = ${L.type};
    ${MASK_WGSL}`;
}

// Shared by the query-row programs (forward, dq): which (b, h, query row) this thread owns.
const QUERY_ROW_WGSL = `
    let tid = i32(localId.x);
    // workgroupId is a private copy (not uniform to WGSL's analysis): no early return before the barriers.
    let raw = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
    let group = min(raw, uniforms.groups - 1);
    let T = uniforms.t;
    let S = uniforms.s;
    let tilesQ = (T + BQ - 1) / BQ;
    let bh = group / tilesQ;
    let h = bh % uniforms.h;
    let b = bh / uniforms.h;
    let kvBase = (b * uniforms.kv + h / (uniforms.h / uniforms.kv)) * S * D;
    let i = (group % tilesQ) * BQ + tid;
    let live = i < T && raw < uniforms.groups;
    let ii = min(i, T - 1); // idle threads compute on the last row and write nothing
    let keyRow = select(0, b, uniforms.keysBatched == 1) * S;
    // Causal: the keys after the group's last row are masked for all its rows, so their tiles are not
    // visited (each would add exactly 0), unless a row of the group sees no key at all.
    if (tid == 0) {
      let i0 = (group % tilesQ) * BQ;
      keyEnd = select(S, uniforms.past + min(i0 + BQ, T), uniforms.past + i0 >= firstKey(keyRow));
    }
    let kEnd = workgroupUniformLoad(&keyEnd);`;

function loadKvTile(L: Lanes): string {
  return `
      let n = min(BK, S - j0);
      workgroupBarrier();
      for (var e = tid; e < n * DW; e = e + BQ) {
        kTile[e] = ${L.gather('k', 'kvBase + j0 * D + e * W')};
        vTile[e] = ${L.gather('v', 'kvBase + j0 * D + e * W')};
      }
      workgroupBarrier();`;
}

/**
 * A program with one thread per query row (forward, dq): B·H·⌈T/BQ⌉ workgroups of BQ threads, key/value tiles
 * of BK rows in shared memory. `body(L)` is the rest of main() after the row's indices are set.
 */
function queryRowProgram(
  name: string,
  dims: AttnDims,
  inputs: string[],
  outputShape: number[],
  body: (L: ReturnType<typeof lanesOf>) => string,
): [WebGpuProgram, number] {
  const { d, t } = dims;
  const L = lanesOf(d);
  const bq = threadsFor(t);
  const bk = keyTile(d);
  const groups = dims.b * dims.h * Math.ceil(t / bq);
  const code = `
    ${header(d, L)}
    const BQ : i32 = ${bq};
    const BK : i32 = ${bk};
    var<workgroup> kTile : array<Lane, ${bk * L.n}>;
    var<workgroup> vTile : array<Lane, ${bk * L.n}>;
    var<workgroup> keyEnd : i32;
    fn main(index : i32) {
      ${QUERY_ROW_WGSL}
      ${body(L)}
    }`;
  return [tiled(`${name}_${d}_${bq}_${bk}`, inputs, outputShape, groups, bq, code), groups];
}

/** Output: O [B, T, H·D] then (m, log l) [B, H, T, 2], in one flat buffer (a program has one output). */
function forwardProgram(dims: AttnDims, total: number): [WebGpuProgram, number] {
  return queryRowProgram(
    'flash_fwd',
    dims,
    ['q', 'k', 'v', 'keys'],
    [total],
    (L) => `
      let qBase = (bh * T + ii) * D;
      var qr : array<Lane, DW>;
      var acc : array<Lane, DW>;
      for (var c = 0; c < DW; c = c + 1) {
        qr[c] = ${L.gather('q', 'qBase + c * W')};
        acc[c] = Lane(0.0);
      }
      var sc : array<f32, BK>;
      var m = -3.402823e+38;
      var l = 0.0;
      for (var j0 = 0; j0 < kEnd; j0 = j0 + BK) {
        ${loadKvTile(L)}
        var tmax = m;
        let seen = m > SEEN;
        for (var jj = 0; jj < n; jj = jj + 1) {
          let bb = maskBias(ii, j0 + jj, f32(keys[keyRow + j0 + jj]));
          if (seen && bb < MASKED) {
            sc[jj] = SKIP;
            continue;
          }
          var qk = 0.0;
          for (var c = 0; c < DW; c = c + 1) { qk = qk + ${L.dot('qr[c]', 'kTile[jj * DW + c]')}; }
          let x = qk * uniforms.scale + bb;
          sc[jj] = x;
          tmax = max(tmax, x);
        }
        let corr = exp(m - tmax);
        l = l * corr;
        for (var c = 0; c < DW; c = c + 1) { acc[c] = acc[c] * corr; }
        for (var jj = 0; jj < n; jj = jj + 1) {
          if (sc[jj] == SKIP) { continue; }
          let p = exp(sc[jj] - tmax);
          l = l + p;
          let pz = p * dropZ(bh * T + ii, j0 + jj);
          for (var c = 0; c < DW; c = c + 1) { acc[c] = acc[c] + pz * vTile[jj * DW + c]; }
        }
        m = tmax;
      }
      if (live) {
        let oBase = ((b * T + i) * uniforms.h + h) * D;
        for (var c = 0; c < DW; c = c + 1) { ${L.scatter('oBase + c * W', 'acc[c] / l')} }
        let r = uniforms.nout + (bh * T + i) * 2;
        result[r] = m;
        result[r + 1] = log(l);
      }`,
  );
}

/** (m, log l, Dᵢ = Σ dO∘O) per query row: [B, H, T, 3]. */
function rowStatsProgram(dims: AttnDims): WebGpuProgram {
  return elementwise(
    'flash_rows',
    ['gy', 'y', 'stats'],
    [dims.b, dims.h, dims.t, 3],
    `
    let row = index / 3;
    let part = index % 3;
    if (part < 2) {
      result[index] = stats[row * 2 + part];
    } else {
      let T = uniforms.t;
      let bh = row / T;
      let base = (((bh / uniforms.h) * T + row % T) * uniforms.h + bh % uniforms.h) * uniforms.d;
      var acc = 0.0;
      for (var c = 0; c < uniforms.d; c = c + 1) { acc = acc + gy[base + c] * y[base + c]; }
      result[index] = acc;
    }`,
    't : i32, h : i32, d : i32,',
  );
}

/** dq [B, H, T, D]: one thread per query row, key/value tiles in shared memory. */
function dqProgram(dims: AttnDims): [WebGpuProgram, number] {
  return queryRowProgram(
    'flash_dq',
    dims,
    ['q', 'k', 'v', 'gy', 'stat', 'keys'],
    [dims.b, dims.h, dims.t, dims.d],
    (L) => `
      let row = bh * T + ii;
      let gBase = ((b * T + ii) * uniforms.h + h) * D;
      var qr : array<Lane, DW>;
      var gr : array<Lane, DW>;
      var dq : array<Lane, DW>;
      for (var c = 0; c < DW; c = c + 1) {
        qr[c] = ${L.gather('q', 'row * D + c * W')};
        gr[c] = ${L.gather('gy', 'gBase + c * W')};
        dq[c] = Lane(0.0);
      }
      let m = stat[row * 3];
      let logl = stat[row * 3 + 1];
      let di = stat[row * 3 + 2];
      let seen = m > SEEN;
      for (var j0 = 0; j0 < kEnd; j0 = j0 + BK) {
        ${loadKvTile(L)}
        for (var jj = 0; jj < n; jj = jj + 1) {
          let bb = maskBias(ii, j0 + jj, f32(keys[keyRow + j0 + jj]));
          if (seen && bb < MASKED) { continue; }
          var qk = 0.0;
          var dp = 0.0;
          for (var c = 0; c < DW; c = c + 1) {
            qk = qk + ${L.dot('qr[c]', 'kTile[jj * DW + c]')};
            dp = dp + ${L.dot('gr[c]', 'vTile[jj * DW + c]')};
          }
          let p = exp((qk * uniforms.scale + bb - m) - logl);
          let ds = p * (dp * dropZ(row, j0 + jj) - di) * uniforms.scale;
          for (var c = 0; c < DW; c = c + 1) { dq[c] = dq[c] + ds * kTile[jj * DW + c]; }
        }
      }
      if (live) {
        for (var c = 0; c < DW; c = c + 1) { ${L.scatter('(bh * T + i) * D + c * W', 'dq[c]')} }
      }`,
  );
}

/**
 * dk then dv [2, B, K, S, D]: one thread per key row, the query rows of all heads of its group (rep·T,
 * contiguous in [B, H, T]) in tiles of q, dO and row statistics in shared memory.
 */
function dkvProgram(dims: AttnDims, nout: number): [WebGpuProgram, number] {
  const { d, s } = dims;
  const L = lanesOf(d);
  const bs = threadsFor(s);
  const br = rowTile(d);
  const groups = dims.b * dims.kv * Math.ceil(s / bs);
  const code = `
    ${header(d, L)}
    const BS : i32 = ${bs};
    const BR : i32 = ${br};
    var<workgroup> qTile : array<Lane, ${br * L.n}>;
    var<workgroup> gTile : array<Lane, ${br * L.n}>;
    var<workgroup> rTile : array<f32, ${br * 3}>;
    var<workgroup> rowSkip : vec2<i32>;
    fn main(index : i32) {
      let tid = i32(localId.x);
      let raw = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
      let group = min(raw, uniforms.groups - 1);
      let T = uniforms.t;
      let S = uniforms.s;
      let H = uniforms.h;
      let rep = H / uniforms.kv;
      let tilesS = (S + BS - 1) / BS;
      let bg = group / tilesS; // b·K + kv head
      let g = bg % uniforms.kv;
      let b = bg / uniforms.kv;
      let j = (group % tilesS) * BS + tid;
      let live = j < S && raw < uniforms.groups;
      let jj = min(j, S - 1);
      let kBase = (bg * S + jj) * D;
      var kr : array<Lane, DW>;
      var vr : array<Lane, DW>;
      var dk : array<Lane, DW>;
      var dv : array<Lane, DW>;
      for (var c = 0; c < DW; c = c + 1) {
        kr[c] = ${L.gather('k', 'kBase + c * W')};
        vr[c] = ${L.gather('v', 'kBase + c * W')};
        dk[c] = Lane(0.0);
        dv[c] = Lane(0.0);
      }
      let rows = rep * T;
      let row0 = (b * H + g * rep) * T;
      let keyRow = select(0, b, uniforms.keysBatched == 1) * S;
      let key = f32(keys[keyRow + jj]);
      // Causal: a tile of query rows (of one head) that come before the workgroup's first key, and that each
      // see some key, adds exactly 0 to every key here: skipped. (the first key, the first key seen)
      if (tid == 0) { rowSkip = vec2<i32>((group % tilesS) * BS, firstKey(keyRow)); }
      let skip = workgroupUniformLoad(&rowSkip);
      for (var r0 = 0; r0 < rows; r0 = r0 + BR) {
        let n = min(BR, rows - r0);
        let t0 = r0 % T;
        if (t0 + n <= T && uniforms.past + t0 + n - 1 < skip.x && uniforms.past + t0 >= skip.y) { continue; }
        workgroupBarrier();
        for (var e = tid; e < n * DW; e = e + BS) {
          let r = r0 + e / DW;
          let c = e % DW;
          qTile[e] = ${L.gather('q', '(row0 + r) * D + c * W')};
          gTile[e] = ${L.gather('gy', '((b * T + r % T) * H + g * rep + r / T) * D + c * W')};
        }
        for (var e = tid; e < n * 3; e = e + BS) { rTile[e] = stat[(row0 + r0) * 3 + e]; }
        workgroupBarrier();
        for (var rr = 0; rr < n; rr = rr + 1) {
          let bb = maskBias((r0 + rr) % T, jj, key);
          if (bb < MASKED && rTile[rr * 3] > SEEN) { continue; }
          var qk = 0.0;
          var dp = 0.0;
          for (var c = 0; c < DW; c = c + 1) {
            qk = qk + ${L.dot('qTile[rr * DW + c]', 'kr[c]')};
            dp = dp + ${L.dot('gTile[rr * DW + c]', 'vr[c]')};
          }
          let x = qk * uniforms.scale + bb;
          let p = exp((x - rTile[rr * 3]) - rTile[rr * 3 + 1]);
          let zr = dropZ(row0 + r0 + rr, jj);
          let ds = p * (dp * zr - rTile[rr * 3 + 2]) * uniforms.scale;
          let pz = p * zr;
          for (var c = 0; c < DW; c = c + 1) {
            dk[c] = dk[c] + ds * qTile[rr * DW + c];
            dv[c] = dv[c] + pz * gTile[rr * DW + c];
          }
        }
      }
      if (live) {
        let o = (bg * S + j) * D;
        for (var c = 0; c < DW; c = c + 1) {
          ${L.scatter('o + c * W', 'dk[c]')}
        }
        for (var c = 0; c < DW; c = c + 1) {
          ${L.scatter('uniforms.nout + o + c * W', 'dv[c]')}
        }
      }
    }`;
  return [tiled(`flash_dkv_${d}_${bs}_${br}`, ['q', 'k', 'v', 'gy', 'stat', 'keys'], [2 * nout], groups, bs, code), groups];
}

/** Cuts a flat buffer into pieces of the given shapes (copies; the buffer is freed). */
function split(backend: Backend, flat: Info, shapes: number[][]): Info[] {
  let begin = 0;
  const out = shapes.map((shape) => {
    const size = sizeOf(shape);
    const piece = callKernel('webgpu', backend, 'Slice', { x: flat }, { begin: [begin], size: [size] });
    begin += size;
    return reshaped(piece, shape);
  });
  disposeInfos(backend, flat);
  return out;
}

function forwardWebGpu(backend: Backend, q: Info, k: Info, v: Info, keys: Info, dims: AttnDims): Info[] {
  const { b, h, t, d } = dims;
  const nout = b * t * h * d;
  const total = nout + b * h * t * 2;
  const [program, groups] = forwardProgram(dims, total);
  const both = run(backend, program, [q, k, v, keys], attnUniforms(dims, groups, nout));
  return split(backend, both, [
    [b, t, h * d],
    [b, h, t, 2],
  ]);
}

function backwardWebGpu(backend: Backend, inputs: Record<string, Info>, dims: AttnDims): Info[] {
  const { dy, q, k, v, keys, y, stats } = inputs;
  const rows = run(
    backend,
    rowStatsProgram(dims),
    [dy, y, stats],
    [
      { type: 'int32', data: [dims.t] },
      { type: 'int32', data: [dims.h] },
      { type: 'int32', data: [dims.d] },
    ],
  );
  const [dqProg, dqGroups] = dqProgram(dims);
  const dq = run(backend, dqProg, [q, k, v, dy, rows, keys], attnUniforms(dims, dqGroups, 0));
  const nkv = dims.b * dims.kv * dims.s * dims.d;
  const [dkvProg, dkvGroups] = dkvProgram(dims, nkv);
  const dkv = run(backend, dkvProg, [q, k, v, dy, rows, keys], attnUniforms(dims, dkvGroups, nkv));
  disposeInfos(backend, rows);
  const kvShape = [dims.b, dims.kv, dims.s, dims.d];
  return [dq, ...split(backend, dkv, [kvShape, kvShape])];
}

// Outputs: the attention output [B, T, H·D] and the row statistics [B, H, T, 2] the backward needs.
defineComposite<AttnAttrs>('WhetAttention', ({ q, k, v, keys }, backend, attrs, name) => {
  const dims = attnDims(q, k, keys, attrs);
  return name === 'webgpu' ? forwardWebGpu(backend, q, k, v, keys, dims) : forwardCpu(backend, q, k, v, keys, dims);
});

defineComposite<AttnAttrs>('WhetAttentionGrad', (inputs, backend, attrs, name) => {
  const dims = attnDims(inputs.q, inputs.k, inputs.keys, attrs);
  return name === 'webgpu' ? backwardWebGpu(backend, inputs, dims) : backwardCpu(backend, inputs, dims);
});

defineGradient(
  'WhetAttention',
  ['q', 'k', 'v', 'keys'],
  (dys, [q, k, v, keys, y, stats], attrs) => {
    const dy = (dys as tf.Tensor[])[0];
    const [dq, dk, dv] = runKernel<tf.Tensor[]>('WhetAttentionGrad', { dy, q, k, v, keys, y, stats }, attrs);
    return { q: () => dq, k: () => dk, v: () => dv };
  },
  [true, true],
);

/**
 * Causal softmax(q kᵀ · scale + bias) v with heads merged: q [B, H, T, D], k/v [B, K, S, D] with K dividing H
 * (grouped-query attention: query head i uses key/value head ⌊i / (H/K)⌋, as repeat_interleave), query i at
 * position S − T + i seeing keys j ≤ S − T + i whose `keys` [B|1, S] value is 1 (0: padding) → [B, T, H·D].
 * `drop` (training): dropout on the probabilities, dropout.ts's hashed mask of the [B, H, T, S] indices (as
 * hashDropout on the plain path's probability tensor), applied tile by tile and drawn again in the backward.
 * Memory O(B·H·T·D), not O(B·H·T·S); no mask or bias tensor over T × S.
 */
export function fusedAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  keys: tf.Tensor2D,
  scale: number,
  drop?: DropoutAttrs,
): tf.Tensor3D {
  const [out, stats] = runKernel<tf.Tensor[]>('WhetAttention', { q, k, v, keys }, drop ? { scale, drop } : { scale });
  stats.dispose(); // the tape keeps its own reference when gradients are recorded
  return out as tf.Tensor3D;
}
