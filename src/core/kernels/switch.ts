// The one switch between the fused kernels and the plain-op path (the reference the fused kernels are
// tested against, and what `whetstone bench --naive` measures).
let fused = true;

/** Turns the fused kernels on (default) or off (plain tfjs ops everywhere). */
export function setFusedKernels(on: boolean): void {
  fused = on;
}

export function fusedKernelsEnabled(): boolean {
  return fused;
}

/** Runs `f` on the plain-op path (fused kernels off), then restores the switch as it was. */
export function withPlainOps<T>(f: () => T): T {
  const was = fused;
  fused = false;
  try {
    return f();
  } finally {
    fused = was;
  }
}
