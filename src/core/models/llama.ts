// Llama (SmolLM, SmolLM2, TinyLlama) and Qwen2 / Qwen2.5, which is Llama plus q/k/v biases: RMSNorm,
// RoPE (rotate-half), grouped-query attention, SwiGLU MLP; Linear weights stored [out, in].
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../hf-config';
import type { ModelFamily, LinearModule } from './family';
import {
  attention,
  attentionKeys,
  eachLayer,
  linear,
  param,
  residual,
  rmsNorm,
  ropeTables,
  siluGate,
  splitHeads,
  splitHeadsRope,
  view,
  type LinearContext,
} from './layers';
import { gatherRows, rowChunks } from './vocab-chunks';

function parameterShapes(c: ModelConfig): Map<string, number[]> {
  const d = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const m = new Map<string, number[]>();
  m.set('model.embed_tokens.weight', [c.vocabSize, d]);
  for (let i = 0; i < c.numLayers; i++) {
    const l = `model.layers.${i}`;
    m.set(`${l}.input_layernorm.weight`, [d]);
    m.set(`${l}.self_attn.q_proj.weight`, [q, d]);
    m.set(`${l}.self_attn.k_proj.weight`, [kv, d]);
    m.set(`${l}.self_attn.v_proj.weight`, [kv, d]);
    m.set(`${l}.self_attn.o_proj.weight`, [d, q]);
    if (c.qkvBias) m.set(`${l}.self_attn.q_proj.bias`, [q]).set(`${l}.self_attn.k_proj.bias`, [kv]).set(`${l}.self_attn.v_proj.bias`, [kv]);
    if (c.oBias) m.set(`${l}.self_attn.o_proj.bias`, [d]);
    m.set(`${l}.post_attention_layernorm.weight`, [d]);
    m.set(`${l}.mlp.gate_proj.weight`, [c.intermediateSize, d]);
    m.set(`${l}.mlp.up_proj.weight`, [c.intermediateSize, d]);
    m.set(`${l}.mlp.down_proj.weight`, [d, c.intermediateSize]);
    if (c.mlpBias)
      m.set(`${l}.mlp.gate_proj.bias`, [c.intermediateSize])
        .set(`${l}.mlp.up_proj.bias`, [c.intermediateSize])
        .set(`${l}.mlp.down_proj.bias`, [d]);
  }
  m.set('model.norm.weight', [d]);
  if (!c.tieWordEmbeddings) m.set('lm_head.weight', [c.vocabSize, d]);
  return m;
}

function linearModules(c: ModelConfig): LinearModule[] {
  const d = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const out: LinearModule[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const l = `model.layers.${i}`;
    out.push({ path: `${l}.self_attn.q_proj`, inFeatures: d, outFeatures: q, conv1d: false });
    out.push({ path: `${l}.self_attn.k_proj`, inFeatures: d, outFeatures: kv, conv1d: false });
    out.push({ path: `${l}.self_attn.v_proj`, inFeatures: d, outFeatures: kv, conv1d: false });
    out.push({ path: `${l}.self_attn.o_proj`, inFeatures: q, outFeatures: d, conv1d: false });
    out.push({ path: `${l}.mlp.gate_proj`, inFeatures: d, outFeatures: c.intermediateSize, conv1d: false });
    out.push({ path: `${l}.mlp.up_proj`, inFeatures: d, outFeatures: c.intermediateSize, conv1d: false });
    out.push({ path: `${l}.mlp.down_proj`, inFeatures: c.intermediateSize, outFeatures: d, conv1d: false });
  }
  return out;
}

/** Rotary buffers are not parameters. */
function canonicalName(name: string): string | null {
  return name.endsWith('rotary_emb.inv_freq') ? null : name;
}

/** Decoder layer i: x [B, T, d] → [B, T, d]; cos/sin [T, D], keys [B|1, S] (the attention mask's). */
function layer(
  c: ModelConfig,
  ctx: LinearContext,
  i: number,
  x: tf.Tensor3D,
  [cos, sin, keys]: [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D],
): tf.Tensor3D {
  const [b, t, d] = x.shape;
  const { numHeads: nh, numKvHeads: nkv, headDim: hd } = c;
  const { opts } = ctx;
  const l = `model.layers.${i}`;
  // attention: RMSNorm → q,k,v → RoPE on q,k → GQA attend → o_proj
  const a = view<tf.Tensor2D>(rmsNorm(x, param(ctx, `${l}.input_layernorm.weight`), c.normEps), [b * t, d]);
  const q = splitHeadsRope(linear(ctx, `${l}.self_attn.q_proj`, a, false, c.qkvBias), b, t, nh, hd, cos, sin); // [B, H, T, D]
  let k = splitHeadsRope(linear(ctx, `${l}.self_attn.k_proj`, a, false, c.qkvBias), b, t, nkv, hd, cos, sin); // [B, K, T, D]
  let v = splitHeads(linear(ctx, `${l}.self_attn.v_proj`, a, false, c.qkvBias), b, t, nkv, hd);
  if (opts.cache) [k, v] = opts.cache.append(i, k, v);
  const y = attention(q, k, v, keys, c.dropout.attention, opts); // [B, T, H·D]
  const o = linear(ctx, `${l}.self_attn.o_proj`, view(y, [b * t, nh * hd]), false, c.oBias);
  x = residual(x, view(o, [b, t, d]));
  // MLP: RMSNorm → down(silu(gate(x)) · up(x))
  const m = view<tf.Tensor2D>(rmsNorm(x, param(ctx, `${l}.post_attention_layernorm.weight`), c.normEps), [b * t, d]);
  const gate = linear(ctx, `${l}.mlp.gate_proj`, m, false, c.mlpBias);
  const up = linear(ctx, `${l}.mlp.up_proj`, m, false, c.mlpBias);
  const down = linear(ctx, `${l}.mlp.down_proj`, siluGate(gate, up) as tf.Tensor2D, false, c.mlpBias);
  return residual(x, view(down, [b, t, d]));
}

/** ids [B, T] → the final hidden states [B·T, d]. */
function hidden(c: ModelConfig, ctx: LinearContext, ids: tf.Tensor2D): tf.Tensor2D {
  const [b, t] = ids.shape;
  const d = c.hiddenSize;
  const { opts } = ctx;
  const past = opts.cache?.length ?? 0;

  let x = gatherRows(rowChunks(ctx.params, 'model.embed_tokens.weight', ctx.packed), ids) as tf.Tensor3D; // [B, T, d]
  const { cos, sin } = ropeTables(past, t, c.headDim, c.ropeTheta); // [T, D]
  const shared: [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D] = [cos, sin, attentionKeys(t, past, opts.attentionMask)];
  for (let i = 0; i < c.numLayers; i++) x = eachLayer(ctx, `model.layers.${i}.`, x, shared, (lctx, xi, s) => layer(c, lctx, i, xi, s));
  if (opts.cache) opts.cache.length = past + t;

  return view(rmsNorm(x, param(ctx, 'model.norm.weight'), c.normEps), [b * t, d]);
}

export const llama: ModelFamily = {
  parameterShapes,
  linearModules,
  canonicalName,
  hidden,
  headName: (c) => (c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'),
  isNormOrBias: (name) => name.endsWith('.bias') || name.endsWith('norm.weight'),
  embeddingName: 'model.embed_tokens.weight',
};
