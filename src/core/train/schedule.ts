// Learning-rate schedules as HF's get_scheduler computes them: warmup rises linearly from 0, then constant,
// linear decay to 0, or half-cosine decay to 0 at the last step.
import type { Schedule } from './config';

/** Warmup steps: `warmup` ≥ 1 is a count, in (0, 1) a ratio of the total (rounded up, as HF). */
export function warmupSteps(warmup: number, totalSteps: number): number {
  return warmup >= 1 ? Math.floor(warmup) : Math.ceil(warmup * totalSteps);
}

/** Learning rate for optimizer step `step` (0-based: the lr used by the step-th update). */
export function learningRate(schedule: Schedule, baseLr: number, step: number, totalSteps: number, warmup: number): number {
  const w = warmupSteps(warmup, totalSteps);
  if (step < w) return (baseLr * step) / Math.max(1, w);
  if (schedule === 'constant') return baseLr;
  const progress = (step - w) / Math.max(1, totalSteps - w);
  if (schedule === 'linear') return baseLr * Math.max(0, 1 - progress);
  return baseLr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}
