// A tiled matmul for the webgpu backend: C = alpha · op(A) op(B) (+ bias[N]) (+ addend[M, N]), batched over a
// leading dimension (an operand with batch 1 is broadcast). Each workgroup stages TK-deep slices of a
// TM×TN output tile through workgroup memory; each thread keeps a 4×4 block of outputs in registers.
// Loads are vec4 wherever the operand's contiguous dimension is a multiple of 4. 2D products also take a
// low-rank term in the epilogue (+ alpha₂ · L op(R): LoRA's up-projection) and a hashed dropout mask on an
// operand's loads or on that term (LoRA dropout on x, never stored). On 'cpu' the same kernel runs tfjs's
// BatchMatMul / _FusedMatMul (the reference it is tested against), the extras as tensors of their own.
// Pipelines are specialised on the shape's class, not its sizes (M, N, K are uniforms, so a new sequence
// length compiles nothing): transposes, which operands take vec4 loads, which dimensions fill whole tiles
// (bound checks dropped) and the epilogue; all of it is in the shaderKey tfjs caches pipelines by.
// Skinny products (op(A) with at most 4 rows, B as [N, K]: a decoding step's linear layers and LM head)
// take another program where the device has subgroups (subgroups.ts): one workgroup per 4 output columns
// splits K over its threads and sums with subgroupAdd, instead of a 32×32 tile that would compute 31
// rows of nothing.
import * as tf from '@tensorflow/tfjs';
import { elementwise, f32, intUniforms, run, sizeOf, type Uniform, type WebGpuBackendLike, type WebGpuProgram } from './backend-util';
import { callKernel, defineComposite, disposeInfos, reshaped, runKernel, type Backend, type BackendName } from './register';
import { unpackInfo, type PackedFormat } from './f16';
import { int8DecodeWgsl, int8Layout } from './int8';
import { subgroupsActive } from './subgroups';
import { DROP_UNIFORMS, DROP_WGSL, dropoutInfo, dropUniforms, type DropoutAttrs } from './dropout';

type Info = tf.TensorInfo;

export interface MatMulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
  /** The product's factor, applied before bias and addend (default 1): alpha · op(A) op(B) + bias + addend. */
  alpha?: number;
  /** [N], added to every row. */
  bias?: Info;
  /** [M, N] (added to every batch) or [B, M, N]: the full-matrix "bias" of tfjs's _FusedMatMul. */
  addend?: Info;
  /**
   * B is a frozen weight of this (logical, 2D) shape stored packed in int32 words: f16 bits two to a word
   * (f16.ts) or, with `packedFormatB` int8, bytes four to a word and a scale per row (int8.ts). The loads
   * decode it, so no f32 copy of the weight is ever made.
   */
  packedShapeB?: number[];
  /** How B is packed (default f16). */
  packedFormatB?: PackedFormat;
  /** A low-rank product added last (LoRA's branch in the same program as the base layer's product). */
  lowRank?: LowRank;
  /**
   * One hashed dropout mask (dropout.ts) applied as the program reads or writes: to A's elements (`a`, A
   * [M, K] untransposed), B's (`b`, B [K, N] untransposed) or the low-rank term's (`low`), each by its index
   * in its own [rows, cols] layout. 2D products only. LoRA's dropout on x, its mask drawn where x is read.
   */
  dropout?: { attrs: DropoutAttrs; a?: boolean; b?: boolean; low?: boolean };
}

/**
 * + alpha · L op(R) for L [M, r] and R [r, N] (or [N, r] with transposeR), r small (a LoRA rank): added in
 * the epilogue, element by element, on 2D products only.
 */
export interface LowRank {
  l: Info;
  r: Info;
  transposeR: boolean;
  alpha: number;
}

/** A tile shape: a WX×WY grid of threads, each computing 4×4 outputs, stepping TK along the inner dimension. */
interface Tiling {
  wx: number;
  wy: number;
  tk: number;
}

const LARGE: Tiling = { wx: 16, wy: 16, tk: 16 }; // 64×64 outputs per workgroup
const SMALL: Tiling = { wx: 8, wy: 8, tk: 16 }; // 32×32 outputs per workgroup

/** Everything the generated WGSL depends on; it is also the pipeline cache key. */
interface Spec extends Tiling {
  tA: boolean;
  tB: boolean;
  /** vec4 loads of A / B (their contiguous dimension is a multiple of 4). */
  vecA: boolean;
  vecB: boolean;
  /** vec4 output, addend and bias (N is a multiple of 4). */
  vecC: boolean;
  /** The dimension is a multiple of its tile size: that bound check is left out. */
  fitM: boolean;
  fitN: boolean;
  fitK: boolean;
  bias: boolean;
  addend: boolean;
  /** B is packed (scalar loads through halfB / int8At): its format, or null. */
  packedB: PackedFormat | null;
  /** The low-rank epilogue: 0 none, 1 R [r, N], 2 R [N, r]. */
  lowRank: LowRankKind;
  /** The dropout mask on A's loads, B's loads, the low-rank term. */
  dropA: boolean;
  dropB: boolean;
  dropLow: boolean;
}

type LowRankKind = 0 | 1 | 2;

function lowRankKind(o: MatMulOptions): LowRankKind {
  return o.lowRank ? (o.lowRank.transposeR ? 2 : 1) : 0;
}

/** What tfjs-backend-webgpu also reads: per-input vec widths, the output's, and a 3D dispatch layout. */
interface MatMulProgram extends WebGpuProgram {
  variableComponents: number[];
  outputComponent: number;
  dispatchLayout: { x: number[]; y: number[]; z: number[] };
}

interface Dims {
  batch: number;
  batchA: number;
  batchB: number;
  m: number;
  n: number;
  k: number;
  /** The output's shape: the broadcast batch dimensions, then [M, N]. */
  outShape: number[];
}

function dims(a: Info, b: Info, tA: boolean, tB: boolean): Dims {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) throw new Error(`matmul needs rank ≥ 2 operands, got [${a.shape}] and [${b.shape}]`);
  const m = tA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = tA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = tB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = tB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) throw new Error(`matmul inner dimensions differ: [${a.shape}]${tA ? 'ᵀ' : ''} · [${b.shape}]${tB ? 'ᵀ' : ''}`);
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = sizeOf(outerA);
  const batchB = sizeOf(outerB);
  let outer: number[];
  if (batchA === batchB) outer = outerA.length >= outerB.length ? outerA : outerB;
  else if (batchB === 1) outer = outerA;
  else if (batchA === 1) outer = outerB;
  else throw new Error(`matmul batch dimensions [${outerA}] and [${outerB}] do not broadcast`);
  return { batch: Math.max(batchA, batchB), batchA, batchB, m, n, k, outShape: [...outer, m, n] };
}

function shaderKey(s: Spec): string {
  const f = (b: boolean) => (b ? 1 : 0);
  return (
    `whet_mm_${s.wx}x${s.wy}x${s.tk}_t${f(s.tA)}${f(s.tB)}_v${f(s.vecA)}${f(s.vecB)}${f(s.vecC)}` +
    `_fit${f(s.fitM)}${f(s.fitN)}${f(s.fitK)}_e${f(s.bias)}${f(s.addend)}_p${s.packedB ?? 0}_l${s.lowRank}` +
    `_d${f(s.dropA)}${f(s.dropB)}${f(s.dropLow)}`
  );
}

/** `cond` joined with &&, or 'true' when every part was dropped. */
function all(...conds: (string | false)[]): string {
  const kept = conds.filter((c): c is string => !!c);
  return kept.length ? kept.join(' && ') : 'true';
}

/**
 * WGSL that fills one TK-deep slice of a workgroup tile. `As[k * TM4 + m4]` holds rows 4·m4…4·m4+3 of
 * op(A) at depth k, `Bs[k * TN4 + n4]` columns 4·n4…4·n4+3 of op(B): the inner loop then reads one vec4
 * of each per k.
 */
function loadA(s: Spec): string {
  const wg = s.wx * s.wy;
  const tm = 4 * s.wy;
  if (!s.tA && s.vecA) {
    // A [M, K], K % 4 == 0: one vec4 runs along k, scattered into 4 depths of As.
    const count = (tm * s.tk) / 4;
    return loop(
      count,
      wg,
      (i) => `
      let r = ${i} / ${s.tk / 4};
      let c4 = ${i} % ${s.tk / 4};
      let gm = tileM + r;
      let gk = k0 + c4 * 4;
      var v = vec4<f32>(0.0);
      if (${all(!s.fitM && 'gm < uniforms.mDim', !s.fitK && 'gk < uniforms.kDim')}) {
        v = A[(offA + gm * uniforms.kDim + gk) / 4];${s.dropA ? `\n        v = v * ${dropVec4('gm', 'uniforms.kDim', 'gk')};` : ''}
      }
      As[(c4 * 4) * TM4 + r / 4][r % 4] = v.x;
      As[(c4 * 4 + 1) * TM4 + r / 4][r % 4] = v.y;
      As[(c4 * 4 + 2) * TM4 + r / 4][r % 4] = v.z;
      As[(c4 * 4 + 3) * TM4 + r / 4][r % 4] = v.w;`,
    );
  }
  if (!s.tA) {
    return loop(
      tm * s.tk,
      wg,
      (i) => `
      let r = ${i} / ${s.tk};
      let c = ${i} % ${s.tk};
      let gm = tileM + r;
      let gk = k0 + c;
      var v = 0.0;
      if (${all(!s.fitM && 'gm < uniforms.mDim', !s.fitK && 'gk < uniforms.kDim')}) {
        v = A[offA + gm * uniforms.kDim + gk];${s.dropA ? `\n        v = v * ${dropAt('gm', 'uniforms.kDim', 'gk')};` : ''}
      }
      As[c * TM4 + r / 4][r % 4] = v;`,
    );
  }
  if (s.vecA) {
    // A [K, M], M % 4 == 0: a vec4 along m is exactly one As entry.
    return loop(
      (tm * s.tk) / 4,
      wg,
      (i) => `
      let kk = ${i} / TM4;
      let m4 = ${i} % TM4;
      let gk = k0 + kk;
      let gm = tileM + m4 * 4;
      var v = vec4<f32>(0.0);
      if (${all(!s.fitM && 'gm < uniforms.mDim', !s.fitK && 'gk < uniforms.kDim')}) {
        v = A[(offA + gk * uniforms.mDim + gm) / 4];
      }
      As[kk * TM4 + m4] = v;`,
    );
  }
  return loop(
    tm * s.tk,
    wg,
    (i) => `
      let kk = ${i} / ${tm};
      let r = ${i} % ${tm};
      let gk = k0 + kk;
      let gm = tileM + r;
      var v = 0.0;
      if (${all(!s.fitM && 'gm < uniforms.mDim', !s.fitK && 'gk < uniforms.kDim')}) {
        v = A[offA + gk * uniforms.mDim + gm];
      }
      As[kk * TM4 + r / 4][r % 4] = v;`,
  );
}

/** Element i of B: a plain load, or element i of the packed words (f16 half, or int8 byte times its row's scale). */
function bAt(packed: PackedFormat | null, i: string): string {
  if (packed === 'int8') return `int8At(${i}, uniforms.bWords, uniforms.bCols)`;
  return packed ? `halfB(${i})` : `B[${i}]`;
}

/** The decoder bAt calls for packed B: halfB here, int8.ts's int8At. */
function packedBWgsl(packed: PackedFormat | null): string {
  if (packed === 'f16')
    return `
  fn halfB(i : i32) -> f32 {
    let w = unpack2x16float(bitcast<u32>(B[i / 2]));
    return select(w.x, w.y, (i & 1) == 1);
  }`;
  return packed === 'int8' ? int8DecodeWgsl('B') : '';
}

/**
 * Uniforms every matmul program declares; bCols / bWords locate an int8 B's scales, rank and lowAlpha the
 * low-rank epilogue (0 where unused).
 */
const UNIFORMS =
  'mDim : i32, nDim : i32, kDim : i32, strideA : i32, strideB : i32, strideD : i32, bCols : i32, bWords : i32, alpha : f32, rank : i32, lowAlpha : f32,';

/** WGSL: the dropout factor of element [row, col] of a [rows, cols] operand (dropout.ts's dropFactorAt). */
function dropAt(row: string, cols: string, col: string): string {
  return `dropFactorAt(u32(${row}), u32(${cols}), u32(${col}))`;
}

/** ... of the four elements [row, col … col + 3]. */
function dropVec4(row: string, cols: string, col: string): string {
  return `vec4<f32>(${[0, 1, 2, 3].map((c) => dropAt(row, cols, c ? `${col} + ${c}` : col)).join(', ')})`;
}

/** Index into the low-rank epilogue's R of element (c, n) of op(R) (R [r, N], or [N, r] for kind 2). */
function lowRAt(kind: LowRankKind, c: string, n: string): string {
  return kind === 2 ? `lowR[(${n}) * uniforms.rank + ${c}]` : `lowR[${c} * uniforms.nDim + ${n}]`;
}

function loadB(s: Spec): string {
  const wg = s.wx * s.wy;
  const tn = 4 * s.wx;
  if (!s.tB && s.vecB) {
    // B [K, N], N % 4 == 0: a vec4 along n is exactly one Bs entry.
    return loop(
      (tn * s.tk) / 4,
      wg,
      (i) => `
      let kk = ${i} / TN4;
      let n4 = ${i} % TN4;
      let gk = k0 + kk;
      let gn = tileN + n4 * 4;
      var v = vec4<f32>(0.0);
      if (${all(!s.fitN && 'gn < uniforms.nDim', !s.fitK && 'gk < uniforms.kDim')}) {
        v = B[(offB + gk * uniforms.nDim + gn) / 4];${s.dropB ? `\n        v = v * ${dropVec4('gk', 'uniforms.nDim', 'gn')};` : ''}
      }
      Bs[kk * TN4 + n4] = v;`,
    );
  }
  if (!s.tB) {
    return loop(
      tn * s.tk,
      wg,
      (i) => `
      let kk = ${i} / ${tn};
      let c = ${i} % ${tn};
      let gk = k0 + kk;
      let gn = tileN + c;
      var v = 0.0;
      if (${all(!s.fitN && 'gn < uniforms.nDim', !s.fitK && 'gk < uniforms.kDim')}) {
        v = ${bAt(s.packedB, 'offB + gk * uniforms.nDim + gn')};${s.dropB ? `\n        v = v * ${dropAt('gk', 'uniforms.nDim', 'gn')};` : ''}
      }
      Bs[kk * TN4 + c / 4][c % 4] = v;`,
    );
  }
  if (s.vecB) {
    // B [N, K], K % 4 == 0: a vec4 along k, scattered into 4 depths of Bs.
    return loop(
      (tn * s.tk) / 4,
      wg,
      (i) => `
      let c = ${i} / ${s.tk / 4};
      let k4 = ${i} % ${s.tk / 4};
      let gn = tileN + c;
      let gk = k0 + k4 * 4;
      var v = vec4<f32>(0.0);
      if (${all(!s.fitN && 'gn < uniforms.nDim', !s.fitK && 'gk < uniforms.kDim')}) {
        v = B[(offB + gn * uniforms.kDim + gk) / 4];
      }
      Bs[(k4 * 4) * TN4 + c / 4][c % 4] = v.x;
      Bs[(k4 * 4 + 1) * TN4 + c / 4][c % 4] = v.y;
      Bs[(k4 * 4 + 2) * TN4 + c / 4][c % 4] = v.z;
      Bs[(k4 * 4 + 3) * TN4 + c / 4][c % 4] = v.w;`,
    );
  }
  return loop(
    tn * s.tk,
    wg,
    (i) => `
      let c = ${i} / ${s.tk};
      let kk = ${i} % ${s.tk};
      let gn = tileN + c;
      let gk = k0 + kk;
      var v = 0.0;
      if (${all(!s.fitN && 'gn < uniforms.nDim', !s.fitK && 'gk < uniforms.kDim')}) {
        v = ${bAt(s.packedB, 'offB + gn * uniforms.kDim + gk')};
      }
      Bs[kk * TN4 + c / 4][c % 4] = v;`,
  );
}

/** `count` loads shared by `wg` threads (count is a multiple of wg for every tiling here), unrolled. */
function loop(count: number, wg: number, body: (i: string) => string): string {
  if (count % wg !== 0) throw new Error(`tile load of ${count} is not a multiple of the workgroup (${wg})`);
  let out = '';
  for (let l = 0; l < count / wg; l++) out += `\n    {\n      let li = tid + ${l * wg};${body('li')}\n    }`;
  return out;
}

/** Writes row i of the thread's 4×4 block: the epilogue (bias, addend) and bounds checks included. */
function store(s: Spec, i: number): string {
  const row = `let gm${i} = rowBase + ${i};`;
  const guardM = s.fitM ? '' : `if (gm${i} < uniforms.mDim) `;
  const add = s.addend ? (s.vecC ? ` + addend[(offD + gm${i} * uniforms.nDim + colBase) / 4]` : '') : '';
  const low = s.lowRank ? ` + low${i} * uniforms.lowAlpha` : '';
  if (s.vecC) {
    const guardN = s.fitN ? '' : 'if (colBase < uniforms.nDim) ';
    return `${row}\n    ${guardM}{ ${guardN}{ result[(offC + gm${i} * uniforms.nDim + colBase) / 4] = acc${i} * uniforms.alpha${s.bias ? ' + bv' : ''}${add}${low}; } }`;
  }
  let cols = '';
  for (let j = 0; j < 4; j++) {
    const terms = [`acc${i}[${j}] * uniforms.alpha`];
    if (s.bias) terms.push(`bv[${j}]`);
    if (s.addend) terms.push(`addend[offD + gm${i} * uniforms.nDim + colBase + ${j}]`);
    if (s.lowRank) terms.push(`low${i}[${j}] * uniforms.lowAlpha`);
    const guardN = s.fitN ? '' : `if (colBase + ${j} < uniforms.nDim) `;
    cols += `\n      ${guardN}{ result[offC + gm${i} * uniforms.nDim + colBase + ${j}] = ${terms.join(' + ')}; }`;
  }
  return `${row}\n    ${guardM}{${cols}\n    }`;
}

/** WGSL: the batch (workgroup z) and where its A, B, output and addend start; both programs share it. */
const BATCH_OFFSETS = `let batch = i32(workgroupId.z);
    let offA = batch * uniforms.strideA;
    let offB = batch * uniforms.strideB;
    let offC = batch * uniforms.mDim * uniforms.nDim;
    let offD = batch * uniforms.strideD;`;

function userCode(s: Spec): string {
  const tm = 4 * s.wy;
  const tn = 4 * s.wx;
  const fma = Array.from({ length: s.tk }, (_, k) =>
    [
      `a = As[${k * (tm / 4)} + ty];`,
      `b = Bs[${k * (tn / 4)} + tx];`,
      'acc0 = fma(vec4<f32>(a.x), b, acc0);',
      'acc1 = fma(vec4<f32>(a.y), b, acc1);',
      'acc2 = fma(vec4<f32>(a.z), b, acc2);',
      'acc3 = fma(vec4<f32>(a.w), b, acc3);',
    ].join(' '),
  ).join('\n      ');
  let biasLoad = '';
  if (s.bias) {
    biasLoad = s.vecC
      ? `var bv = vec4<f32>(0.0);\n    if (colBase < uniforms.nDim) { bv = bias[colBase / 4]; }`
      : `var bv = vec4<f32>(0.0);\n    for (var j = 0; j < 4; j++) { if (colBase + j < uniforms.nDim) { bv[j] = bias[colBase + j]; } }`;
  }
  // The low-rank epilogue: low_i[j] = Σ_c L[row i, c] · op(R)[c, col j] for the thread's 4×4 block.
  const lowSum = s.lowRank
    ? `${[0, 1, 2, 3].map((i) => `var low${i} = vec4<f32>(0.0);`).join(' ')}
    for (var c = 0; c < uniforms.rank; c = c + 1) {
      var rv = vec4<f32>(0.0);
      for (var j = 0; j < 4; j++) { if (colBase + j < uniforms.nDim) { rv[j] = ${lowRAt(s.lowRank, 'c', 'colBase + j')}; } }
      ${[0, 1, 2, 3]
        .map(
          (i) =>
            `if (rowBase + ${i} < uniforms.mDim) { low${i} = fma(vec4<f32>(lowL[(rowBase + ${i}) * uniforms.rank + c]), rv, low${i}); }`,
        )
        .join('\n      ')}
    }${
      s.dropLow
        ? `
    for (var j = 0; j < 4; j++) {
      if (colBase + j < uniforms.nDim) {
        ${[0, 1, 2, 3].map((i) => `low${i}[j] = low${i}[j] * ${dropAt(`rowBase + ${i}`, 'uniforms.nDim', 'colBase + j')};`).join('\n        ')}
      }
    }`
        : ''
    }`
    : '';
  return `${packedBWgsl(s.packedB)}${s.dropA || s.dropB || s.dropLow ? DROP_WGSL : ''}
  const TM4 : i32 = ${tm / 4};
  const TN4 : i32 = ${tn / 4};
  var<workgroup> As : array<vec4<f32>, ${(tm * s.tk) / 4}>;
  var<workgroup> Bs : array<vec4<f32>, ${(tn * s.tk) / 4}>;

  fn main() {
    let tx = i32(localId.x);
    let ty = i32(localId.y);
    let tid = i32(localIndex);
    let tileN = i32(workgroupId.x) * ${tn};
    let tileM = i32(workgroupId.y) * ${tm};
    ${BATCH_OFFSETS}
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var a : vec4<f32>;
    var b : vec4<f32>;
    for (var k0 = 0; k0 < uniforms.kDim; k0 = k0 + ${s.tk}) {
      ${loadA(s)}
      ${loadB(s)}
      workgroupBarrier();
      ${fma}
      workgroupBarrier();
    }
    let rowBase = tileM + ty * 4;
    let colBase = tileN + tx * 4;
    ${biasLoad}
    ${lowSum}
    ${[0, 1, 2, 3].map((i) => store(s, i)).join('\n    ')}
  }`;
}

function program(s: Spec, batch: number, m: number, n: number, inputs: string[]): MatMulProgram {
  const vec: Record<string, boolean> = { A: s.vecA, B: s.vecB, bias: s.vecC, addend: s.vecC };
  const width = (name: string) => (vec[name] ? 4 : 1);
  return {
    variableNames: inputs,
    variableComponents: inputs.map(width),
    outputComponent: s.vecC ? 4 : 1,
    outputShape: [batch, m, n],
    shaderKey: shaderKey(s),
    dispatchLayout: { x: [2], y: [1], z: [0] },
    dispatch: [Math.ceil(n / (4 * s.wx)), Math.ceil(m / (4 * s.wy)), batch],
    workgroupSize: [s.wx, s.wy, 1],
    uniforms: UNIFORMS + (s.dropA || s.dropB || s.dropLow ? DROP_UNIFORMS : ''),
    getUserCode: () => userCode(s),
  };
}

/** The skinny program's cache key parts: vec4 loads (K % 4 == 0, B not packed), packed B, the epilogue. */
interface SkinnySpec {
  vec: boolean;
  packedB: PackedFormat | null;
  bias: boolean;
  addend: boolean;
  lowRank: LowRankKind;
  /** The dropout mask on the low-rank term (operand dropout takes the tiles). */
  dropLow: boolean;
}

const SKINNY_ROWS = 4; // rows of op(A) (M) the program takes
const SKINNY_COLS = 4; // output columns per workgroup
const SKINNY_WG = 64;

/**
 * C[b, r, n0 + c] for r < M ≤ 4, c < 4: thread t sums A[r, k] B[n0 + c, k] over k ≡ t (mod 64) into
 * acc_c (a vec4 over the four rows), then per column one subgroupAdd, the subgroup totals in their slots
 * of workgroup memory, and thread c folds the 64 / size slots in order and writes the column.
 */
function skinnyUserCode(s: SkinnySpec): string {
  const R = SKINNY_ROWS;
  const C = SKINNY_COLS;
  const rows = Array.from({ length: R }, (_, r) => r);
  const cols = Array.from({ length: C }, (_, c) => c);
  const w = s.vec ? 'vec4<f32>' : 'f32';
  const zero = s.vec ? 'vec4<f32>(0.0)' : '0.0';
  const kLen = s.vec ? 'uniforms.kDim / 4' : 'uniforms.kDim';
  const aAt = (r: number) => (s.vec ? `A[(offA + ${r} * uniforms.kDim) / 4 + kk]` : `A[offA + ${r} * uniforms.kDim + kk]`);
  const bAtCol = (c: number) =>
    s.vec ? `B[(offB + (n0 + ${c}) * uniforms.kDim) / 4 + kk]` : bAt(s.packedB, `offB + (n0 + ${c}) * uniforms.kDim + kk`);
  const dotOf = (a: string, b: string) => (s.vec ? `dot(${a}, ${b})` : `${a} * ${b}`);
  const loadsA = rows.map((r) => `var a${r} = ${zero};\n      if (${r} < uniforms.mDim) { a${r} = ${aAt(r)}; }`).join('\n      ');
  const fmas = cols
    .map(
      (c) => `if (n0 + ${c} < uniforms.nDim) {
        let b${c} = ${bAtCol(c)};
        acc${c} = acc${c} + vec4<f32>(${rows.map((r) => dotOf(`a${r}`, `b${c}`)).join(', ')});
      }`,
    )
    .join('\n      ');
  const epilogue = (r: number) => {
    const terms = [`total[${r}] * uniforms.alpha`];
    if (s.bias) terms.push('bias[n]');
    if (s.addend) terms.push(`addend[offD + ${r} * uniforms.nDim + n]`);
    if (s.lowRank) terms.push(`lowAt(${r}, n)`);
    return `if (${r} < uniforms.mDim) { result[offC + ${r} * uniforms.nDim + n] = ${terms.join(' + ')}; }`;
  };
  const lowAt = s.lowRank
    ? `
  fn lowAt(r : i32, n : i32) -> f32 {
    var sum = 0.0;
    for (var c = 0; c < uniforms.rank; c = c + 1) { sum = sum + lowL[r * uniforms.rank + c] * ${lowRAt(s.lowRank, 'c', 'n')}; }
    return sum * uniforms.lowAlpha${s.dropLow ? ` * ${dropAt('r', 'uniforms.nDim', 'n')}` : ''};
  }`
    : '';
  return `${packedBWgsl(s.packedB)}${s.dropLow ? DROP_WGSL : ''}${lowAt}
  enable subgroups;
  var<workgroup> red : array<vec4<f32>, ${C * SKINNY_WG}>;

  fn main() {
    let tid = i32(localIndex);
    let n0 = i32(workgroupId.x) * ${C};
    ${BATCH_OFFSETS}
    ${cols.map((c) => `var acc${c} = vec4<f32>(0.0);`).join(' ')}
    for (var kk = tid; kk < ${kLen}; kk = kk + ${SKINNY_WG}) {
      ${loadsA}
      ${fmas}
    }
    let size = i32(subgroupAdd(1u));
    ${cols.map((c) => `let part${c} = subgroupAdd(acc${c});`).join('\n    ')}
    if (tid % size == 0) {
      ${cols.map((c) => `red[${c * SKINNY_WG} + tid / size] = part${c};`).join('\n      ')}
    }
    workgroupBarrier();
    if (tid < ${C} && n0 + tid < uniforms.nDim) {
      let n = n0 + tid;
      var total = red[tid * ${SKINNY_WG}];
      for (var i = 1; i < ${SKINNY_WG} / size; i++) {
        total = total + red[tid * ${SKINNY_WG} + i];
      }
      ${rows.map(epilogue).join('\n      ')}
    }
  }`;
}

/** Whether the skinny subgroup program takes this product (the caller checked the operands themselves). */
function skinny(d: Dims, tA: boolean, tB: boolean): boolean {
  return subgroupsActive() && tB && !tA && d.m <= SKINNY_ROWS && d.k >= SKINNY_WG && Math.ceil(d.n / SKINNY_COLS) <= 65535;
}

/** Whether a 2D product of these sizes runs the skinny subgroup program now (what a benchmark reports). */
export function usesSubgroupProgram(m: number, n: number, k: number, transposeA: boolean, transposeB: boolean): boolean {
  return skinny({ batch: 1, batchA: 1, batchB: 1, m, n, k, outShape: [m, n] }, transposeA, transposeB);
}

function skinnyProgram(s: SkinnySpec, batch: number, m: number, n: number, inputs: string[]): MatMulProgram {
  const f = (b: boolean) => (b ? 1 : 0);
  return {
    variableNames: inputs,
    variableComponents: inputs.map((name) => (s.vec && (name === 'A' || name === 'B') ? 4 : 1)),
    outputComponent: 1,
    outputShape: [batch, m, n],
    shaderKey: `whet_mm_skinny_v${f(s.vec)}_p${s.packedB ?? 0}_e${f(s.bias)}${f(s.addend)}_l${s.lowRank}_d${f(s.dropLow)}`,
    dispatchLayout: { x: [2], y: [1], z: [0] },
    dispatch: [Math.ceil(n / SKINNY_COLS), 1, batch],
    workgroupSize: [SKINNY_WG, 1, 1],
    uniforms: UNIFORMS + (s.dropLow ? DROP_UNIFORMS : ''),
    getUserCode: () => skinnyUserCode(s),
  };
}

/** Which tiling: 64×64 tiles once there are enough of them to keep a GPU busy, else 32×32. */
function tiling(batch: number, m: number, n: number): Tiling {
  const large = batch * Math.ceil(m / 64) * Math.ceil(n / 64);
  return m >= 64 && n >= 64 && large >= 32 ? LARGE : SMALL;
}

/** Whether the tiled kernel takes these operands (float32, batch dimensions that flatten and broadcast). */
export function tiledMatMulSupports(a: Info, b: Info, o: MatMulOptions = {}): boolean {
  const ts = [a, o.packedShapeB ? undefined : b, o.bias, o.addend].filter((t): t is Info => !!t);
  if (ts.some((t) => t.dtype !== 'float32')) return false;
  if (o.packedShapeB && (b.dtype !== 'int32' || o.packedShapeB.length !== 2)) return false;
  try {
    const d = dims(a, logicalB(b, o), !!o.transposeA, !!o.transposeB);
    if (o.bias && sizeOf(o.bias.shape) !== d.n) return false;
    if (o.addend) {
      const size = sizeOf(o.addend.shape);
      if (size !== d.m * d.n && size !== d.batch * d.m * d.n) return false;
    }
    if (o.dropout) {
      const { a: onA, b: onB, low } = o.dropout;
      if (d.batch !== 1 || (onA && o.transposeA) || (onB && (o.transposeB || o.packedShapeB)) || (low && !o.lowRank)) return false;
    }
    if (o.lowRank) {
      const { l, r, transposeR } = o.lowRank;
      const rank = l.shape[1];
      const rShape = transposeR ? [d.n, rank] : [rank, d.n];
      if (d.batch !== 1 || l.dtype !== 'float32' || r.dtype !== 'float32') return false;
      if (l.shape.length !== 2 || l.shape[0] !== d.m || r.shape.length !== 2 || r.shape.some((x, i) => x !== rShape[i])) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** B as the matmul sees it: itself, or (packed) a stand-in with the weight's logical shape. */
function logicalB(b: Info, o: MatMulOptions): Info {
  return o.packedShapeB ? { ...b, shape: o.packedShapeB, dtype: 'float32' } : b;
}

/** op(A) op(B) (+ bias) (+ addend) on the webgpu backend through the tiled program. */
export function tiledMatMulWebGpu(backend: WebGpuBackendLike, a: Info, b: Info, o: MatMulOptions = {}): Info {
  const tA = !!o.transposeA;
  const tB = !!o.transposeB;
  const packedB = o.packedShapeB ? (o.packedFormatB ?? 'f16') : null;
  const d = dims(a, logicalB(b, o), tA, tB);
  const { batch, m, n, k } = d;
  if (batch * m * n === 0) return backend.makeTensorInfo(d.outShape, 'float32', new Float32Array(0));
  const drop = o.dropout;
  const thin = skinny(d, tA, tB) && !drop?.a && !drop?.b; // operand dropout: the tiles' loads
  const t = tiling(batch, m, n);
  const spec: Spec = {
    ...t,
    tA,
    tB,
    vecA: (tA ? m : k) % 4 === 0,
    vecB: !packedB && (tB ? k : n) % 4 === 0,
    vecC: n % 4 === 0,
    fitM: m % (4 * t.wy) === 0,
    fitN: n % (4 * t.wx) === 0,
    fitK: k % t.tk === 0,
    bias: !!o.bias,
    addend: !!o.addend,
    packedB,
    lowRank: lowRankKind(o),
    dropA: !!drop?.a,
    dropB: !!drop?.b,
    dropLow: !!drop?.low,
  };
  const names = ['A', 'B'];
  // The packed words keep their own (flat) shape: only the program's index arithmetic sees [K, N] / [N, K].
  const inputs = [reshaped(a, [d.batchA, tA ? k : m, tA ? m : k]), packedB ? b : reshaped(b, [d.batchB, tB ? n : k, tB ? k : n])];
  if (o.bias) {
    names.push('bias');
    inputs.push(reshaped(o.bias, [n]));
  }
  let strideD = 0;
  if (o.addend) {
    const perBatch = sizeOf(o.addend.shape) !== m * n;
    strideD = perBatch ? m * n : 0;
    names.push('addend');
    inputs.push(reshaped(o.addend, [perBatch ? batch : 1, m, n]));
  }
  if (o.lowRank) {
    names.push('lowL', 'lowR');
    inputs.push(o.lowRank.l, o.lowRank.r);
  }
  const int8 = packedB === 'int8' ? int8Layout(o.packedShapeB!) : null;
  const uniforms: Uniform[] = [
    ...intUniforms(m, n, k, d.batchA === 1 ? 0 : m * k, d.batchB === 1 ? 0 : k * n, strideD, int8?.cols ?? 0, int8?.words ?? 0),
    { type: 'float32', data: [o.alpha ?? 1] },
    { type: 'int32', data: [o.lowRank ? o.lowRank.l.shape[1] : 0] },
    { type: 'float32', data: [o.lowRank?.alpha ?? 0] },
    ...(drop ? dropUniforms(drop.attrs) : []),
  ];
  const skinnySpec = {
    vec: !packedB && k % 4 === 0,
    packedB,
    bias: !!o.bias,
    addend: !!o.addend,
    lowRank: spec.lowRank,
    dropLow: spec.dropLow,
  };
  const prog = thin ? skinnyProgram(skinnySpec, batch, m, n, names) : program(spec, batch, m, n, names);
  const out = run(backend, prog, inputs, uniforms);
  return reshaped(out, d.outShape);
}

/**
 * The reference implementation on the cpu backend: tfjs's own kernels (alpha · op(A) op(B) as op(alpha · A)
 * op(B), on a scaled copy of A).
 */
function tfjsMatMul(name: BackendName, backend: Backend, a: Info, b: Info, o: MatMulOptions): Info {
  if (o.alpha !== undefined && o.alpha !== 1) {
    const aS = scaledInfo(name, backend, a, o.alpha);
    const out = tfjsMatMul(name, backend, aS, b, { ...o, alpha: undefined });
    disposeInfos(backend, aS);
    return out;
  }
  const attrs = { transposeA: !!o.transposeA, transposeB: !!o.transposeB };
  const bias = o.bias ?? o.addend;
  const y = bias
    ? callKernel(name, backend, '_FusedMatMul', { a, b, bias }, { ...attrs, activation: 'linear', leakyreluAlpha: 0 })
    : callKernel(name, backend, 'BatchMatMul', { a, b }, attrs);
  if (!(o.bias && o.addend)) return y;
  const out = callKernel(name, backend, 'Add', { a: y, b: o.addend });
  disposeInfos(backend, y);
  return out;
}

/** s · x as a new tensor (the CPU backend's way to an alpha). */
function scaledInfo(name: BackendName, backend: Backend, x: Info, s: number): Info {
  if (name === 'webgpu')
    return run(
      backend,
      elementwise('scale', ['x'], x.shape, 'result[index] = x[index] * uniforms.s;', 's : f32,'),
      [x],
      [{ type: 'float32', data: [s] }],
    );
  const v = f32(backend, x);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] * s;
  return backend.makeTensorInfo(x.shape, 'float32', out);
}

interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
  alpha?: number;
  packedShapeB?: number[];
  packedFormatB?: PackedFormat;
  /** With inputs lowL and lowR: the low-rank term's transposeR and alpha. */
  lowTransposeR?: boolean;
  lowAlpha?: number;
  dropout?: MatMulOptions['dropout'];
}

/**
 * op(a) op(b) (+ bias) (+ addend) inside a kernel: the tiled program on webgpu where it takes the operands
 * (a packed b, f16 or int8, read in place), else tfjs's matmul; a packed b it cannot read in place (the CPU
 * backend, or shapes the tiled program refuses) is decoded into a scratch copy first and freed after.
 * `o.packedShapeB`: b is a packed weight of that shape, stored as `o.packedFormatB`.
 */
export function matMulInfo(name: BackendName, backend: Backend, a: Info, b: Info, o: MatMulOptions): Info {
  const tiled = (bb: Info, p: MatMulOptions) => name === 'webgpu' && tiledMatMulSupports(a, bb, p);
  if (tiled(b, o)) return tiledMatMulWebGpu(backend, a, b, o);
  if (o.dropout) {
    // Not in one program: the masked operands (and term) as tensors of their own, then the product.
    const { attrs, a: onA, b: onB, low } = o.dropout;
    const aD = onA ? dropoutInfo(name, backend, a, attrs) : a;
    const bD = onB ? dropoutInfo(name, backend, b, attrs) : b;
    let rest: MatMulOptions = { ...o, dropout: undefined };
    let lowD: Info | null = null;
    if (low && o.lowRank) {
      const { l, r, transposeR, alpha } = o.lowRank;
      const product = matMulInfo(name, backend, l, r, { transposeB: transposeR, alpha });
      lowD = dropoutInfo(name, backend, product, attrs, o.addend);
      disposeInfos(backend, product);
      rest = { ...rest, lowRank: undefined, addend: lowD };
    }
    const out = matMulInfo(name, backend, aD, bD, rest);
    for (const t of [aD !== a && aD, bD !== b && bD, lowD]) if (t) disposeInfos(backend, t);
    return out;
  }
  if (o.lowRank) {
    // Not in one program: the low-rank product first (with the addend), then the main one adds it.
    const { l, r, transposeR, alpha } = o.lowRank;
    const low = matMulInfo(name, backend, l, r, { transposeB: transposeR, alpha, addend: o.addend });
    const out = matMulInfo(name, backend, a, b, { ...o, lowRank: undefined, addend: low });
    disposeInfos(backend, low);
    return out;
  }
  if (!o.packedShapeB) return tfjsMatMul(name, backend, a, b, o);
  const plain = { ...o, packedShapeB: undefined, packedFormatB: undefined };
  const w = unpackInfo(name, backend, b, o.packedShapeB, o.packedFormatB ?? 'f16');
  const out = tiled(w, plain) ? tiledMatMulWebGpu(backend, a, w, plain) : tfjsMatMul(name, backend, a, w, plain);
  disposeInfos(backend, w);
  return out;
}

defineComposite<MatMulAttrs>('WhetMatMul', (inputs, backend, attrs, name) =>
  matMulInfo(name, backend, inputs.a, inputs.b, {
    transposeA: attrs.transposeA,
    transposeB: attrs.transposeB,
    alpha: attrs.alpha,
    bias: inputs.bias,
    addend: inputs.addend,
    packedShapeB: attrs.packedShapeB,
    packedFormatB: attrs.packedFormatB,
    lowRank: inputs.lowL && { l: inputs.lowL, r: inputs.lowR, transposeR: !!attrs.lowTransposeR, alpha: attrs.lowAlpha ?? 1 },
    dropout: attrs.dropout,
  }),
);

/**
 * alpha · op(a) op(b) (+ bias [N]) (+ addend [M, N] or [B, M, N]) as one kernel: the tiled program on webgpu,
 * tfjs's matmul on cpu. a [..., M, K] (or [..., K, M] with transposeA), b [..., K, N] (or [..., N, K]). Forward
 * only: no gradient is registered (linear.ts calls the program inside its own differentiable kernels).
 * `packedShapeB`: b is a packed weight of that shape, `packedFormatB` f16 (f16.ts, the default) or int8
 * (int8.ts): read in place on webgpu, decoded into a scratch copy on cpu. `lowRank`: + alpha · L op(R) (2D
 * only), in the same program on webgpu.
 */
export function tiledMatMul(
  a: tf.Tensor,
  b: tf.Tensor,
  opts: {
    transposeA?: boolean;
    transposeB?: boolean;
    alpha?: number;
    bias?: tf.Tensor;
    addend?: tf.Tensor;
    packedShapeB?: number[];
    packedFormatB?: PackedFormat;
    lowRank?: { l: tf.Tensor; r: tf.Tensor; transposeR: boolean; alpha: number };
    dropout?: MatMulOptions['dropout'];
  } = {},
): tf.Tensor {
  const inputs: Record<string, tf.Tensor> = { a, b };
  if (opts.bias) inputs.bias = opts.bias;
  if (opts.addend) inputs.addend = opts.addend;
  const attrs: Record<string, unknown> = { transposeA: !!opts.transposeA, transposeB: !!opts.transposeB };
  if (opts.dropout) attrs.dropout = opts.dropout;
  if (opts.lowRank) {
    Object.assign(inputs, { lowL: opts.lowRank.l, lowR: opts.lowRank.r });
    Object.assign(attrs, { lowTransposeR: opts.lowRank.transposeR, lowAlpha: opts.lowRank.alpha });
  }
  if (opts.alpha !== undefined) attrs.alpha = opts.alpha;
  if (opts.packedShapeB) Object.assign(attrs, { packedShapeB: opts.packedShapeB, packedFormatB: opts.packedFormatB ?? 'f16' });
  return runKernel<tf.Tensor>('WhetMatMul', inputs, attrs);
}
