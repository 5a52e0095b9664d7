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
