// What the fused kernels need from the two tfjs backends: read a CPU tensor's values, make an output, and
// on WebGPU describe a WGSL program in the shape tfjs-backend-webgpu compiles and runs
// (backend.runWebGPUProgram prepends the bindings: `result` (read_write output), one read-only array per
// input named as in variableNames, and `uniforms`, with the input/output shapes, `size` and the program's
// own uniforms). Programs are created per call because runWebGPUProgram rewrites `dispatch`.
import * as tf from '@tensorflow/tfjs';
import { reductionWgsl, subgroupDirective, subgroupsActive } from './subgroups';

type TensorInfo = tf.TensorInfo;

export interface CpuBackendLike {
  readSync(dataId: object): tf.backend_util.BackendValues;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): TensorInfo;
}

export interface Uniform {
  type: 'float32' | 'int32' | 'uint32';
  data: number[];
}

export interface WebGpuProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size?: boolean;
  uniforms?: string;
  getUserCode: () => string;
}

export interface WebGpuBackendLike {
  runWebGPUProgram(
    program: WebGpuProgram,
    inputs: TensorInfo[],
    outputDtype: tf.DataType,
    uniforms?: Uniform[],
    output?: TensorInfo,
  ): TensorInfo;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  device: { limits: { maxStorageBuffersPerShaderStage: number } };
}

export function f32(backend: CpuBackendLike, t: TensorInfo): Float32Array {
  return backend.readSync(t.dataId) as Float32Array;
}

export function i32(backend: CpuBackendLike, t: TensorInfo): Int32Array {
  const v = backend.readSync(t.dataId);
  return v instanceof Int32Array ? v : Int32Array.from(v as ArrayLike<number>);
}

/** i32 uniforms, in the order the program declares them. */
export function intUniforms(...values: number[]): Uniform[] {
  return values.map((v) => ({ type: 'int32', data: [v] }));
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Elementwise program over `size` outputs: `body` runs inside `if (index < uniforms.size)`. */
export function elementwise(
  key: string,
  variableNames: string[],
  outputShape: number[],
  body: string,
  uniforms = '',
  prelude = '',
): WebGpuProgram {
  const wg = 128;
  return {
    variableNames,
    outputShape,
    shaderKey: `whet_${key}`,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [Math.ceil(sizeOf(outputShape) / wg), 1, 1],
    workgroupSize: [wg, 1, 1],
    size: true,
    uniforms: uniforms || undefined,
    getUserCode: () => `
      ${prelude}
      fn main(index : i32) {
        if (index < uniforms.size) {
          ${body}
        }
      }`,
  };
}

/**
 * One workgroup of `wg` threads per row (`rows` workgroups). In `body`: `row` (i32), `tid` (i32), `WG`
 * (const i32) and the helpers `reduceSum(v) -> f32` / `reduceMax(v) -> f32` (every thread must call them:
 * they contain barriers; subgroup operations inside where the device has them, subgroups.ts). Output shape is free: the body writes `result[...]` itself.
 */
export function perRow(
  key: string,
  variableNames: string[],
  outputShape: number[],
  rows: number,
  body: string,
  uniforms = '',
  wg = 64,
  prelude = '',
): WebGpuProgram {
  const sub = subgroupsActive();
  return {
    variableNames,
    outputShape,
    shaderKey: `whet_${key}_wg${wg}${sub ? '_sg' : ''}`,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [rows, 1, 1],
    workgroupSize: [wg, 1, 1],
    uniforms: uniforms || undefined,
    getUserCode: () => `
      ${subgroupDirective(sub)}
      ${reductionWgsl(wg, sub)}
      ${prelude}
      fn main(index : i32) {
        let row = index / WG;
        let tid = index % WG;
        ${body}
      }`,
  };
}

/** Runs `program` and returns its output (float32 unless said). */
export function run(
  backend: WebGpuBackendLike,
  program: WebGpuProgram,
  inputs: TensorInfo[],
  uniforms?: Uniform[],
  dtype: tf.DataType = 'float32',
  output?: TensorInfo,
): TensorInfo {
  return backend.runWebGPUProgram(program, inputs, dtype, uniforms, output);
}

/** Workgroup size for a row of `cols` elements: 64 for short rows, 256 for long ones. */
export function rowWorkgroup(cols: number): number {
  return cols >= 2048 ? 256 : 64;
}
