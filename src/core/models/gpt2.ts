// GPT-2 (model_type gpt2): learned positions, pre-LayerNorm blocks, Conv1D projections stored [in, out],
// gelu_new MLP, LM head tied to the token embedding. Parameter names are HF's with the `transformer.` prefix.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../hf-config';
import type { ModelFamily, LinearModule } from './family';
import {
  attention,
  attentionKeys,
  dropout,
  eachLayer,
  geluNew,
  layerNorm,
  linear,
  param,
  residual,
  splitHeadsParts,
  view,
  type LinearContext,
} from './layers';
import { embeddingRows, gatherRows, rowChunks } from './vocab-chunks';

function parameterShapes(c: ModelConfig): Map<string, number[]> {
  const d = c.hiddenSize;
  const m = new Map<string, number[]>();
  m.set('transformer.wte.weight', [c.vocabSize, d]);
  m.set('transformer.wpe.weight', [c.maxPositions, d]);
  for (let i = 0; i < c.numLayers; i++) {
    const h = `transformer.h.${i}`;
    m.set(`${h}.ln_1.weight`, [d]).set(`${h}.ln_1.bias`, [d]);
    m.set(`${h}.attn.c_attn.weight`, [d, 3 * d]).set(`${h}.attn.c_attn.bias`, [3 * d]);
    m.set(`${h}.attn.c_proj.weight`, [d, d]).set(`${h}.attn.c_proj.bias`, [d]);
    m.set(`${h}.ln_2.weight`, [d]).set(`${h}.ln_2.bias`, [d]);
    m.set(`${h}.mlp.c_fc.weight`, [d, c.intermediateSize]).set(`${h}.mlp.c_fc.bias`, [c.intermediateSize]);
    m.set(`${h}.mlp.c_proj.weight`, [c.intermediateSize, d]).set(`${h}.mlp.c_proj.bias`, [d]);
  }
  m.set('transformer.ln_f.weight', [d]).set('transformer.ln_f.bias', [d]);
  if (!c.tieWordEmbeddings) m.set('lm_head.weight', [c.vocabSize, d]);
  return m;
}

function linearModules(c: ModelConfig): LinearModule[] {
  const d = c.hiddenSize;
  const out: LinearModule[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const h = `transformer.h.${i}`;
    out.push({ path: `${h}.attn.c_attn`, inFeatures: d, outFeatures: 3 * d, conv1d: true });
    out.push({ path: `${h}.attn.c_proj`, inFeatures: d, outFeatures: d, conv1d: true });
    out.push({ path: `${h}.mlp.c_fc`, inFeatures: d, outFeatures: c.intermediateSize, conv1d: true });
    out.push({ path: `${h}.mlp.c_proj`, inFeatures: c.intermediateSize, outFeatures: d, conv1d: true });
  }
  return out;
}

/** HF checkpoints come with or without the `transformer.` prefix; attention buffers are not parameters. */
function canonicalName(name: string): string | null {
  if (/\.attn\.(masked_)?bias$/.test(name)) return null;
  if (name.startsWith('transformer.') || name.startsWith('lm_head.')) return name;
  return `transformer.${name}`;
}

/** Block i: x [B, T, d] → [B, T, d]; keys [B|1, S] (the attention mask's). */
function block(c: ModelConfig, ctx: LinearContext, i: number, x: tf.Tensor3D, [keys]: [tf.Tensor2D]): tf.Tensor3D {
  const [b, t, d] = x.shape;
  const nh = c.numHeads;
  const hd = c.headDim;
  const { opts } = ctx;
  const h = `transformer.h.${i}`;
  // attention: ln_1 → c_attn → split q,k,v → attend → c_proj
  const a = view<tf.Tensor2D>(layerNorm(x, param(ctx, `${h}.ln_1.weight`), param(ctx, `${h}.ln_1.bias`), c.normEps), [b * t, d]);
  const qkv = linear(ctx, `${h}.attn.c_attn`, a, true, true); // [B·T, 3d]
  let [qh, kh, vh] = splitHeadsParts(qkv, b, t, nh, hd, 3); // [B, H, T, D] each
  if (opts.cache) [kh, vh] = opts.cache.append(i, kh, vh);
  const y = attention(qh, kh, vh, keys, c.dropout.attention, opts); // [B, T, d]
  const proj = linear(ctx, `${h}.attn.c_proj`, view(y, [b * t, d]), true, true);
  x = residual(x, dropout(view(proj, [b, t, d]), c.dropout.residual, opts));
  // MLP: ln_2 → c_fc → gelu_new → c_proj
  const m = view<tf.Tensor2D>(layerNorm(x, param(ctx, `${h}.ln_2.weight`), param(ctx, `${h}.ln_2.bias`), c.normEps), [b * t, d]);
  const hidden = geluNew(linear(ctx, `${h}.mlp.c_fc`, m, true, true)) as tf.Tensor2D; // [B·T, 4d]
  const down = linear(ctx, `${h}.mlp.c_proj`, hidden, true, true);
  return residual(x, dropout(view(down, [b, t, d]), c.dropout.residual, opts));
}

/** ids [B, T] → the final hidden states [B·T, d]. */
function hidden(c: ModelConfig, ctx: LinearContext, ids: tf.Tensor2D): tf.Tensor2D {
  const [b, t] = ids.shape;
  const d = c.hiddenSize;
  const { opts } = ctx;
  const past = opts.cache?.length ?? 0;

  const positions = tf.range(past, past + t, 1, 'int32');
  const tokEmb = gatherRows(rowChunks(ctx.params, 'transformer.wte.weight', ctx.packed), ids); // [B, T, d]
  const posEmb = embeddingRows(param(ctx, 'transformer.wpe.weight') as tf.Tensor2D, positions); // [T, d]
  let x = dropout(tf.add(tokEmb, posEmb), c.dropout.embedding, opts) as tf.Tensor3D;
  const keys = attentionKeys(t, past, opts.attentionMask);

  for (let i = 0; i < c.numLayers; i++)
    x = eachLayer(ctx, `transformer.h.${i}.`, x, [keys] as [tf.Tensor2D], (lctx, xi, s) => block(c, lctx, i, xi, s));
  if (opts.cache) opts.cache.length = past + t;

  return view(layerNorm(x, param(ctx, 'transformer.ln_f.weight'), param(ctx, 'transformer.ln_f.bias'), c.normEps), [b * t, d]);
}

export const gpt2: ModelFamily = {
  parameterShapes,
  linearModules,
  canonicalName,
  hidden,
  headName: (c) => (c.tieWordEmbeddings ? 'transformer.wte.weight' : 'lm_head.weight'),
  isNormOrBias: (name) => name.endsWith('.bias') || /\.ln_(1|2|f)\.weight$/.test(name),
  embeddingName: 'transformer.wte.weight',
};
