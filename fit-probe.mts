import { initBackend } from './src/core/backend';
import { runPath } from './bench/run';
import { resolveShape, configOf } from './bench/shapes';
import { estimateMemory } from './src/core/memory';
await initBackend('cpu');
const opts = { steps: 1, warmup: 0, lr: 1e-4, clip: 1, weightDecay: 0.01, seed: 0 };
const shapes: [string, any, boolean?][] = JSON.parse(process.argv[2]);
for (const [name, o, ck] of shapes) {
  const dims = resolveShape(name, o);
  const r = await runPath(dims, true, { ...opts, gradientCheckpointing: ck });
  const e = estimateMemory({ config: configOf(dims), method: dims.loraR > 0 ? 'lora' : 'full', loraR: dims.loraR, batch: dims.batch, seq: dims.seq, gradientCheckpointing: ck });
  console.log(JSON.stringify({ name, o, ck: !!ck, I: dims.intermediate, peak: r.peakBytes, est: e.peakBytes, err: +(e.peakBytes / r.peakBytes - 1).toFixed(4), tokens: dims.batch * dims.seq }));
}
