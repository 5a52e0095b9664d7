// `whetstone bench`: training-step throughput and kernel counts of a named model shape with random weights,
// through the fused kernels and (with --naive) the plain-op path in the same process. One JSON object on the
// last stdout line; progress on stderr. `--kernel NAME` micro-benchmarks one kernel instead (KERNEL_BENCHES).
import { parse, UsageError, type Parsed } from './args';
import { applyBindingLimit, log, releaseNotes, startBackend } from './runtime';
import { resolveShape, SHAPE_NAMES, type ShapeOverrides } from '../bench/shapes';
import { checkBindingFits, runPath, type PathResult } from '../bench/run';
import { benchMatmul } from '../bench/kernel-matmul';
import { benchAttention } from '../bench/kernel-attention';
import { setSubgroups, subgroupsActive } from '../src/core/kernels/subgroups';
import { FROZEN_DTYPES, type FrozenDtype } from '../src/core/memory';
import type { Command } from './main';

const DIM_FLAGS = {
  layers: 'layers',
  d: 'd',
  heads: 'heads',
  'kv-heads': 'kvHeads',
  seq: 'seq',
  batch: 'batch',
  vocab: 'vocab',
  intermediate: 'intermediate',
} as const;

function ratio(a: number | null, b: number | null): number | null {
  return a !== null && b !== null && b !== 0 ? a / b : null;
}

/** Flags only the kernel micro-benchmarks read (--batch and --warmup are shared with the model bench). */
const KERNEL_FLAGS = {
  kernel: { type: 'string' },
  m: { type: 'string' },
  n: { type: 'string' },
  k: { type: 'string' },
  b: { type: 'string' },
  t: { type: 'string' },
  iters: { type: 'string' },
  'transpose-b': { type: 'boolean' },
  'no-subgroups': { type: 'boolean' },
} as const;

/** A positive integer flag: `fallback` when absent (required when there is none). */
function positiveInt(args: Parsed, flag: string, fallback?: number): number {
  const v = args.int(flag) ?? fallback;
  if (v === undefined) throw new UsageError(`--${flag} is required`);
  if (v < 1) throw new UsageError(`--${flag} must be a positive integer, got ${v}`);
  return v;
}

/**
 * `whetstone bench --kernel NAME`: each entry checks its flags (throwing UsageError before any backend
 * starts) and returns the benchmark to run, which resolves to the result object.
 */
const KERNEL_BENCHES: Record<string, (args: Parsed) => () => Promise<object>> = {
  matmul: (args) => {
    const opts = {
      m: positiveInt(args, 'm'),
      n: positiveInt(args, 'n'),
      k: positiveInt(args, 'k'),
      batch: positiveInt(args, 'batch', 1),
      transposeB: args.bool('transpose-b'),
      iters: positiveInt(args, 'iters', 10),
      warmup: args.int('warmup') ?? 2,
      log,
    };
    return () => benchMatmul(opts);
  },
  attention: (args) => {
    const opts = {
      b: positiveInt(args, 'b', 1),
      h: positiveInt(args, 'heads', 8),
      kvHeads: positiveInt(args, 'kv-heads', 2),
      t: positiveInt(args, 't', 256),
      d: positiveInt(args, 'd', 64),
      iters: positiveInt(args, 'iters', 10),
      warmup: args.int('warmup') ?? 2,
      log,
    };
    if (opts.h % opts.kvHeads !== 0) throw new UsageError(`--heads (${opts.h}) must be a multiple of --kv-heads (${opts.kvHeads})`);
    return () => benchAttention(opts);
  },
};

async function benchKernel(name: string, args: Parsed) {
  const entry = KERNEL_BENCHES[name];
  if (!entry) throw new UsageError(`--kernel must be one of ${Object.keys(KERNEL_BENCHES).join(', ')}, got ${name}`);
  if ((args.int('warmup') ?? 0) < 0) throw new UsageError('--warmup must be ≥ 0');
  const run = entry(args);
  const info = await startBench(args);
  const adapter = info.adapter ? info.adapter.description || info.adapter.vendor || 'unknown' : null;
  return { ...(await run()), backend: info.backend, adapter };
}

/**
 * Starts the backend; `--no-subgroups` keeps the kernels on their workgroup-memory versions (to compare in
 * one session). Returns the backend's report.
 */
async function startBench(args: Parsed) {
  setSubgroups(!args.bool('no-subgroups'));
  return startBackend(args);
}

/** The keys issue 6 asks for, in order, then the rest. */
function summary(r: PathResult) {
  const { path: _path, ...rest } = r;
  return rest;
}

async function bench(argv: string[]) {
  const args = parse(argv, {
    shape: { type: 'string' },
    ...KERNEL_FLAGS,
    ...Object.fromEntries(Object.keys(DIM_FLAGS).map((k) => [k, { type: 'string' as const }])),
    steps: { type: 'string' },
    warmup: { type: 'string' },
    lr: { type: 'string' },
    clip: { type: 'string' },
    'weight-decay': { type: 'string' },
    seed: { type: 'string' },
    naive: { type: 'boolean' },
    'naive-only': { type: 'boolean' },
    'leak-check': { type: 'boolean' },
    'leak-steps': { type: 'string' },
    'vary-lengths': { type: 'boolean' },
    'by-kernel': { type: 'boolean' },
    'frozen-dtype': { type: 'string' },
    'gradient-checkpointing': { type: 'boolean' },
    'lora-dropout': { type: 'string' },
    'max-binding-mib': { type: 'string' },
  });
  const kernel = args.str('kernel');
  // Each mode's own flags: one given to the other is a mistake worth saying (it would be ignored).
  const modelOnly = [
    'shape',
    'layers',
    'seq',
    'vocab',
    'intermediate',
    'steps',
    'lr',
    'clip',
    'weight-decay',
    'seed',
    'naive',
    'naive-only',
    'leak-check',
    'leak-steps',
    'vary-lengths',
    'by-kernel',
    'frozen-dtype',
    'gradient-checkpointing',
    'lora-dropout',
    'max-binding-mib',
  ];
  const kernelOnly = ['m', 'n', 'k', 'b', 't', 'iters', 'transpose-b'];
  const given = (flag: string) => args.str(flag) !== undefined || args.bool(flag);
  const stray = (kernel !== undefined ? modelOnly : kernelOnly).find(given);
  if (stray)
    throw new UsageError(`--${stray} applies to ${kernel !== undefined ? 'the model benchmark (--shape)' : '--kernel benchmarks'} only`);
  if (kernel !== undefined) return benchKernel(kernel, args);
  const shapeName = args.str('shape') ?? 'tiny';
  if (!(SHAPE_NAMES as readonly string[]).includes(shapeName))
    throw new UsageError(`--shape must be one of ${SHAPE_NAMES.join(', ')}, got ${shapeName}`);
  const overrides: ShapeOverrides = {};
  for (const [flag, key] of Object.entries(DIM_FLAGS)) {
    const v = args.int(flag);
    if (v !== undefined) {
      if (v <= 0) throw new UsageError(`--${flag} must be a positive integer, got ${v}`);
      overrides[key] = v;
    }
  }
  let dims;
  try {
    dims = resolveShape(shapeName, overrides);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const frozenDtype = (args.str('frozen-dtype') ?? 'f32') as FrozenDtype;
  if (!FROZEN_DTYPES.includes(frozenDtype)) throw new UsageError(`--frozen-dtype must be f32, f16 or int8, got ${frozenDtype}`);
  if (frozenDtype !== 'f32' && dims.loraR === 0)
    throw new UsageError(
      `--frozen-dtype ${frozenDtype} stores frozen base weights: it needs a LoRA shape (${shapeName} fine-tunes every weight)`,
    );
  const loraDropout = args.num('lora-dropout') ?? 0;
  if (!(loraDropout >= 0 && loraDropout < 1)) throw new UsageError(`--lora-dropout must be in [0, 1), got ${loraDropout}`);
  if (loraDropout > 0 && dims.loraR === 0) throw new UsageError(`--lora-dropout needs a LoRA shape (${shapeName} fine-tunes every weight)`);
  const steps = args.int('steps') ?? 10;
  const warmup = args.int('warmup') ?? 2;
  if (steps < 1 || warmup < 0) throw new UsageError('--steps must be ≥ 1 and --warmup ≥ 0');
  const leakSteps = args.bool('leak-check') ? (args.int('leak-steps') ?? 200) : undefined;
  if (leakSteps !== undefined && leakSteps < 11) throw new UsageError('--leak-steps must be at least 11');
  if (leakSteps === undefined && args.str('leak-steps') !== undefined) throw new UsageError('--leak-steps applies to --leak-check');
  if (args.bool('naive') && args.bool('naive-only')) throw new UsageError('give --naive or --naive-only, not both');
  if (leakSteps !== undefined && args.bool('naive-only'))
    throw new UsageError('--leak-check runs on the fused path: not with --naive-only');
  const seed = args.int('seed') ?? 0;
  if (seed < 0) throw new UsageError(`--seed must be ≥ 0, got ${seed}`);
  for (const flag of ['lr', 'clip', 'weight-decay']) {
    const v = args.num(flag);
    if (v !== undefined && !(v >= 0 && (flag !== 'lr' || v > 0)))
      throw new UsageError(`--${flag} must be ${flag === 'lr' ? '> 0' : '≥ 0'}, got ${v}`);
  }
  const varyLengths = args.bool('vary-lengths');
  if (varyLengths && leakSteps === undefined) throw new UsageError('--vary-lengths applies to --leak-check');
  const info = await startBench(args);
  applyBindingLimit(args);
  checkBindingFits(dims, { frozenDtype, gradientCheckpointing: args.bool('gradient-checkpointing') });
  const opts = {
    steps,
    warmup,
    lr: args.num('lr') ?? 1e-4,
    clip: args.num('clip') ?? 1,
    weightDecay: args.num('weight-decay') ?? 0.01,
    seed,
    leakSteps,
    varyLengths,
    frozenDtype,
    gradientCheckpointing: args.bool('gradient-checkpointing'),
    loraDropout,
    log,
  };
  log(`bench ${shapeName}: ${JSON.stringify(dims)}`);
  releaseNotes(); // the options are read: from here on progress shows as it comes
  const paths: PathResult[] = [];
  if (!args.bool('naive-only')) paths.push(await runPath(dims, true, opts));
  if (args.bool('naive') || args.bool('naive-only')) paths.push(await runPath(dims, false, { ...opts, leakSteps: undefined }));
  const [main, naive] = paths;
  const byKernel = args.bool('by-kernel');
  const strip = (r: PathResult) => {
    const s = summary(r) as Partial<PathResult>;
    if (!byKernel) {
      delete s.kernelsByName;
      delete s.dispatchesByProgram;
    }
    return s;
  };
  const adapter = info.adapter ? info.adapter.description || info.adapter.vendor || 'unknown' : null;
  const out: Record<string, unknown> = {
    shape: shapeName,
    backend: info.backend,
    adapter,
    path: main.path,
    ...strip(main),
    dims,
    frozenDtype,
    gradientCheckpointing: opts.gradientCheckpointing,
    loraDropout,
    subgroups: subgroupsActive(),
    steps,
    warmup,
  };
  if (naive && naive !== main) {
    out.naive = strip(naive);
    out.ratios = {
      tokensPerSecond: ratio(main.tokensPerSecond, naive.tokensPerSecond),
      msPerStep: ratio(main.msPerStep, naive.msPerStep),
      kernelsPerStep: ratio(main.kernelsPerStep, naive.kernelsPerStep),
      dispatchesPerStep: ratio(main.dispatchesPerStep, naive.dispatchesPerStep),
      gpuMsPerStep: ratio(main.gpuMsPerStep, naive.gpuMsPerStep),
      peakBytes: ratio(main.peakBytes, naive.peakBytes),
      peakBufferBytes: ratio(main.peakBufferBytes, naive.peakBufferBytes),
    };
  }
  return out;
}

export const benchCommands: Record<string, Command> = { bench };
