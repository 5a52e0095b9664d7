// Registers a fused kernel for both backends (a plain-JS implementation on 'cpu', WGSL programs on
// 'webgpu') and calls kernels through the engine, so each counts as one kernel invocation, records on the
// gradient tape and shows up in tf.profile.
import * as tf from '@tensorflow/tfjs';
import type { CpuBackendLike, WebGpuBackendLike } from './backend-util';

type Inputs = Record<string, tf.TensorInfo>;
type Attrs = Record<string, unknown>;
type Out = tf.TensorInfo | tf.TensorInfo[];

export interface FusedKernel<A extends Attrs> {
  name: string;
  cpu: (inputs: Inputs, backend: CpuBackendLike, attrs: A) => Out;
  webgpu: (inputs: Inputs, backend: WebGpuBackendLike, attrs: A) => Out;
}

const registered = new Set<string>();

export function defineKernel<A extends Attrs>(k: FusedKernel<A>): void {
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
