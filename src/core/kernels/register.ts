// Registers a fused kernel for both backends (a plain-JS implementation on 'cpu', WGSL programs on
// 'webgpu') and calls kernels through the engine, so each counts as one kernel invocation, records on the
// gradient tape and shows up in tf.profile.
import * as tf from '@tensorflow/tfjs';
import type { CpuBackendLike, WebGpuBackendLike } from './backend-util';

type Inputs = Record<string, tf.TensorInfo>;
type Attrs = Record<string, unknown>;
type Out = tf.TensorInfo | tf.TensorInfo[];

export interface FusedKernel<A extends object> {
  name: string;
  cpu: (inputs: Inputs, backend: CpuBackendLike, attrs: A) => Out;
  webgpu: (inputs: Inputs, backend: WebGpuBackendLike, attrs: A) => Out;
}

const registered = new Set<string>();

export function defineKernel<A extends object>(k: FusedKernel<A>): void {
  if (registered.has(k.name)) return;
  registered.add(k.name);
  tf.registerKernel({
    kernelName: k.name,
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend, attrs }) => k.cpu(inputs as Inputs, backend as unknown as CpuBackendLike, attrs as unknown as A),
  });
  tf.registerKernel({
    kernelName: k.name,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => k.webgpu(inputs as Inputs, backend as unknown as WebGpuBackendLike, attrs as unknown as A),
  });
}

/** Runs a registered kernel through the engine (one invocation, taped when gradients are recorded). */
export function runKernel<T extends tf.Tensor | tf.Tensor[]>(name: string, inputs: Record<string, tf.Tensor>, attrs: Attrs = {}): T {
  return tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as T;
}

export function defineGradient(
  kernelName: string,
  inputsToSave: string[],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: Attrs) => Record<string, () => tf.Tensor>,
  outputsToSave?: boolean[],
): void {
  if (registered.has(`${kernelName}:grad`)) return;
  registered.add(`${kernelName}:grad`);
  tf.registerGradient({ kernelName, inputsToSave, outputsToSave, gradFunc: (dy, saved, attrs) => gradFunc(dy, saved, attrs as Attrs) });
}

export type BackendName = 'cpu' | 'webgpu';
export type Backend = CpuBackendLike & WebGpuBackendLike;

/**
 * A kernel composed of other kernels run directly on the backend (tfjs's own BatchMatMul, _FusedMatMul,
 * Transpose, … and the fused programs here): one engine invocation for what would be several ops. `impl`
 * gets the backend name so it can call the right implementations.
 */
export function defineComposite<A extends object>(
  name: string,
  impl: (inputs: Inputs, backend: Backend, attrs: A, backendName: BackendName) => Out,
): void {
  defineKernel<A>({
    name,
    cpu: (inputs, backend, attrs) => impl(inputs, backend as Backend, attrs, 'cpu'),
    webgpu: (inputs, backend, attrs) => impl(inputs, backend as Backend, attrs, 'webgpu'),
  });
}

/** Runs a registered kernel's implementation directly on `backend` (no engine bookkeeping, no tape). */
export function callKernel(backendName: BackendName, backend: unknown, name: string, inputs: Inputs, attrs: Attrs = {}): tf.TensorInfo {
  const k = tf.getKernel(name, backendName);
  if (!k) throw new Error(`no ${name} kernel for the ${backendName} backend`);
  return k.kernelFunc({ inputs, backend: backend as tf.KernelBackend, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
}

/** The same data under another shape (no copy; do not dispose both). */
export function reshaped(t: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

export function disposeInfos(backend: { disposeData(dataId: object): unknown }, ...infos: (tf.TensorInfo | null | undefined)[]): void {
  for (const t of infos) if (t) backend.disposeData(t.dataId);
}

/** Registers `alias` as the same kernel as `name` on both backends (for a variant with another gradient). */
export function defineAlias(alias: string, name: string): void {
  if (registered.has(alias)) return;
  registered.add(alias);
  for (const backendName of ['cpu', 'webgpu']) {
    const k = tf.getKernel(name, backendName);
    if (k) tf.registerKernel({ ...k, kernelName: alias });
  }
}

/**
 * True when every tensor is a tf.Variable. Kernels then pass these parameters to their gradient by reference
 * (in attrs) instead of saving them on the tape: a parameter lives through the whole step, and each saved
 * tensor would cost an Identity kernel. Activations are always saved on the tape as usual.
 */
export function allVariables(...ts: (tf.Tensor | undefined)[]): boolean {
  return ts.every((t) => t === undefined || t instanceof tf.Variable);
}
