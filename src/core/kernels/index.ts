// Fused kernels for training (LayerNorm/RMSNorm, gelu_new, SwiGLU gate, bias add, chunked cross-entropy,
// AdamW with clipping folded in), registered for the cpu and webgpu backends with their gradients, and the
// switch back to the plain-op path. Importing this module registers the kernels.
export { setFusedKernels, fusedKernelsEnabled } from './switch';
export { fusedLayerNorm, fusedRmsNorm } from './norms';
export { fusedGeluNew, fusedBiasGeluNew, fusedSiluGate, fusedBiasAdd } from './activations';
