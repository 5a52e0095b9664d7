// Picks the tfjs backend: WebGPU when an adapter exists (browser navigator.gpu, or Node through Dawn's
// `webgpu` package), else the CPU backend; reports which one and the adapter's limits.
import * as tf from '@tensorflow/tfjs';
import { DeviceError } from './errors';
import { probeSubgroups, subgroupReport } from './kernels/subgroups';

export type BackendName = 'cpu' | 'webgpu';

export interface AdapterReport {
  vendor: string;
  architecture: string;
  description: string;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  features: string[];
}

export interface BackendInfo {
  backend: BackendName;
  adapter: AdapterReport | null;
  /** Why WebGPU was not used, when it was not. */
  fallbackReason?: string;
  /** On webgpu: whether the kernels use subgroup operations, the size seen, why not (kernels/subgroups.ts). */
  subgroups: { usable: boolean; size: number; reason?: string } | null;
}

let current: BackendInfo | null = null;
let lostMessage: string | null = null;

interface GpuLike {
  requestAdapter(opts?: unknown): Promise<GPUAdapterLike | null>;
}
interface GPUAdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string };
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
  features: Iterable<string>;
}

function navigatorGpu(): GpuLike | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  return nav?.gpu;
}

/** Gives Node a `navigator.gpu` from Dawn (the `webgpu` package) before the WebGPU backend registers. */
async function exposeNodeWebGpu(): Promise<void> {
  const g = globalThis as Record<string, unknown> & { process?: { versions?: { node?: string } } };
  if (navigatorGpu() || !g.process?.versions?.node) return;
  if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES) {
    const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
    const nodeFs = 'node:fs';
    const fs = (await import(/* @vite-ignore */ nodeFs)) as typeof import('node:fs');
    if (fs.existsSync(swiftshader)) process.env.VK_ICD_FILENAMES = swiftshader;
  }
  const name = 'webgpu';
  const webgpu = (await import(/* @vite-ignore */ name)) as {
    create: (flags: string[]) => GpuLike;
    globals: Record<string, unknown>;
  };
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([]);
  const nav = (g.navigator as Record<string, unknown> | undefined) ?? {};
  try {
    Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  } catch {
    (nav as { gpu?: unknown }).gpu = gpu;
  }
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true });
}

async function describeAdapter(): Promise<AdapterReport | null> {
  const gpu = navigatorGpu();
  if (!gpu) return null;
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return null;
  return {
    vendor: adapter.info?.vendor ?? '',
    architecture: adapter.info?.architecture ?? '',
    description: adapter.info?.description ?? '',
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
    features: [...adapter.features].sort(),
  };
}

/**
 * Initialises tfjs. `want` undefined: WebGPU when an adapter is found, else CPU (with the reason).
 * `want` 'webgpu' with no adapter is an error: the caller asked for it explicitly.
 */
export async function initBackend(want?: BackendName): Promise<BackendInfo> {
  if (current && (!want || want === current.backend)) return current;
  let adapter: AdapterReport | null = null;
  let fallbackReason: string | undefined;
  if (want !== 'cpu') {
    try {
      await exposeNodeWebGpu();
      adapter = await describeAdapter();
      if (!adapter) fallbackReason = navigatorGpu() ? 'no WebGPU adapter found' : 'WebGPU is not available';
    } catch (e) {
      fallbackReason = `WebGPU could not start: ${(e as Error).message}`;
    }
    if (!adapter && want === 'webgpu') throw new DeviceError(`--backend webgpu requested but ${fallbackReason}`);
  }
  if (adapter) {
    registerWebGpu(await import('@tensorflow/tfjs-backend-webgpu'));
    const ok = await tf.setBackend('webgpu');
    if (!ok) {
      if (want === 'webgpu') throw new DeviceError('the tfjs WebGPU backend failed to initialise');
      fallbackReason = 'the tfjs WebGPU backend failed to initialise';
      adapter = null;
    } else {
      watchDeviceLoss();
      await probeSubgroups();
    }
  }
  if (!adapter) {
    await tf.setBackend('cpu');
  }
  await tf.ready();
  current = { backend: adapter ? 'webgpu' : 'cpu', adapter, fallbackReason, subgroups: adapter ? subgroupReport() : null };
  return current;
}

export function backendInfo(): BackendInfo | null {
  return current;
}

function watchDeviceLoss(): void {
  const backend = tf.backend() as unknown as { device?: { lost?: Promise<{ message: string; reason?: string }> } };
  backend.device?.lost?.then((info) => {
    lostMessage = `the GPU device was lost (${info.reason ?? 'unknown'}): ${info.message}`;
  });
}

/**
 * After a lost device: drops the dead WebGPU backend and registers a fresh one on a new device (tensors of
 * the old one are gone: reload the model and the last checkpoint). On the CPU backend it does nothing.
 */
export async function reinitBackend(): Promise<BackendInfo> {
  if (!current || current.backend !== 'webgpu') return current ?? initBackend();
  registerWebGpu(await import('@tensorflow/tfjs-backend-webgpu'));
  if (!(await tf.setBackend('webgpu'))) throw new DeviceError('the GPU could not be re-initialised after the device was lost');
  lostMessage = null;
  watchDeviceLoss();
  await probeSubgroups();
  return current;
}

/** Optional device features the engine uses when the adapter offers them. */
const WANTED_FEATURES = ['timestamp-query', 'subgroups'] as const;

/**
 * (Re-)registers tfjs's 'webgpu' backend on a device of our own: tfjs's limits (the adapter's largest
 * bindings and workgroups), plus 'subgroups' when offered (the reductions and the skinny matmul use it,
 * kernels/subgroups.ts). tfjs assembles each shader from its own preamble and the program's code, so a
 * program's `enable` directive would land mid-file where WGSL rejects it: the device's createShaderModule
 * moves such directives to the top. A previous backend (tfjs's own, or one whose device was lost) is dropped.
 */
function registerWebGpu(webgpu: typeof import('@tensorflow/tfjs-backend-webgpu')): void {
  try {
    tf.removeBackend('webgpu');
  } catch {
    // Disposing a backend whose device is gone may throw; it is being replaced anyway.
  }
  tf.registerBackend(
    'webgpu',
    async () => {
      const gpu = navigatorGpu() as unknown as GPU;
      const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (!adapter) throw new DeviceError('no WebGPU adapter found');
      const l = adapter.limits;
      const device = await adapter.requestDevice({
        requiredFeatures: WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[],
        requiredLimits: {
          maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
          maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
          maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
          maxBufferSize: l.maxBufferSize,
          maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
          maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        },
      });
      hoistEnableDirectives(device);
      return new webgpu.WebGPUBackend(device, (adapter as unknown as { info?: GPUAdapterInfo }).info);
    },
    3,
  );
}

const ENABLE = /^[ \t]*enable[ \t]+[\w, \t]+;[ \t]*$/gm;

/** Wraps device.createShaderModule so that `enable …;` lines anywhere in the code come first. */
function hoistEnableDirectives(device: GPUDevice): void {
  const create = device.createShaderModule.bind(device);
  device.createShaderModule = (d: GPUShaderModuleDescriptor) => {
    const directives = d.code.match(ENABLE);
    if (!directives) return create(d);
    const unique = [...new Set(directives.map((x) => x.trim()))];
    return create({ ...d, code: `${unique.join('\n')}\n${d.code.replace(ENABLE, '')}` });
  };
}

/**
 * The error to report for a failure `e`: a DeviceError when the GPU device was lost (the loss may be
 * reported a moment after the failed read it caused), else `e` itself.
 */
export async function deviceErrorFor(e: unknown): Promise<unknown> {
  if (e instanceof DeviceError || current?.backend !== 'webgpu') return e;
  for (let i = 0; i < 50 && !lostMessage; i++) await new Promise((r) => setTimeout(r, 10));
  return lostMessage ? new DeviceError(lostMessage) : e;
}

/** Throws a DeviceError when the GPU device was lost: call between steps so a loss never hangs a run. */
export function assertDeviceAlive(): void {
  if (lostMessage) throw new DeviceError(lostMessage);
}

let simulatedBindingBytes: number | null = null;

/**
 * Makes the engine behave as if the adapter's maxStorageBufferBindingSize were `bytes` (the smaller of it and
 * the real one; null: the real one only). Set it before loading a model: loading decides which tensors are
 * split into row chunks. Applies on the CPU backend too, so the chunked paths can be tested anywhere.
 */
export function setMaxBindingBytes(bytes: number | null): void {
  if (bytes !== null && !(Number.isFinite(bytes) && bytes >= 16))
    throw new RangeError(`the binding limit must be at least 16 bytes, got ${bytes}`);
  simulatedBindingBytes = bytes === null ? null : Math.floor(bytes / 4) * 4;
}

/** The largest tensor, in bytes, one storage-buffer binding may hold here (null: no limit known). */
export function maxBindingBytes(): number | null {
  const real = current?.backend === 'webgpu' ? (current.adapter?.maxStorageBufferBindingSize ?? null) : null;
  if (real === null) return simulatedBindingBytes;
  return simulatedBindingBytes === null ? real : Math.min(real, simulatedBindingBytes);
}

/** Checks that every tensor fits one storage-buffer binding on this adapter; names the first that does not. */
export function checkBindingLimits(tensors: Iterable<{ name: string; shape: readonly number[] }>, bytesPerElement = 4): void {
  const limit = maxBindingBytes();
  if (!limit) return;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * bytesPerElement;
    if (bytes > limit) {
      throw new DeviceError(
        `tensor ${t.name} [${t.shape.join(', ')}] needs ${bytes} bytes, more than this adapter's maxStorageBufferBindingSize ${limit}${limit === simulatedBindingBytes ? ' (simulated)' : ''}`,
      );
    }
  }
}
