// Vocabulary weights over the storage-binding limit live as row chunks: with a simulated limit of 48 KiB the
// fixture Llama's 600 × 64 embedding (tied LM head) splits 192/192/192/24 and Qwen2's 512 × 64 one
// 192/192/128. Logits, loss and every gradient match the unchunked model, as do a LoRA step, a full
// fine-tuning step, greedy generation, the merged export (byte for byte) and the full-state file; the
// binding watch fails the unchunked step and passes the chunked one. Runs on CPU and on WebGPU.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { setMaxBindingBytes } from '../../../../src/core/backend';
import { watchBindings } from '../../../../src/core/binding-watch';
import { loadModel, type CausalLM } from '../../../../src/core/models/model';
import { readJoined } from '../../../../src/core/models/vocab-chunks';
import { lossAndGrads } from '../../../../src/core/train/gradients';
import { evaluateSequences } from '../../../../src/core/train/evaluate';
import { AdamW } from '../../../../src/core/train/adamw';
import { Trainer } from '../../../../src/core/train/trainer';
import { resolveTrainConfig } from '../../../../src/core/train/config';
import { applyState, decodeState, encodeState } from '../../../../src/core/checkpoint';
import { createLora, loadPeftAdapter } from '../../../../src/core/lora';
import { exportMergedModel } from '../../../../src/core/export/merged';
import { generate } from '../../../../src/core/generate';
import { setFusedKernels } from '../../../../src/core/kernels';
import { fixtureJson, fixtureSource, readReference, maxAbsDiff, relErr } from '../../../helpers';

const LIMIT = 48 * 1024;

/** The fixture loaded with the binding limit in force (chunked) or with none (whole). */
async function load(name: string, limit: number | null): Promise<CausalLM> {
  setMaxBindingBytes(limit);
  try {
    return await loadModel(fixtureSource(name));
  } finally {
    setMaxBindingBytes(null);
  }
}

/** Runs `f` with the limit in force. */
async function limited<T>(limit: number | null, f: () => Promise<T> | T): Promise<T> {
  setMaxBindingBytes(limit);
  try {
    return await f();
  } finally {
    setMaxBindingBytes(null);
  }
}

async function joined(map: Map<string, tf.Tensor>): Promise<Map<string, Float32Array>> {
  return new Map([...(await readJoined(map))].map(([k, v]) => [k, v.data]));
}

function expectClose(a: Map<string, Float32Array>, b: Map<string, Float32Array>, tol: number): void {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [name, x] of a) expect(relErr(x, b.get(name)!), name).toBeLessThanOrEqual(tol);
}

const CASES = [
  { name: 'model-llama', embedding: 'model.embed_tokens.weight', rows: [192, 192, 192, 24] },
  { name: 'model-qwen2', embedding: 'model.embed_tokens.weight', rows: [192, 192, 128] },
];

afterEach(() => setMaxBindingBytes(null));

for (const c of CASES) {
  describe(`${c.name} with a ${LIMIT}-byte binding limit`, () => {
    let whole: CausalLM;
    let chunked: CausalLM;
    let ids: tf.Tensor2D;
    let labels: tf.Tensor2D;

    beforeAll(async () => {
      whole = await load(c.name, null);
      chunked = await load(c.name, LIMIT);
      const ref = await readReference(c.name);
      ids = tf.tensor2d(ref.get('input_ids')!.i32!, ref.get('input_ids')!.shape as [number, number], 'int32');
      labels = tf.tensor2d(ref.get('labels')!.i32!, ref.get('labels')!.shape as [number, number], 'int32');
    });
    afterAll(() => {
      whole.dispose();
      chunked.dispose();
      tf.dispose([ids, labels]);
    });

    it('keeps the embedding (the tied LM head) as uneven row chunks, and nothing else', () => {
      expect(whole.params.has(c.embedding)).toBe(true);
      expect(chunked.params.has(c.embedding)).toBe(false);
      expect(chunked.headChunks().map((w) => w.shape[0])).toEqual(c.rows);
      expect(chunked.params.size).toBe(whole.params.size + c.rows.length - 1);
      expect(chunked.numParameters()).toBe(whole.numParameters());
    });

    it('gives the same logits, loss and gradients of every parameter', async () => {
      const a = tf.tidy(() => whole.forward(ids));
      const b = tf.tidy(() => chunked.forward(ids));
      expect(relErr(await b.data(), await a.data())).toBeLessThanOrEqual(1e-5);
      tf.dispose([a, b]);

      const ref = lossAndGrads(whole, ids, labels, whole.params, {}, true);
      const got = await limited(LIMIT, () => lossAndGrads(chunked, ids, labels, chunked.params, {}, true));
      const [l0, l1] = [(await ref.loss.data())[0], (await got.loss.data())[0]];
      expect(Math.abs(l1 - l0) / Math.abs(l0)).toBeLessThanOrEqual(1e-5);
      expect(Math.abs(l0 - fixtureJson(c.name).loss)).toBeLessThanOrEqual(1e-4);
      expect(Array.from(await got.accuracy!.data())).toEqual(Array.from(await ref.accuracy!.data()));
      expectClose(await joined(got.grads), await joined(ref.grads), 1e-4);
      tf.dispose([ref.loss, got.loss, ref.accuracy!, got.accuracy!, ...ref.grads.values(), ...got.grads.values()]);
    });

    it('the plain-op path (fused kernels off) gives the same loss and gradients', async () => {
      setFusedKernels(false);
      try {
        const ref = lossAndGrads(whole, ids, labels, whole.params, {}, true);
        const got = await limited(LIMIT, () => lossAndGrads(chunked, ids, labels, chunked.params, {}, true));
        const [l0, l1] = [(await ref.loss.data())[0], (await got.loss.data())[0]];
        expect(Math.abs(l1 - l0) / Math.abs(l0)).toBeLessThanOrEqual(1e-5);
        expect(Array.from(await got.accuracy!.data())).toEqual(Array.from(await ref.accuracy!.data()));
        expectClose(await joined(got.grads), await joined(ref.grads), 1e-4);
        tf.dispose([ref.loss, got.loss, ref.accuracy!, got.accuracy!, ...ref.grads.values(), ...got.grads.values()]);
      } finally {
        setFusedKernels(true);
      }
    });

    it('the binding watch fails a full fine-tuning step of the whole model and passes the chunked one', async () => {
      const step = (m: CausalLM) => {
        const { loss, grads } = lossAndGrads(m, ids, labels, m.params);
        tf.dispose([loss, ...grads.values()]);
      };
      const bad = watchBindings(LIMIT);
      await limited(LIMIT, () => step(whole));
      bad.stop();
      expect(() => bad.check()).toThrow(/more than the storage-binding limit of 49152 bytes/);

      const good = watchBindings(LIMIT);
      await limited(LIMIT, async () => {
        const fresh = await loadModel(fixtureSource(c.name)); // the upload is watched too
        step(fresh);
        await evaluateSequences(fresh, [{ inputIds: [1, 5, 9, 300, 599 % fresh.config.vocabSize], labels: [1, 5, 9, 300, 2] }], 1, 0);
        fresh.dispose();
      });
      good.stop();
      good.check();
      expect(good.largest).toBeGreaterThan(LIMIT / 2);
      expect(good.largest).toBeLessThanOrEqual(LIMIT);
    });

    it('two LoRA steps and two full fine-tuning steps (AdamW, clipped) update the weights alike', async () => {
      for (const method of ['lora', 'full'] as const) {
        const models = [await load(c.name, null), await load(c.name, LIMIT)];
        const after: Map<string, Float32Array>[] = [];
        for (const [i, m] of models.entries()) {
          await limited(i === 1 ? LIMIT : null, async () => {
            let vars = m.params;
            if (method === 'lora') {
              const adapter = createLora(
                m,
                { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', useRslora: false, fanInFanOut: false },
                3,
              );
              // B = 0 would leave the first step's A gradient zero: start from a nonzero B.
              for (const l of adapter.layers.values()) l.B.assign(tf.randomNormal(l.B.shape, 0, 0.1, 'float32', 7));
              vars = adapter.namedVariables();
            } else m.setTrainable(true);
            // eps well above the round-off of near-zero gradient entries, which Adam would otherwise blow
            // up to ±lr with a sign that depends on summation order.
            const opt = new AdamW({ weightDecay: 0.01, eps: 1e-3 });
            for (let s = 0; s < 2; s++) {
              const { loss, grads } = lossAndGrads(m, ids, labels, vars);
              tf.dispose(opt.clipAndApply(vars, grads, 1e-2, 1));
              tf.dispose([loss, ...grads.values()]);
            }
            opt.dispose();
            after.push(await joined(method === 'lora' ? vars : m.params));
          });
        }
        expectClose(after[1], after[0], 1e-4);
        for (const m of models) m.dispose();
      }
    });

    it('generates the same ids greedily', async () => {
      const prompt = fixtureJson(c.name).generate_prompt as number[];
      const want = await generate(whole, prompt, { maxNewTokens: 8, greedy: true });
      expect(await limited(LIMIT, () => generate(chunked, prompt, { maxNewTokens: 8, greedy: true }))).toEqual(want);
    });
  });
}

describe('exports of a chunked model see the whole tensor', () => {
  it('merged export (with a LoRA adapter merged) is byte-identical to the unchunked one', async () => {
    const files = [];
    for (const limit of [null, LIMIT]) {
      const m = await load('model-llama', limit);
      await loadPeftAdapter(m, fixtureSource('lora-llama'));
      files.push((await exportMergedModel(m, null)).get('model.safetensors')!);
      m.dispose();
    }
    expect(files[1].length).toBe(files[0].length);
    expect(Buffer.from(files[1]).equals(Buffer.from(files[0]))).toBe(true);
  });

  it('the full-state file holds the embedding whole, and resumes into a chunked or an unchunked model', async () => {
    const config = resolveTrainConfig({ method: 'full', steps: 1 });
    const lr = 1e-3;
    const seqs = [{ inputIds: [1, 2, 3], labels: [1, 2, 3] }];
    const base = { name: 'fixture', modelType: 'llama', configHash: 'h', numParameters: 0, config: {} };
    const states: Uint8Array[] = [];
    const models = [await load('model-llama', LIMIT), await load('model-llama', null)];
    for (const [i, m] of models.entries()) {
      m.setTrainable(true);
      const trainer = new Trainer(m, { config, train: seqs, val: [], padId: 0, trainables: m.params });
      await limited(i === 0 ? LIMIT : null, async () => {
        const ids = tf.tensor2d([[1, 7, 599, 200, 400]], [1, 5], 'int32');
        const { loss, grads } = lossAndGrads(m, ids, ids, m.params);
        trainer.optimizer.apply(m.params, grads, lr);
        tf.dispose([ids, loss, ...grads.values()]);
      });
      states.push(await encodeState(trainer, { base, datasetHash: 'd', tokenizerHash: 't' }));
      trainer.dispose();
    }
    const [fromChunked, fromWhole] = [await decodeState(states[0], 'a'), await decodeState(states[1], 'b')];
    const emb = 'model.embed_tokens.weight';
    expect(fromChunked.weights.get(emb)!.shape).toEqual([600, 64]);
    expect([...fromChunked.weights.keys()].sort()).toEqual([...fromWhole.weights.keys()].sort());
    expect([...fromChunked.m.keys()].sort()).toEqual([...fromWhole.m.keys()].sort());
    // One AdamW step moves a weight by ≈ lr·g/(|g| + ε): where |g| is near ε, float noise in g (summation
    // order differs between the chunked and the whole head) moves it by a visible fraction of lr, so the
    // two runs are compared in units of the step, not of the weights.
    for (const [name, w] of fromWhole.weights)
      expect(maxAbsDiff(fromChunked.weights.get(name)!.data, w.data), name).toBeLessThanOrEqual(0.05 * lr);

    // The chunked run's state resumes into an unchunked model and the other way round.
    for (const [state, limit] of [
      [fromChunked, null],
      [fromWhole, LIMIT],
    ] as const) {
      const m = await load('model-llama', limit);
      m.setTrainable(true);
      const trainer = new Trainer(m, { config, train: seqs, val: [], padId: 0, trainables: m.params });
      applyState(trainer, state);
      const back = await joined(m.params);
      for (const [name, w] of state.weights) expect(relErr(back.get(name)!, w.data), name).toBe(0);
      const moments = trainer.optimizer.split();
      expect((await joined(moments.m)).get(emb)).toEqual(state.m.get(emb)!.data);
      expect((await joined(moments.v)).get(emb)).toEqual(state.v.get(emb)!.data);
      tf.dispose([...moments.m.values(), ...moments.v.values()]);
      trainer.dispose();
      m.dispose();
    }
    for (const m of models) m.dispose();
  });
});

describe('logits over the limit with a weight under it', () => {
  it('go through the LM head in row blocks, with the same loss and gradients', async () => {
    const limit = 160 * 1024; // the 600 × 64 embedding (150 KiB) fits; logits [80, 600] (188 KiB) do not
    const m = await load('model-llama', limit);
    expect(m.headChunks().length).toBe(1);
    const ids = tf.tensor2d(
      Array.from({ length: 80 }, (_, i) => (i * 37 + 11) % 600),
      [4, 20],
      'int32',
    );
    const ref = lossAndGrads(m, ids, ids, m.params);
    const watch = watchBindings(limit);
    const got = await limited(limit, () => lossAndGrads(m, ids, ids, m.params));
    watch.stop();
    watch.check();
    expect(Math.abs((await got.loss.data())[0] - (await ref.loss.data())[0])).toBeLessThanOrEqual(1e-5 * (await ref.loss.data())[0]);
    expectClose(await joined(got.grads), await joined(ref.grads), 1e-4);
    tf.dispose([ids, ref.loss, got.loss, ...ref.grads.values(), ...got.grads.values()]);
    m.dispose();
  });
});

describe('16-bit frozen vocabulary chunks (LoRA, --frozen-dtype f16)', () => {
  for (const c of CASES) {
    it(`${c.name}: packed row chunks match the packed whole model (loss, LoRA gradients, generation, merged export), also checkpointed`, async () => {
      const ref = await readReference(c.name);
      const ids = tf.tensor2d(ref.get('input_ids')!.i32!, ref.get('input_ids')!.shape as [number, number], 'int32');
      const labels = tf.tensor2d(ref.get('labels')!.i32!, ref.get('labels')!.shape as [number, number], 'int32');
      const prompt = fixtureJson(c.name).generate_prompt as number[];
      const runs: { loss: number; grads: Map<string, Float32Array>; acc: number[]; gen: number[]; merged: Uint8Array }[] = [];
      for (const [limit, f16, checkpoint] of [
        [null, false, false],
        [null, true, false],
        [LIMIT, true, false],
        [LIMIT, true, true], // gradient checkpointing: blocks and the chunked head recomputed in the backward
      ] as const) {
        const m = await load(c.name, limit);
        const adapter = createLora(m, { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', useRslora: false, fanInFanOut: false }, 3);
        for (const l of adapter.layers.values()) l.B.assign(tf.randomNormal(l.B.shape, 0, 0.1, 'float32', 7));
        if (f16) m.packFrozenWeights();
        const embeddingParts = [...m.packed.keys()].filter((n) => n === c.embedding || n.startsWith(`${c.embedding}#`));
        expect(embeddingParts.length).toBe(!f16 ? 0 : limit === null ? 1 : c.rows.length);
        expect([...m.params.keys()].some((n) => n.startsWith(c.embedding))).toBe(!f16);
        expect(m.headChunks().map((w) => w.shape[0])).toEqual(limit === null ? [c.rows.reduce((a, b) => a + b)] : c.rows);
        await limited(limit, async () => {
          const g = lossAndGrads(m, ids, labels, adapter.namedVariables(), { training: true, checkpoint }, true);
          runs.push({
            loss: (await g.loss.data())[0],
            grads: await joined(g.grads),
            acc: Array.from(await g.accuracy!.data()),
            gen: await generate(m, prompt, { maxNewTokens: 6, greedy: true }),
            merged: (await exportMergedModel(m, null)).get('model.safetensors')!,
          });
          tf.dispose([g.loss, g.accuracy!, ...g.grads.values()]);
        });
        m.dispose();
      }
      const [f32, whole, chunked, recomputed] = runs;
      expect(Math.abs(recomputed.loss - chunked.loss) / chunked.loss).toBeLessThanOrEqual(1e-6);
      expect(recomputed.acc).toEqual(chunked.acc);
      expectClose(recomputed.grads, chunked.grads, 1e-5);
      expect(Math.abs(chunked.loss - whole.loss) / whole.loss).toBeLessThanOrEqual(1e-5);
      expect(Math.abs(whole.loss - f32.loss) / f32.loss).toBeLessThanOrEqual(2e-3); // f16-rounded weights
      expectClose(whole.grads, f32.grads, 2e-2);
      expect(chunked.acc).toEqual(whole.acc);
      expectClose(chunked.grads, whole.grads, 1e-4);
      expect(chunked.gen).toEqual(whole.gen);
      expect(Buffer.from(chunked.merged).equals(Buffer.from(whole.merged))).toBe(true);
      tf.dispose([ids, labels]);
    });
  }
});
