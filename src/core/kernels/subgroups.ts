// Subgroup operations (WGSL `enable subgroups;`), used where the device has them: backend.ts asks for the
// 'subgroups' feature when the adapter offers it, then `probeSubgroups` checks, once per device, that a
// workgroup's subgroups are contiguous runs of local_invocation_index of one size (every Vulkan, Metal and
// D3D12 driver lays them out so, but WGSL does not promise it, and tfjs's entry point cannot declare the
// subgroup_id builtin). Only then do the kernels use them: the row reductions of perRow (norms, softmax
// and cross-entropy, the optimizer's norm) and the skinny matmul (matmul.ts). Off (or on the cpu backend),
// everything runs the workgroup-memory versions. `setSubgroups(false)` forces those, for tests and the bench.
import * as tf from '@tensorflow/tfjs';
import type { WebGpuBackendLike } from './backend-util';

let allowed = true;
/** The probe's verdict for the current device: null before it ran (or on cpu). */
let probed: { usable: boolean; size: number; reason?: string } | null = null;

/** Lets the kernels use subgroup operations when the device allows (default), or never. */
export function setSubgroups(on: boolean): void {
  allowed = on;
}

/** Whether the kernels built now use subgroup operations. */
export function subgroupsActive(): boolean {
  return allowed && !!probed?.usable;
}

/** What the probe found: the subgroup size seen, and why subgroups are unused when they are. */
export function subgroupReport(): { usable: boolean; size: number; reason?: string } | null {
  return probed;
}

/** The directive a program using subgroup builtins starts with ('' when they are off). */
export function subgroupDirective(on: boolean): string {
  return on ? 'enable subgroups;' : '';
}

/**
 * Runs on a fresh webgpu backend: one workgroup of 256 records, per invocation, the lowest index and the
 * size of its subgroup and its rank in it; the layout is usable when every subgroup is one aligned run.
 */
export async function probeSubgroups(): Promise<void> {
  probed = null;
  const backend = tf.backend() as unknown as WebGpuBackendLike & { device: { features?: { has(f: string): boolean } } };
  if (tf.getBackend() !== 'webgpu') return;
  if (!backend.device.features?.has('subgroups')) {
    probed = { usable: false, size: 0, reason: 'the adapter does not offer the subgroups feature' };
    return;
  }
  const wg = 256;
  const program = {
    variableNames: [] as string[],
    outputShape: [wg * 3],
    shaderKey: 'whet_subgroup_probe',
    dispatchLayout: { x: [0] },
    dispatch: [1, 1, 1] as [number, number, number],
    workgroupSize: [wg, 1, 1] as [number, number, number],
    size: true,
    getUserCode: () => `
      enable subgroups;
      fn main(index : i32) {
        let tid = i32(localIndex);
        let first = subgroupBroadcastFirst(tid);
        let size = i32(subgroupAdd(1u));
        let rank = i32(subgroupExclusiveAdd(1u));
        if (index < uniforms.size) {
          result[tid * 3] = i32(first);
          result[tid * 3 + 1] = size;
          result[tid * 3 + 2] = rank;
        }
      }`,
  };
  let seen: Int32Array;
  try {
    const out = backend.runWebGPUProgram(program, [], 'int32');
    const t = tf.engine().makeTensorFromTensorInfo(out);
    seen = (await t.data()) as Int32Array;
    t.dispose();
  } catch (e) {
    probed = { usable: false, size: 0, reason: `the subgroup probe failed: ${(e as Error).message}` };
    return;
  }
  const size = seen[1];
  let ok = size >= 1 && (size & (size - 1)) === 0 && wg % size === 0;
  for (let tid = 0; ok && tid < wg; tid++) {
    const [first, s, rank] = [seen[tid * 3], seen[tid * 3 + 1], seen[tid * 3 + 2]];
    ok = s === size && first === tid - (tid % size) && rank === tid % size;
  }
  probed = ok ? { usable: true, size } : { usable: false, size, reason: 'subgroups are not contiguous runs of one power-of-two size' };
}

/**
 * WGSL helpers `reduceSum(v, tid)` / `reduceMax(v, tid)` over a workgroup of `wg` threads (`WG` and a
 * workgroup array `red` are declared here). Every thread calls them (barriers inside) and gets the result.
 * With subgroups: one subgroupAdd/Max, the subgroup totals written at their subgroup's slot, then each
 * thread folds the WG / size slots in order (the same order on every run: results are deterministic).
 * Without: a tree in workgroup memory, log2(WG) barrier-separated steps.
 */
export function reductionWgsl(wg: number, sub: boolean): string {
  const decl = `const WG : i32 = ${wg};\n      var<workgroup> red : array<f32, ${wg}>;`;
  if (sub) {
    const fn = (name: string, op: string, combine: (a: string, b: string) => string) => `
      fn ${name}(v : f32, tid : i32) -> f32 {
        let part = ${op}(v);
        let size = i32(subgroupAdd(1u));
        workgroupBarrier();
        if (tid % size == 0) {
          red[tid / size] = part;
        }
        workgroupBarrier();
        var r = red[0];
        for (var i = 1; i < WG / size; i++) {
          r = ${combine('r', 'red[i]')};
        }
        workgroupBarrier();
        return r;
      }`;
    return decl + fn('reduceSum', 'subgroupAdd', (a, b) => `${a} + ${b}`) + fn('reduceMax', 'subgroupMax', (a, b) => `max(${a}, ${b})`);
  }
  const fn = (name: string, combine: (a: string, b: string) => string) => `
      fn ${name}(v : f32, tid : i32) -> f32 {
        workgroupBarrier();
        red[tid] = v;
        workgroupBarrier();
        for (var s = WG / 2; s > 0; s = s >> 1) {
          if (tid < s) {
            red[tid] = ${combine('red[tid]', 'red[tid + s]')};
          }
          workgroupBarrier();
        }
        let r = red[0];
        workgroupBarrier();
        return r;
      }`;
  return decl + fn('reduceSum', (a, b) => `${a} + ${b}`) + fn('reduceMax', (a, b) => `max(${a}, ${b})`);
}
