// `whetstone bench`: training-step throughput and kernel counts of a named model shape with random weights,
// through the fused kernels and (with --naive) the plain-op path in the same process. One JSON object on the
// last stdout line; progress on stderr.
import { parse, UsageError } from './args';
import { log, startBackend } from './runtime';
import { resolveShape, SHAPE_NAMES, type ShapeOverrides } from '../bench/shapes';
import { runPath, type PathResult } from '../bench/run';
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

/** The keys issue 6 asks for, in order, then the rest. */
function summary(r: PathResult) {
  const { path: _path, ...rest } = r;
  return rest;
}

async function bench(argv: string[]) {
  const args = parse(argv, {
    shape: { type: 'string' },
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
    'by-kernel': { type: 'boolean' },
  });
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
  const steps = args.int('steps') ?? 10;
  const warmup = args.int('warmup') ?? 2;
  if (steps < 1 || warmup < 0) throw new UsageError('--steps must be ≥ 1 and --warmup ≥ 0');
  const leakSteps = args.bool('leak-check') ? (args.int('leak-steps') ?? 200) : undefined;
  if (leakSteps !== undefined && leakSteps < 11) throw new UsageError('--leak-steps must be at least 11');
  const info = await startBackend(args);
  const opts = {
    steps,
    warmup,
    lr: args.num('lr') ?? 1e-4,
    clip: args.num('clip') ?? 1,
    weightDecay: args.num('weight-decay') ?? 0.01,
    seed: args.int('seed') ?? 0,
    leakSteps,
    log,
  };
  log(`bench ${shapeName}: ${JSON.stringify(dims)}`);
  const paths: PathResult[] = [];
  if (!args.bool('naive-only')) paths.push(await runPath(dims, true, opts));
  if (args.bool('naive') || args.bool('naive-only')) paths.push(await runPath(dims, false, { ...opts, leakSteps: undefined }));
  const [main, naive] = paths;
  const byKernel = args.bool('by-kernel');
  const strip = (r: PathResult) => {
    const s = summary(r) as Partial<PathResult>;
    if (!byKernel) delete s.kernelsByName;
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
    };
  }
  return out;
}

export const benchCommands: Record<string, Command> = { bench };
