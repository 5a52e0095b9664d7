// A linear layer as one kernel: x W (+ b) through matmul.ts (the bias added in the same program), plus the
// LoRA branch s · (dropout(x) Aᵀ) Bᵀ added by the same program's low-rank epilogue once the rank-r `down` is
// formed (two programs, not three). The backward returns dx (dy W + dropout(dDown A), one program), dW (only
// when W trains), db, dA, dB from one kernel. Only x is kept for it: LoRA dropout's hashed mask (dropout.ts)
// is drawn inside the matmul programs wherever x (or dx's LoRA term) is read or written, so dropout(x) is
// never stored nor made. x [N, in]; W [in, out] (GPT-2 Conv1D) or [out, in] (HF Linear); A [r, in]; B [out, r].
import * as tf from '@tensorflow/tfjs';
import { f32 } from './backend-util';
import { columnSumJs, columnSumWebGpu } from './activations';
import { isPacked, type PackedFormat, type PackedWeight } from './f16';
import { matMulInfo, type LowRank, type MatMulOptions } from './matmul';
import { type DropoutAttrs } from './dropout';
import {
  allVariables,
  defineAlias,
  defineComposite,
  defineGradient,
  disposeInfos,
  runKernel,
  type Backend,
  type BackendName,
} from './register';

type Info = tf.TensorInfo;

interface LinearAttrs {
  conv1d: boolean;
  hasBias: boolean;
  /** LoRA scale (alpha / r); 0 without LoRA. */
  scale: number;
  /** Whether W's gradient is computed (false when W is a frozen variable, as under LoRA). */
  needW: boolean;
  /** Backward only: compute dW alone. */
  onlyW?: boolean;
  /** W is a frozen weight of this shape stored packed (f16.ts, int8.ts), decoded here per use. */
  packedShape?: number[];
  packedFormat?: PackedFormat;
  /** LoRA dropout on the branch's input (training). */
  dropout?: DropoutAttrs;
}

/** A packed operand's logical shape and storage. */
interface Packed {
  shape: number[];
  format: PackedFormat;
}

function packedOf(a: LinearAttrs): Packed | undefined {
  return a.packedShape && { shape: a.packedShape, format: a.packedFormat ?? 'f16' };
}

/**
 * alpha · op(a) op(b) (+ bias) (+ lowRank) through matmul.ts's matMulInfo (tiled on webgpu, a packed `b` read
 * in place or decoded). `bias` is a [out] vector or a full [N, out] matrix; `lowRank` a LoRA branch's
 * up-projection, added in the same program.
 */
function matmul(
  name: BackendName,
  backend: Backend,
  a: Info,
  b: Info,
  transposeA: boolean,
  transposeB: boolean,
  bias?: Info,
  packedB?: Packed,
  alpha = 1,
  lowRank?: LowRank,
  dropout?: MatMulOptions['dropout'],
): Info {
  const bound = bias ? (bias.shape.length === 1 ? { bias } : { addend: bias }) : {};
  return matMulInfo(name, backend, a, b, {
    transposeA,
    transposeB,
    alpha,
    packedShapeB: packedB?.shape,
    packedFormatB: packedB?.format,
    lowRank,
    dropout,
    ...bound,
  });
}

function columnSum(name: BackendName, backend: Backend, x: Info): Info {
  const cols = x.shape[x.shape.length - 1];
  if (name === 'webgpu') return columnSumWebGpu(backend, x, cols);
  return backend.makeTensorInfo([cols], 'float32', columnSumJs(f32(backend, x), cols));
}

function forward(inputs: Record<string, Info>, backend: Backend, a: LinearAttrs, name: BackendName): Info {
  const { x, bias, loraA, loraB } = inputs;
  const base = (lowRank?: LowRank) =>
    matmul(name, backend, x, inputs.w, false, !a.conv1d, a.hasBias ? bias : undefined, packedOf(a), 1, lowRank);
  if (!loraA) return base();
  // down = dropout(x) Aᵀ [N, r], the mask applied as x is read
  const down = matmul(name, backend, x, loraA, false, true, undefined, undefined, 1, undefined, a.dropout && { attrs: a.dropout, a: true });
  const out = base({ l: down, r: loraB, transposeR: true, alpha: a.scale }); // x W (+ b) + scale · down Bᵀ
  disposeInfos(backend, down);
  return out;
}

function backward(inputs: Record<string, Info>, backend: Backend, a: LinearAttrs, name: BackendName): Info[] {
  const { dy, x, loraA, loraB } = inputs;
  const dW = () => (a.conv1d ? matmul(name, backend, x, dy, true, false) : matmul(name, backend, dy, x, true, false));
  if (a.onlyW) return [dW()];
  const baseDx = (lowRank?: LowRank, dropout?: MatMulOptions['dropout']) =>
    matmul(name, backend, dy, inputs.w, false, a.conv1d, undefined, packedOf(a), 1, lowRank, dropout); // [N, in]
  const outs: Info[] = [];
  if (a.needW) outs.push(dW());
  if (a.hasBias) outs.push(columnSum(name, backend, dy));
  if (!loraA) return [baseDx(), ...outs];
  // The forward's dropout mask on x, drawn again where x is read (never stored), and on dx's LoRA term.
  const drop = (on: 'a' | 'b' | 'low') => a.dropout && { attrs: a.dropout, [on]: true };
  const down = matmul(name, backend, x, loraA, false, true, undefined, undefined, 1, undefined, drop('a')); // dropout(x) Aᵀ [N, r]
  const dB = matmul(name, backend, dy, down, true, false, undefined, undefined, a.scale); // scale · dyᵀ down [out, r]
  const dDownS = matmul(name, backend, dy, loraB, false, false, undefined, undefined, a.scale); // scale · dy B [N, r]
  const dA = matmul(name, backend, dDownS, x, true, false, undefined, undefined, 1, undefined, drop('b')); // dDownSᵀ dropout(x) [r, in]
  const dx = baseDx({ l: dDownS, r: loraA, transposeR: false, alpha: 1 }, drop('low')); // dy W + dropout(dDownS A)
  disposeInfos(backend, down, dDownS);
  return [dx, ...outs, dA, dB];
}

defineComposite<LinearAttrs>('WhetLinear', forward);
defineComposite<LinearAttrs>('WhetLinearLora', forward);
defineComposite<LinearAttrs>('WhetLinearGrad', backward);

interface LinearTensors {
  x: tf.Tensor;
  w: tf.Tensor;
  loraA?: tf.Tensor;
  loraB?: tf.Tensor;
}

function linearGrad(dy: tf.Tensor, { x, w, loraA, loraB }: LinearTensors, attrs: Record<string, unknown>) {
  const a = attrs as unknown as LinearAttrs;
  const inputs: Record<string, tf.Tensor> = { dy, x, w };
  if (loraA && loraB) Object.assign(inputs, { loraA, loraB });
  const outs = runKernel<tf.Tensor[]>('WhetLinearGrad', inputs, attrs);
  let i = 0;
  const dx = outs[i++];
  const dw = a.needW ? outs[i++] : null;
  const db = a.hasBias ? outs[i++] : null;
  const grads: Record<string, () => tf.Tensor> = {
    x: () => dx,
    // W frozen at forward time but asked for anyway (explicit tf.grads): compute it now.
    w: () => dw ?? runKernel<tf.Tensor[]>('WhetLinearGrad', { dy, x, w }, { ...attrs, onlyW: true })[0],
  };
  if (db) grads.bias = () => db;
  if (loraA) {
    const dA = outs[i++];
    const dB = outs[i++];
    grads.loraA = () => dA;
    grads.loraB = () => dB;
  }
  return grads;
}

type Saved = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: Record<string, unknown>) => Record<string, () => tf.Tensor>;
const fromTape: Saved = (dy, [x, w, loraA, loraB], attrs) => linearGrad(dy as tf.Tensor, { x, w, loraA, loraB }, attrs);
// Parameters that are tf.Variables come by reference in attrs.params (see allVariables); only x is saved.
const byReference: Saved = (dy, [x], attrs) => linearGrad(dy as tf.Tensor, { x, ...(attrs.params as Omit<LinearTensors, 'x'>) }, attrs);

defineGradient('WhetLinear', ['x', 'w'], fromTape);
defineGradient('WhetLinearLora', ['x', 'w', 'loraA', 'loraB'], fromTape);
defineAlias('WhetLinearP', 'WhetLinear');
defineAlias('WhetLinearLoraP', 'WhetLinearLora');
defineGradient('WhetLinearP', ['x'], byReference);
defineGradient('WhetLinearLoraP', ['x'], byReference);

function trains(t: tf.Tensor): boolean {
  return !(t instanceof tf.Variable) || t.trainable;
}

/**
 * y = x W (+ b) (+ (dropout(x) Aᵀ · scale) Bᵀ). x [N, in] → [N, out]. `conv1d`: W is [in, out] (GPT-2), else
 * [out, in]. LoRA dropout (`lora.dropout`, training) is dropout.ts's hashed mask of that seed and offset. A
 * packed (f16 or int8) W is frozen: it is decoded inside the kernel and gets no gradient.
 */
export function fusedLinear(
  x: tf.Tensor2D,
  weight: tf.Tensor2D | PackedWeight,
  conv1d: boolean,
  bias?: tf.Tensor,
  lora?: { A: tf.Tensor; B: tf.Tensor; scale: number; dropout?: DropoutAttrs },
): tf.Tensor2D {
  const packed = isPacked(weight) ? weight : null;
  const w = packed ? packed.bits : (weight as tf.Tensor2D);
  const inputs: Record<string, tf.Tensor> = { x, w };
  if (bias) inputs.bias = bias;
  if (lora) Object.assign(inputs, { loraA: lora.A, loraB: lora.B });
  const attrs: Record<string, unknown> = { conv1d, hasBias: !!bias, scale: lora?.scale ?? 0, needW: !packed && trains(w) };
  if (packed) Object.assign(attrs, { packedShape: packed.shape, packedFormat: packed.format });
  if (lora?.dropout) attrs.dropout = lora.dropout;
  const byRef = allVariables(w, lora?.A, lora?.B);
  if (byRef) attrs.params = lora ? { w, loraA: lora.A, loraB: lora.B } : { w };
  const name = (lora ? 'WhetLinearLora' : 'WhetLinear') + (byRef ? 'P' : '');
  return runKernel<tf.Tensor2D>(name, inputs, attrs);
}
