// `whetstone bench` contract: JSON keys, and the Speed I kernel budget (≤ 600 tfjs kernels per full
// training step of the 6-layer gpt-10m structure, far below the plain path measured in the same run).
// Counts, not times: timings are only meaningful on a real GPU.
import { describe, it, expect } from 'vitest';
import { expectCliError, whetstone } from './run-cli';

describe('whetstone bench', () => {
  it('reports ≤ 600 kernels per step fused against the naive count, with a flat tensor count', () => {
    const r = whetstone([
      'bench',
      '--shape',
      'gpt-10m',
      '--d',
      '64',
      '--seq',
      '32',
      '--batch',
      '2',
      '--naive',
      '--steps',
      '2',
      '--warmup',
      '1',
      '--backend',
      'cpu',
    ]);
    expect(r.code, r.stderr).toBe(0);
    for (const key of [
      'shape',
      'backend',
      'adapter',
      'tokensPerSecond',
      'msPerStep',
      'kernelsPerStep',
      'gpuMsPerStep',
      'wallOverGpu',
      'peakBytes',
      'tensorsBefore',
      'tensorsAfter',
      'naive',
    ]) {
      expect(r.json, key).toHaveProperty(key);
    }
    expect(r.json.shape).toBe('gpt-10m');
    expect(r.json.kernelsPerStep).toBeLessThanOrEqual(600);
    expect(r.json.naive.kernelsPerStep).toBeGreaterThan(2 * r.json.kernelsPerStep);
    expect(r.json.naive.estimatedPeakBytes).toBeNull(); // the estimate models the fused kernels
    expect(r.json.tensorsAfter).toBe(r.json.tensorsBefore);
    // Same function either way: the fused and plain paths start from the same loss.
    expect(Math.abs(r.json.firstLoss - r.json.naive.firstLoss)).toBeLessThan(1e-4);
  });

  it('--by-kernel (webgpu): kernels and programs by name, summing to the step counts; two AdamW programs per trained tensor', () => {
    const dims = ['--layers', '1', '--d', '32', '--heads', '2', '--kv-heads', '1', '--vocab', '256', '--seq', '16', '--batch', '1'];
    const r = whetstone([
      'bench',
      '--shape',
      'smollm2-135m-lora',
      ...dims,
      '--steps',
      '1',
      '--warmup',
      '0',
      '--by-kernel',
      '--backend',
      'webgpu',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
    expect(sum(r.json.kernelsByName)).toBe(r.json.kernelsPerStep);
    const programs = r.json.dispatchesByProgram as Record<string, number>;
    expect(sum(programs)).toBe(r.json.dispatchesPerStep);
    // one layer's 7 LoRA-targeted linear layers: 14 trained tensors, each updated by both moments' program and
    // the parameter's (clipping on: the bench clips at 1); LoRA's scale inside the matmuls, no program of its own
    expect(programs.whet_adamw_moments_clip).toBe(14);
    expect(programs.whet_adamw_p).toBe(14);
    expect(Object.keys(programs).filter((k) => k.includes('scale') && !k.includes('ce_'))).toEqual([]);
    // 7 matmul programs per LoRA linear layer: down and the base product with the branch's up-projection in its
    // epilogue forward; down again, dB, dDown, dA and dx (dy W + dDown A, one program) backward
    expect(sum(Object.fromEntries(Object.entries(programs).filter(([k]) => k.startsWith('whet_mm_'))))).toBe(7 * 7);
    // LoRA dropout: the mask drawn inside those programs where x (and dx's LoRA term) is read: none more
    const dropped = whetstone([
      'bench',
      '--shape',
      'smollm2-135m-lora',
      ...dims,
      '--steps',
      '1',
      '--warmup',
      '0',
      '--by-kernel',
      '--lora-dropout',
      '0.1',
      '--backend',
      'webgpu',
    ]);
    expect(dropped.code, dropped.stderr).toBe(0);
    const withDropout = dropped.json.dispatchesByProgram as Record<string, number>;
    expect(sum(Object.fromEntries(Object.entries(withDropout).filter(([k]) => k.startsWith('whet_mm_'))))).toBe(7 * 7);
    expect(Object.keys(withDropout).filter((k) => k.includes('dropout'))).toEqual([]);
    expect(dropped.json.dispatchesPerStep).toBe(r.json.dispatchesPerStep);
    const plain = whetstone(['bench', '--shape', 'smollm2-135m-lora', ...dims, '--steps', '1', '--warmup', '0', '--backend', 'cpu']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.json).not.toHaveProperty('kernelsByName');
    expect(plain.json).not.toHaveProperty('dispatchesByProgram');
  });

  it('--max-binding-mib 0.25 trains a vocabulary whose embedding (750 KiB) is 3 chunks, no allocation over the limit', () => {
    const args = [
      'bench',
      '--shape',
      'tiny',
      '--vocab',
      '3000',
      '--seq',
      '32',
      '--batch',
      '2',
      '--steps',
      '1',
      '--warmup',
      '0',
      '--backend',
      'cpu',
    ];
    const r = whetstone([...args, '--max-binding-mib', '0.25']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/storage-binding limit: 262144 bytes/);
    expect(r.json.maxBindingBytes).toBe(262144);
    expect(r.json.largestBinding).toBeGreaterThan(0);
    expect(r.json.largestBinding).toBeLessThanOrEqual(262144);
    // The same random model trains to the same loss with the whole embedding (its first chunk's seed is the
    // whole one's, the other chunks differ): both near ln 3000 at the start.
    expect(Math.abs(r.json.firstLoss - Math.log(3000))).toBeLessThan(0.1);
    expect(r.json.tensorsAfter).toBe(r.json.tensorsBefore);
    expectCliError(whetstone([...args, '--max-binding-mib', '0']), /--max-binding-mib must be a positive number/);
  });

  it('--kernel matmul: the tiled matmul against tfjs on one shape, checked against float64', () => {
    const r = whetstone([
      'bench',
      '--kernel',
      'matmul',
      '--m',
      '33',
      '--n',
      '20',
      '--k',
      '17',
      '--batch',
      '2',
      '--iters',
      '2',
      '--warmup',
      '1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    for (const key of [
      'kernel',
      'm',
      'n',
      'k',
      'batch',
      'iters',
      'ms_tiled',
      'ms_tfjs',
      'gflops_tiled',
      'gflops_tfjs',
      'speedup',
      'max_rel_err',
    ]) {
      expect(r.json, key).toHaveProperty(key);
    }
    expect(r.json).toMatchObject({ kernel: 'matmul', m: 33, n: 20, k: 17, batch: 2, iters: 2 });
    expect(r.json.max_rel_err).toBeLessThan(1e-4);
    expect(r.json.ms_tiled).toBeGreaterThan(0);
    expect(r.json.gflops_tiled).toBeCloseTo((2 * 33 * 20 * 17 * 2) / (r.json.ms_tiled * 1e6), 6);
    expect(r.json.speedup).toBeCloseTo(r.json.ms_tfjs / r.json.ms_tiled, 6);
  });

  it('takes the same steps on every backend: the same first and last loss on cpu and webgpu', () => {
    const args = [
      'bench',
      '--shape',
      'tiny',
      '--layers',
      '1',
      '--d',
      '32',
      '--seq',
      '16',
      '--batch',
      '2',
      '--vocab',
      '128',
      '--steps',
      '2',
      '--warmup',
      '1',
    ];
    const [cpu, gpu] = ['cpu', 'webgpu'].map((b) => whetstone([...args, '--backend', b]));
    for (const r of [cpu, gpu]) expect(r.code, r.stderr).toBe(0);
    expect(Math.abs(cpu.json.firstLoss - gpu.json.firstLoss)).toBeLessThanOrEqual(1e-4 * cpu.json.firstLoss);
    expect(Math.abs(cpu.json.lastLoss - gpu.json.lastLoss)).toBeLessThanOrEqual(1e-4 * cpu.json.lastLoss);
    expect(cpu.json.lastLoss).not.toBe(cpu.json.firstLoss);
  });

  it('--kernel matmul --transpose-b at ≤ 4 rows: the subgroup program, timed also without; --no-subgroups', () => {
    const args = ['bench', '--kernel', 'matmul', '--m', '2', '--n', '37', '--k', '96', '--transpose-b', '--iters', '2', '--warmup', '1'];
    const r = whetstone(args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ kernel: 'matmul', m: 2, n: 37, k: 96, transpose_b: true });
    expect(r.json.max_rel_err).toBeLessThan(1e-4);
    // The test adapter (SwiftShader through Dawn) offers subgroups: on webgpu they must be in use.
    expect(r.json.subgroups).toBe(r.json.backend === 'webgpu');
    if (r.json.subgroups) expect(r.json.ms_tiled_no_subgroups).toBeGreaterThan(0);
    const off = whetstone([...args, '--no-subgroups']);
    expect(off.code, off.stderr).toBe(0);
    expect(off.json).toMatchObject({ subgroups: false, ms_tiled_no_subgroups: null });
    expect(off.json.max_rel_err).toBeLessThan(1e-4);
    // a product the tiles take reports none (the subgroup program is for ≤ 4 rows against [N, K])
    const tiles = whetstone(['bench', '--kernel', 'matmul', '--m', '33', '--n', '20', '--k', '17', '--iters', '1', '--warmup', '0']);
    expect(tiles.code, tiles.stderr).toBe(0);
    expect(tiles.json).toMatchObject({ subgroups: false, ms_tiled_no_subgroups: null });
  });

  it('--kernel attention: flash against plain attention (GQA), times, peak bytes and the difference', () => {
    const args = ['bench', '--kernel', 'attention', '--b', '1', '--heads', '4', '--kv-heads', '2', '--t', '48', '--d', '8'];
    const r = whetstone([...args, '--iters', '1', '--warmup', '0', '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ kernel: 'attention', b: 1, h: 4, kvHeads: 2, t: 48, d: 8, iters: 1, backend: 'cpu' });
    for (const key of ['ms_fwd_flash', 'ms_fwdbwd_flash', 'ms_fwd_plain', 'ms_fwdbwd_plain']) expect(r.json[key], key).toBeGreaterThan(0);
    expect(r.json.max_rel_err).toBeLessThan(1e-3);
    // The plain path holds the [1, 4, 48, 48] scores; the flash path never does.
    expect(r.json.peak_bytes_plain).toBeGreaterThanOrEqual(4 * 48 * 48 * 4);
    expect(r.json.peak_bytes_flash).toBeLessThan(r.json.peak_bytes_plain);
    expectCliError(
      whetstone(['bench', '--kernel', 'attention', '--heads', '6', '--kv-heads', '4']),
      /--heads \(6\) must be a multiple of --kv-heads \(4\)/,
    );
    expectCliError(whetstone(['bench', '--kernel', 'attention', '--t', '0']), /--t must be a positive integer/);
  });

  it('--kernel: usage errors for a bad size, a missing size and an unknown kernel', () => {
    expectCliError(whetstone(['bench', '--kernel', 'matmul', '--m', '0', '--n', '4', '--k', '4']), /--m must be a positive integer/);
    expectCliError(whetstone(['bench', '--kernel', 'matmul', '--m', '8', '--n', 'x', '--k', '4']), /--n must be a number/);
    expectCliError(whetstone(['bench', '--kernel', 'matmul', '--m', '8', '--n', '4']), /--k is required/);
    expectCliError(whetstone(['bench', '--kernel', 'conv', '--m', '8']), /--kernel must be one of matmul/);
  });

  it('--frozen-dtype f16 holds ≤ 60 % of the f32 peak on the full smollm2-135m-lora shape (8 tokens), int8 less again, with the same losses', () => {
    // All 30 layers, d 576, vocabulary 49152, LoRA r 16: frozen weights (linear and the tied embedding) dominate
    // at 8 tokens; the preset's own 4,096 tokens would take hours on this CPU backend.
    const shape = ['--shape', 'smollm2-135m-lora'];
    const run = (dtype: string) =>
      whetstone([
        'bench',
        ...shape,
        '--seq',
        '8',
        '--batch',
        '1',
        '--steps',
        '1',
        '--warmup',
        '0',
        '--frozen-dtype',
        dtype,
        '--backend',
        'cpu',
      ]);
    const f32 = run('f32');
    const f16 = run('f16');
    const int8 = run('int8');
    for (const r of [f32, f16, int8]) expect(r.code, r.stderr).toBe(0);
    expect(f16.json.frozenDtype).toBe('f16');
    expect(int8.json.frozenDtype).toBe('int8');
    expect(f16.json.peakBytes).toBeLessThanOrEqual(0.6 * f32.json.peakBytes);
    // int8 removes another byte per linear and vocabulary weight (134 M of them): ~0.68 of f16's peak here.
    expect(int8.json.peakBytes).toBeLessThanOrEqual(0.75 * f16.json.peakBytes);
    for (const r of [f32, f16, int8])
      expect(Math.abs(r.json.estimatedPeakBytes - r.json.peakBytes) / r.json.peakBytes).toBeLessThanOrEqual(0.15);
    expect(Math.abs(f16.json.firstLoss - f32.json.firstLoss)).toBeLessThan(1e-2);
    expect(Math.abs(int8.json.firstLoss - f32.json.firstLoss)).toBeLessThan(1e-2);
    expect(f16.json.parameters).toBe(f32.json.parameters);
    expect(int8.json.parameters).toBe(f32.json.parameters);
    expectCliError(whetstone(['bench', '--shape', 'tiny', '--frozen-dtype', 'f16']), /--frozen-dtype f16 .*needs a LoRA shape/);
    expectCliError(whetstone(['bench', '--shape', 'tiny', '--frozen-dtype', 'int8']), /--frozen-dtype int8 .*needs a LoRA shape/);
    expectCliError(whetstone(['bench', '--shape', 'tiny', '--frozen-dtype', 'bf16']), /--frozen-dtype must be f32, f16 or int8/);
    const train = ['train', '--model', 'm', '--data', 'd.jsonl', '--mode', 'text', '--out', 'o', '--frozen-dtype'];
    expectCliError(whetstone([...train, 'f16', '--method', 'full']), /--frozen-dtype f16 .*needs --method lora/);
    expectCliError(whetstone([...train, 'int8', '--method', 'full']), /--frozen-dtype int8 .*8 bits.*needs --method lora/);
    expectCliError(whetstone([...train, 'q4']), /--frozen-dtype must be f32, f16 or int8, got q4/);
  });

  it('--gradient-checkpointing lowers the peak of a deeper shape, same loss, estimate within 15 %; --lora-dropout adds nothing', () => {
    const run = (...extra: string[]) =>
      whetstone([
        'bench',
        ...['--shape', 'smollm2-135m-lora', '--layers', '8', '--d', '64', '--heads', '4', '--kv-heads', '2', '--vocab', '2048'],
        ...['--seq', '64', '--batch', '2', '--steps', '2', '--warmup', '0', '--backend', 'cpu'],
        ...extra,
      ]);
    const plain = run();
    const ckpt = run('--gradient-checkpointing');
    expect(plain.code, plain.stderr).toBe(0);
    expect(ckpt.code, ckpt.stderr).toBe(0);
    expect(ckpt.json.gradientCheckpointing).toBe(true);
    // 0.54 measured: the plain step keeps about 12 d + 3 I + 2 kv floats a token in each of the 8 blocks, the
    // checkpointed one d (the block inputs) plus one block being recomputed, on top of the same weights and logits.
    expect(ckpt.json.peakBytes).toBeLessThan(0.6 * plain.json.peakBytes);
    // Each buffer once (the tape's saved tensors share buffers with the activations): 0.73 measured.
    expect(ckpt.json.peakBufferBytes).toBeLessThan(0.8 * plain.json.peakBufferBytes);
    for (const r of [plain, ckpt]) expect(r.json.peakBufferBytes).toBeLessThanOrEqual(r.json.peakBytes);
    expect(Math.abs(ckpt.json.firstLoss - plain.json.firstLoss)).toBeLessThanOrEqual(1e-5 * plain.json.firstLoss);
    expect(Math.abs(ckpt.json.lastLoss - plain.json.lastLoss)).toBeLessThanOrEqual(1e-4 * plain.json.lastLoss);
    for (const r of [plain, ckpt])
      expect(Math.abs(r.json.estimatedPeakBytes - r.json.peakBytes) / r.json.peakBytes).toBeLessThanOrEqual(0.15);
    // LoRA dropout (0.05 is the app's and the CLI's default) stores nothing: its hashed masks are drawn again
    // in the fused linear layer's backward, so both peaks stay where they are (with tfjs's dropout on a plain
    // LoRA branch, a 4-layer d 64 shape peaked at 3.5 times) and the estimate holds; the masks change the loss.
    for (const [base, extra] of [
      [plain, []],
      [ckpt, ['--gradient-checkpointing']],
    ] as const) {
      const dropped = run('--lora-dropout', '0.05', ...extra);
      expect(dropped.code, dropped.stderr).toBe(0);
      expect(dropped.json.loraDropout).toBe(0.05);
      expect(dropped.json.peakBytes).toBeLessThanOrEqual(1.02 * base.json.peakBytes);
      expect(dropped.json.lastLoss).not.toBe(base.json.lastLoss);
    }
    expectCliError(whetstone(['bench', '--shape', 'tiny', '--lora-dropout', '0.1']), /--lora-dropout needs a LoRA shape/);
    expectCliError(whetstone(['bench', '--shape', 'smollm2-135m-lora', '--lora-dropout', '1']), /--lora-dropout must be in \[0, 1\)/);
  });

  // Issue 7: long runs with ragged batches must not leak tensors or grow GPU memory. The cycle of lengths runs
  // twice before the reference point (first allocations of each size and of each change of size), then 500
  // steps must leave every count equal.
  for (const backend of ['cpu', 'webgpu'])
    it(`--leak-check --vary-lengths: 500 steps of six batch lengths keep tensors, bytes and GPU buffers flat (${backend})`, () => {
      const r = whetstone(
        ['bench', '--shape', 'tiny', '--d', '32', '--layers', '1', '--heads', '2', '--seq', '16', '--batch', '2', '--vocab', '64'].concat([
          '--steps',
          '1',
          '--warmup',
          '0',
          '--leak-check',
          '--leak-steps',
          '500',
          '--vary-lengths',
          '--backend',
          backend,
        ]),
        { timeoutMs: 280_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      const f = r.json;
      expect(f.leakSteps).toBe(500);
      expect(f.leakLengths.length).toBeGreaterThanOrEqual(5);
      expect(new Set(f.leakLengths).size).toBe(f.leakLengths.length);
      expect(f.tensorsAtCycle).toBeGreaterThan(0);
      expect(f.tensorsAtN).toBe(f.tensorsAtCycle);
      expect(f.bytesAtN).toBe(f.bytesAtCycle);
      if (backend === 'webgpu') {
        expect(f.gpuBytesAtCycle).toBeGreaterThan(0);
        expect(f.gpuBytesAtN).toBe(f.gpuBytesAtCycle);
      } else expect(f.gpuBytesAtN).toBeNull();
    });

  it('--vary-lengths needs --leak-check', () => {
    expectCliError(whetstone(['bench', '--shape', 'tiny', '--vary-lengths']), /--vary-lengths applies to --leak-check/);
  });
});
