// One benchmark run: a random-weight model of the given shape trains on random token batches, one full
// step at a time (forward + loss + backward + gradient clipping + AdamW), through the fused kernels or the
// plain-op path. Measures wall time per step (median after warm-up), kernels per step (tf.profile), GPU
// dispatches and GPU time per step (WebGPU), peak memory and the tensor count before and after.
import * as tf from '@tensorflow/tfjs';
import { createRandomModel, type CausalLM } from '../src/core/models/model';
import { createLora } from '../src/core/lora';
import { lossAndGrads } from '../src/core/train/gradients';
import { AdamW } from '../src/core/train/adamw';
import { createRng } from '../src/core/random';
import { setFusedKernels, fusedKernelsEnabled } from '../src/core/kernels';
import { estimateMemory, type FrozenDtype, type MemoryEstimate } from '../src/core/memory';
import { DeviceError } from '../src/core/errors';
import { maxBindingBytes } from '../src/core/backend';
import { watchBindings } from '../src/core/binding-watch';
import { meterBuffers } from './buffer-meter';
import { configOf, type ShapeDims } from './shapes';

export interface RunOptions {
  steps: number;
  warmup: number;
  lr: number;
  clip: number;
  weightDecay: number;
  seed: number;
  /** How the frozen base weights are stored under LoRA (f16: packed two to a word; default f32). */
  frozenDtype?: FrozenDtype;
  /** Recompute each block's activations in the backward (gradient checkpointing). */
  gradientCheckpointing?: boolean;
  /** LoRA dropout (LoRA shapes; default 0), its masks from seeds drawn in order from `seed`. */
  loraDropout?: number;
  /** Also run this many steps and report the tensor count after step 10 and after the last one. */
  leakSteps?: number;
  /** In the leak check, cycle through batches of several sequence lengths (as real data does). */
  varyLengths?: boolean;
  log?: (msg: string) => void;
}

export interface PathResult {
  path: 'fused' | 'naive';
  tokensPerSecond: number;
  msPerStep: number;
  kernelsPerStep: number;
  /** WebGPU compute dispatches in one step (programs run); null on the CPU backend. */
  dispatchesPerStep: number | null;
  gpuMsPerStep: number | null;
  wallOverGpu: number | null;
  /** tf.profile's peak of one step: every tensor object's bytes, so a buffer shared by several counts again. */
  peakBytes: number;
  /**
   * The most the model, optimizer and step held at once in that step with each buffer counted once
   * (buffer-meter.ts): the memory peakBytes over-counts where tensors share a buffer (reshapes, the tape's
   * saved clones).
   */
  peakBufferBytes: number;
  /** The largest tensor or GPU buffer allocated (model creation and every step), in bytes. */
  largestBinding: number;
  /** The storage-binding limit in force (the adapter's, or the smaller simulated one), null when none. */
  maxBindingBytes: number | null;
  /** src/core/memory.ts's estimate of peakBytes for this shape (the app's model screen shows the same); null on the plain path, which it does not model. */
  estimatedPeakBytes: number | null;
  /**
   * WebGPU: bytes of GPU buffers allocated after the profiled step (tfjs pools freed buffers, so this is the
   * high-water mark of real buffers so far, in-kernel temporaries included). peakBytes counts tensors instead:
   * a clone or reshape sharing a buffer counts again. null on the CPU backend.
   */
  gpuBytesAllocated: number | null;
  tensorsBefore: number;
  tensorsAfter: number;
  firstLoss: number;
  lastLoss: number;
  parameters: number;
  trainableParameters: number;
  kernelsByName: Record<string, number>;
  /**
   * WebGPU programs run in one step by program (its shader key with the numbers, i.e. shape classes and tile
   * sizes, taken out: "whet_mm_#x#x#_t#_v#_…"), most first; null on the CPU backend.
   */
  dispatchesByProgram: Record<string, number> | null;
  tensorsAt10?: number;
  tensorsAtN?: number;
  leakSteps?: number;
  /** The sequence lengths the leak check cycled through (with varyLengths). */
  leakLengths?: number[];
  /** Tensors after the leak check's first full cycle of lengths (the leak check's own batches included, as at N). */
  tensorsAtCycle?: number;
  /** Bytes held by tensors after the leak check's first full cycle of lengths (past step 10) and after its last step. */
  bytesAtCycle?: number;
  bytesAtN?: number;
  /** WebGPU buffer bytes allocated (pool included) at the same two points; null on the CPU backend. */
  gpuBytesAtCycle?: number | null;
  gpuBytesAtN?: number | null;
}

interface Batch {
  ids: tf.Tensor2D;
}

/** n batches of random ids, [batch, length] each; `lengths` cycles (default: the shape's seq). */
function randomBatches(dims: ShapeDims, n: number, seed: number, lengths = [dims.seq]): Batch[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, (_, b) => {
    const len = lengths[b % lengths.length];
    const data = new Int32Array(dims.batch * len);
    for (let i = 0; i < data.length; i++) data[i] = rng.nextInt(dims.vocab);
    return { ids: tf.tensor2d(data, [dims.batch, len], 'int32') };
  });
}

/** Distinct sequence lengths up to seq, as a dataset with ragged examples gives batches. */
export function variedLengths(seq: number): number[] {
  const ls = [
    seq,
    Math.max(2, seq - 1),
    Math.max(2, Math.ceil(seq / 2)),
    Math.max(2, Math.ceil((3 * seq) / 4) + 1),
    Math.max(2, Math.ceil(seq / 3)),
    2,
  ];
  return [...new Set(ls.filter((l) => l <= seq))];
}

function gpuBytes(): number | null {
  return (tf.memory() as { numBytesAllocatedInGPU?: number }).numBytesAllocatedInGPU ?? null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

interface WebGpuBackendLike {
  runWebGPUProgram: (...args: unknown[]) => unknown;
}

/** Sorted by count, most first. */
function byCount(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]));
}

/** Counts WebGPU programs run while `f` runs, in all and by program (null on other backends). */
async function countDispatches<T>(
  f: () => Promise<T>,
): Promise<{ result: T; dispatches: number | null; byProgram: Record<string, number> | null }> {
  if (tf.getBackend() !== 'webgpu') return { result: await f(), dispatches: null, byProgram: null };
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  const original = backend.runWebGPUProgram;
  let dispatches = 0;
  const byProgram: Record<string, number> = {};
  backend.runWebGPUProgram = function (this: unknown, ...args: unknown[]) {
    dispatches++;
    const key = String((args[0] as { shaderKey?: string }).shaderKey).replace(/\d+/g, '#');
    byProgram[key] = (byProgram[key] ?? 0) + 1;
    return original.apply(this, args);
  };
  try {
    return { result: await f(), dispatches, byProgram: byCount(byProgram) };
  } finally {
    backend.runWebGPUProgram = original;
  }
}

function hasTimestampQuery(): boolean {
  if (tf.getBackend() !== 'webgpu') return false;
  const device = (tf.backend() as unknown as { device?: { features?: { has(f: string): boolean } } }).device;
  return device?.features?.has('timestamp-query') ?? false;
}

/** Runs one path (fused or naive) on a fresh model of `dims`. */
/** src/core/memory.ts's estimate for this shape and these options (the app's model screen shows the same). */
export function estimateFor(dims: ShapeDims, opts: Pick<RunOptions, 'frozenDtype' | 'gradientCheckpointing'>): MemoryEstimate {
  return estimateMemory({
    config: configOf(dims),
    method: dims.loraR > 0 ? 'lora' : 'full',
    loraR: dims.loraR,
    targets: 'all-linear',
    batch: dims.batch,
    seq: dims.seq,
    frozenDtype: opts.frozenDtype ?? 'f32',
    gradientCheckpointing: opts.gradientCheckpointing,
  });
}

/** Refuses, before any step, a shape with a tensor the engine cannot split over the storage-binding limit. */
export function checkBindingFits(dims: ShapeDims, opts: Pick<RunOptions, 'frozenDtype' | 'gradientCheckpointing'>): void {
  const e = estimateFor(dims, opts);
  const limit = maxBindingBytes();
  if (limit !== null && e.largestUnsplitBytes > limit)
    throw new DeviceError(
      `${e.largestUnsplitName} needs ${e.largestUnsplitBytes} bytes, more than the storage-binding limit of ${limit} bytes (it cannot be split)`,
    );
}

export async function runPath(dims: ShapeDims, fused: boolean, opts: RunOptions): Promise<PathResult> {
  const log = opts.log ?? (() => {});
  const previous = fusedKernelsEnabled();
  setFusedKernels(fused);
  // Every allocation from here on must fit one binding (vocabulary weights and logits go in chunks).
  const watch = watchBindings(maxBindingBytes());
  const meter = meterBuffers();
  // Seeds start at 1: tfjs treats seed 0 as "no seed", which would make the first tensor differ per call.
  const model: CausalLM = createRandomModel(configOf(dims), opts.seed + 1);
  let trainables: Map<string, tf.Variable>;
  if (dims.loraR > 0) {
    const adapter = createLora(
      model,
      {
        r: dims.loraR,
        alpha: 2 * dims.loraR,
        dropout: opts.loraDropout ?? 0,
        targetModules: 'all-linear',
        useRslora: false,
        fanInFanOut: dims.family === 'gpt2',
      },
      opts.seed + 1,
    );
    trainables = adapter.namedVariables();
    if (opts.frozenDtype && opts.frozenDtype !== 'f32') model.packFrozenWeights(opts.frozenDtype);
  } else {
    if (opts.frozenDtype && opts.frozenDtype !== 'f32')
      throw new Error(`frozenDtype ${opts.frozenDtype} needs LoRA (a frozen base): this shape fine-tunes every weight`);
    model.setTrainable(true);
    trainables = model.params;
  }
  let trainableParameters = 0;
  for (const v of trainables.values()) trainableParameters += v.size;
  const parameters = model.numParameters() + (model.adapter?.numParameters() ?? 0);
  const optimizer = new AdamW({ weightDecay: opts.weightDecay, noDecay: (name) => model.family.isNormOrBias(name) });
  const batches = randomBatches(dims, 2, opts.seed + 2);
  let dropoutSeed = opts.seed + 3;
  const nextSeed = () => dropoutSeed++;
  let stepIndex = 0;
  let completed = 0;
  let tensorsAt10: number | null = null;
  /** Call after each step's outputs are disposed: the tensor count after step 10 is the leak check's base. */
  const finished = () => {
    completed++;
    if (completed === 10) tensorsAt10 = tf.memory().numTensors;
  };

  /** One full training step; returns the loss (the caller disposes it). */
  const step = (batch?: Batch): tf.Scalar => {
    const { ids } = batch ?? batches[stepIndex++ % batches.length];
    const { loss, grads } = lossAndGrads(model, ids, ids, trainables, { training: true, nextSeed, checkpoint: opts.gradientCheckpointing });
    const norm = optimizer.clipAndApply(trainables, grads, opts.lr, opts.clip);
    tf.dispose([...grads.values(), norm]);
    return loss;
  };
  const timedStep = async (): Promise<{ ms: number; loss: number }> => {
    const t0 = performance.now();
    const loss = step();
    const [value] = await loss.data();
    const ms = performance.now() - t0;
    loss.dispose();
    finished();
    return { ms, loss: value };
  };

  try {
    const label = fused ? 'fused' : 'naive';
    // The first step compiles shaders and creates the optimizer moments; the tensor count is taken after it.
    const first = await timedStep();
    watch.check(); // a tensor over the binding limit fails now, not after the measured steps
    log(`${label}: first step ${first.ms.toFixed(0)} ms, loss ${first.loss.toFixed(4)}`);
    const tensorsBefore = tf.memory().numTensors;
    for (let i = 0; i < opts.warmup; i++) await timedStep();

    // Kernel invocations, dispatches and peak memory of one step.
    meter.resetPeak();
    let profileLoss: tf.Tensor | null = null;
    const {
      result: info,
      dispatches,
      byProgram,
    } = await countDispatches(() =>
      tf.profile(() => {
        profileLoss = step();
        return profileLoss;
      }),
    );
    await profileLoss!.data();
    (profileLoss as tf.Tensor | null)?.dispose();
    const peakBufferBytes = meter.peak;
    finished();
    const gpuBytesAllocated = (tf.memory() as { numBytesAllocatedInGPU?: number }).numBytesAllocatedInGPU ?? null;
    const kernelsByName: Record<string, number> = {};
    for (const k of info.kernels) kernelsByName[k.name] = (kernelsByName[k.name] ?? 0) + 1;

    // GPU time of one step from timestamp queries (each program timed on its own). The step runs on every
    // backend, timed or not, so that all take the same steps and end on the same loss.
    let gpuMsPerStep: number | null = null;
    let timedLoss: tf.Tensor | null = null;
    if (hasTimestampQuery()) {
      const timing = await tf.time(() => {
        timedLoss = step();
      });
      gpuMsPerStep = timing.kernelMs as number;
    } else timedLoss = step();
    await timedLoss!.data();
    (timedLoss as tf.Tensor | null)?.dispose();
    finished();

    const times: number[] = [];
    let lastLoss = first.loss;
    for (let i = 0; i < opts.steps; i++) {
      const r = await timedStep();
      times.push(r.ms);
      lastLoss = r.loss;
    }
    const msPerStep = median(times);
    log(`${label}: ${msPerStep.toFixed(1)} ms/step (median of ${times.length}), ${info.kernels.length} kernels/step`);
    const tensorsAfter = tf.memory().numTensors;
    watch.stop();
    watch.check();

    const result: PathResult = {
      path: label,
      tokensPerSecond: (dims.batch * dims.seq * 1000) / msPerStep,
      msPerStep,
      kernelsPerStep: info.kernels.length,
      dispatchesPerStep: dispatches,
      gpuMsPerStep,
      wallOverGpu: gpuMsPerStep ? msPerStep / gpuMsPerStep : null,
      peakBytes: info.peakBytes,
      peakBufferBytes,
      largestBinding: watch.largest,
      maxBindingBytes: maxBindingBytes(),
      estimatedPeakBytes: fused ? estimateFor(dims, opts).peakBytes : null, // it models the fused kernels
      gpuBytesAllocated,
      tensorsBefore,
      tensorsAfter,
      firstLoss: first.loss,
      lastLoss,
      parameters,
      trainableParameters,
      kernelsByName: byCount(kernelsByName),
      dispatchesByProgram: byProgram,
    };

    if (opts.leakSteps !== undefined) {
      // Varying lengths: the cycle of lengths runs twice before the reference point, so that first-time
      // allocations, shader compiles and pooled buffers of each size are behind it, including those of each
      // change from one length to the next (which pooled buffers are free depends on what the step before
      // freed); then the counts must not move.
      const lengths = opts.varyLengths ? variedLengths(dims.seq) : [dims.seq];
      const leakBatches = opts.varyLengths ? randomBatches(dims, lengths.length * 2, opts.seed + 3, lengths) : null;
      const cycleEnd = Math.max(10, completed) + 2 * lengths.length;
      let leakIndex = 0;
      try {
        while (completed < opts.leakSteps) {
          const loss = step(leakBatches ? leakBatches[leakIndex++ % leakBatches.length] : undefined);
          await loss.data();
          loss.dispose();
          finished();
          if (completed === cycleEnd) {
            result.tensorsAtCycle = tf.memory().numTensors;
            result.bytesAtCycle = tf.memory().numBytes;
            result.gpuBytesAtCycle = gpuBytes();
          }
          if (completed % 50 === 0) log(`${label}: leak check ${completed}/${opts.leakSteps}, ${tf.memory().numTensors} tensors`);
        }
        result.tensorsAt10 = tensorsAt10 ?? undefined;
        result.tensorsAtN = tf.memory().numTensors;
        result.bytesAtN = tf.memory().numBytes;
        result.gpuBytesAtN = gpuBytes();
        result.leakSteps = completed;
      } finally {
        for (const b of leakBatches ?? []) b.ids.dispose();
      }
      result.leakLengths = lengths;
    }
    return result;
  } finally {
    watch.stop();
    meter.stop();
    optimizer.dispose();
    for (const b of batches) b.ids.dispose();
    model.dispose();
    setFusedKernels(previous);
  }
}
