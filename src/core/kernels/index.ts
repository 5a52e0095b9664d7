// Fused kernels for training, each registered for the cpu and webgpu backends with its gradient:
// LayerNorm/RMSNorm, gelu_new, bias + gelu_new, the SwiGLU gate, bias add, linear (+ LoRA) layers, heads
// split/merge, RoPE, attention, a reshape and a residual add that save nothing for the backward, chunked
// cross-entropy, the global gradient norm and AdamW with clipping folded in. `setFusedKernels(false)` switches
// the engine back to plain tfjs ops (the reference path); dropout (hashed masks, dropout.ts) is the same on both.
// Importing this module registers the kernels.
import './cpu-matmul'; // the CPU backend's matmuls, replaced on import
export { setFusedKernels, fusedKernelsEnabled, withPlainOps } from './switch';
export { fusedLayerNorm, fusedRmsNorm } from './norms';
export { fusedGeluNew, fusedBiasGeluNew, fusedSiluGate, fusedBiasAdd } from './activations';
export { fusedLinear } from './linear';
export { packF16, unpackF16, packWeight, unpackWeight, isPacked, gatherPacked, type PackedWeight, type PackedFormat } from './f16';
export { packInt8, unpackInt8 } from './int8';
export { fusedSplitHeads, fusedSplitHeadsParts, fusedRope, fusedSplitRope, fusedAttention } from './attention';
export { fusedView, fusedResidualAdd } from './views';
export { fusedCausalLmLoss, fusedHeadChunkLossGrad, fusedHeadChunkStats } from './cross-entropy';
export { hashDropout, randomDropoutSeed } from './dropout';
export { fusedGlobalNorm, fusedClipScale, fusedAdamW, type AdamWStep } from './optimizer';
