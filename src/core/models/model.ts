// A loaded causal language model: config + parameters (tf.Variables keyed by HF name) + optional LoRA
// adapter, over whichever family file computes it. Loads HF folders (config.json + safetensors, sharded
// or not) and checks names, shapes and device limits before allocating anything.
import * as tf from '@tensorflow/tfjs';
import { parseModelConfig, type ModelConfig } from '../hf-config';
import { ConfigError } from '../errors';
import { readJson, type FileSource } from '../files';
import { openModelWeights } from '../safetensors';
import { checkBindingLimits } from '../backend';
import type { LoraAdapter } from '../lora';
import type { LinearModule, ModelFamily } from './family';
import type { ForwardOptions } from './layers';
import { gpt2 } from './gpt2';
import { llama } from './llama';

export function familyOf(c: ModelConfig): ModelFamily {
  return c.modelType === 'gpt2' ? gpt2 : llama;
}

export class CausalLM {
  readonly config: ModelConfig;
  readonly family: ModelFamily;
  /** Base parameters by canonical HF name. Frozen (trainable = false) while a LoRA adapter trains. */
  readonly params: Map<string, tf.Variable>;
  adapter: LoraAdapter | null = null;
  /** Canonical name → the name the loaded checkpoint used (GPT-2 files may lack `transformer.`). */
  readonly sourceNames = new Map<string, string>();

  constructor(config: ModelConfig, params: Map<string, tf.Variable>) {
    this.config = config;
    this.family = familyOf(config);
    this.params = params;
  }

  /** ids [B, T] int32 → logits [B, T, V]. Call inside tf.tidy (or dispose the result). */
  forward(ids: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor3D {
    return this.family.forward(this.config, { params: this.params, adapter: this.adapter, opts }, ids);
  }

  linearModules(): LinearModule[] {
    return this.family.linearModules(this.config);
  }

  parameterShapes(): Map<string, number[]> {
    return this.family.parameterShapes(this.config);
  }

  setTrainable(trainable: boolean): void {
    for (const v of this.params.values()) v.trainable = trainable;
  }

  numParameters(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size;
    return n;
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
    this.adapter?.dispose();
    this.adapter = null;
  }
}

/** Builds a model from weights given by canonical or checkpoint names; every parameter must be present. */
export function createModel(config: ModelConfig, weights: Map<string, Float32Array>, label = 'model'): CausalLM {
  const family = familyOf(config);
  const shapes = family.parameterShapes(config);
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of shapes) {
    const data = weights.get(name);
    if (!data) throw new ConfigError(`${label}: missing tensor ${name}`);
    params.set(name, tf.variable(tf.tensor(data, shape), true));
  }
  return new CausalLM(config, params);
}

/** A model with random weights (benchmarks, tests): N(0, 0.02) matrices, ones for norm weights, zero biases. */
export function createRandomModel(config: ModelConfig, seed = 0): CausalLM {
  const family = familyOf(config);
  const params = new Map<string, tf.Variable>();
  let i = 0;
  for (const [name, shape] of family.parameterShapes(config)) {
    const init = tf.tidy(() =>
      shape.length === 1
        ? name.endsWith('.bias')
          ? tf.zeros(shape)
          : tf.ones(shape)
        : tf.randomNormal(shape, 0, 0.02, 'float32', seed + i++),
    );
    params.set(name, tf.variable(init, true));
    init.dispose();
  }
  return new CausalLM(config, params);
}

/**
 * Loads a Hugging Face model folder: config.json and model.safetensors (or a sharded index). Unknown
 * tensors, missing tensors and wrong shapes are errors naming the tensor; a tensor too large for one
 * WebGPU binding is refused before any upload.
 */
export async function loadModel(source: FileSource): Promise<CausalLM> {
  if (!source.has('config.json')) throw new ConfigError(`${source.label}: no config.json`);
  const config = parseModelConfig(await readJson(source, 'config.json'), `${source.label}/config.json`);
  const family = familyOf(config);
  const shapes = family.parameterShapes(config);
  const weightSet = await openModelWeights(source);
  const byCanonical = new Map<string, string>();
  for (const name of weightSet.names()) {
    const canon = family.canonicalName(name);
    if (canon === null) continue;
    // A tied head may still be present in the file: it is the embedding; ignore it.
    if (canon === 'lm_head.weight' && config.tieWordEmbeddings) continue;
    if (!shapes.has(canon)) throw new ConfigError(`${source.label}: unexpected tensor ${name} for a ${config.modelType} model`);
    const entry = weightSet.get(name)!;
    const want = shapes.get(canon)!;
    if (entry.shape.length !== want.length || entry.shape.some((s, i) => s !== want[i])) {
      throw new ConfigError(`${source.label}: tensor ${name} has shape [${entry.shape.join(', ')}], expected [${want.join(', ')}]`);
    }
    byCanonical.set(canon, name);
  }
  for (const name of shapes.keys()) {
    if (!byCanonical.has(name)) throw new ConfigError(`${source.label}: missing tensor ${name}`);
  }
  checkBindingLimits([...shapes].map(([name, shape]) => ({ name, shape })));
  const weights = new Map<string, Float32Array>();
  for (const [canon, name] of byCanonical) weights.set(canon, await weightSet.readF32(name));
  const model = createModel(config, weights, source.label);
  for (const [canon, name] of byCanonical) model.sourceNames.set(canon, name);
  return model;
}
