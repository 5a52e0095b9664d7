// A loaded causal language model: config + parameters (tf.Variables keyed by HF name) + optional LoRA
// adapter, over whichever family file computes it. Loads HF folders (config.json + safetensors, sharded
// or not) and checks names, shapes and device limits before allocating anything.
import * as tf from '@tensorflow/tfjs';
import { parseModelConfig, type ModelConfig } from '../hf-config';
import { ConfigError } from '../errors';
import { readJson, type FileSource } from '../files';
import { openModelWeights } from '../safetensors';
import { checkBindingLimits, maxBindingBytes } from '../backend';
import type { LoraAdapter } from '../lora';
import type { LinearModule, ModelFamily } from './family';
import type { ForwardOptions } from './layers';
import { packWeight, unpackWeight, type PackedFormat, type PackedWeight } from '../kernels';
import { addParam, chunkRowCounts, chunkName, headMatMul, parseChunkName, rowChunks, type RowChunk } from './vocab-chunks';
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
  /**
   * Frozen base weights stored packed (frozenDtype 'f16' or 'int8', under LoRA), by canonical HF name. A weight
   * is either here or in `params`, never both: packing frees the f32 variable.
   */
  readonly packed = new Map<string, PackedWeight>();
  /** Canonical name → the name the loaded checkpoint used (GPT-2 files may lack `transformer.`). */
  readonly sourceNames = new Map<string, string>();

  constructor(config: ModelConfig, params: Map<string, tf.Variable>) {
    this.config = config;
    this.family = familyOf(config);
    this.params = params;
  }

  /** ids [B, T] int32 → logits [B, T, V]. Call inside tf.tidy (or dispose the result). */
  forward(ids: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor3D {
    const [b, t] = ids.shape;
    return this.logits(this.hidden(ids, opts)).reshape([b, t, this.config.vocabSize]);
  }

  /** ids [B, T] int32 → the LM head's input [B·T, d] (after the final norm). */
  hidden(ids: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor2D {
    return this.family.hidden(this.config, { params: this.params, packed: this.packed, adapter: this.adapter, opts }, ids);
  }

  /** The LM head's weight [V, d] as row chunks of the vocabulary (one unless it exceeds a binding), f32 or packed. */
  headChunks(): RowChunk[] {
    return rowChunks(this.params, this.family.headName(this.config), this.packed);
  }

  /** hidden [N, d] → logits [N, V]; a chunked head's logits are joined, so keep N small (generation). */
  logits(hidden: tf.Tensor2D): tf.Tensor2D {
    const chunks = this.headChunks();
    if (chunks.length === 1) return headMatMul(hidden, chunks[0]);
    return tf.tidy(() =>
      tf.concat(
        chunks.map((w) => headMatMul(hidden, w)),
        1,
      ),
    ) as tf.Tensor2D;
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
    for (const p of this.packed.values()) n += p.shape.reduce((a, b) => a * b, 1);
    return n;
  }

  /** Every base weight's name, packed or not, in parameterShapes order; a weight kept in row chunks as `name#k`. */
  weightNames(): string[] {
    return [...this.parameterShapes().keys()].flatMap((n) =>
      this.params.has(n) || this.packed.has(n) ? [n] : rowChunks(this.params, n, this.packed).map((_, k) => chunkName(n, k)),
    );
  }

  /**
   * The f32 value of base weight `name`: the variable itself, or a packed weight decoded into a new tensor.
   * Call inside tf.tidy (the decoded copy is then freed with it).
   */
  weightValue(name: string): tf.Tensor {
    const p = this.packed.get(name);
    if (p) return unpackWeight(p);
    const v = this.params.get(name);
    if (!v) throw new Error(`missing parameter ${name}`);
    return v;
  }

  /**
   * Stores every linear layer's weight (the attention and MLP projections), the token embedding and an
   * untied LM head (each row chunk of them) as f16 bits, or int8 with per-row scales, and frees the f32
   * variables. The base must be frozen (LoRA). Norms, biases and GPT-2's position embedding stay f32.
   */
  packFrozenWeights(format: PackedFormat = 'f16'): void {
    const names = [
      ...this.linearModules().map((m) => `${m.path}.weight`),
      ...[...this.params.keys()].filter((n) => isVocabWeight(this.family, parseChunkName(n)?.base ?? n)),
    ];
    for (const name of names) {
      const v = this.params.get(name);
      if (!v) continue;
      if (v.trainable) throw new ConfigError(`${format} frozen weights need a frozen base (LoRA): ${name} is trained`);
    }
    for (const name of names) {
      const v = this.params.get(name);
      if (!v) continue;
      this.packed.set(name, packWeight(v, format));
      this.params.delete(name);
      v.dispose();
    }
  }

  /** Back to f32 variables (holding the rounded values), e.g. before merging an adapter in place. */
  unpackFrozenWeights(): void {
    for (const [name, p] of this.packed) {
      const t = unpackWeight(p);
      this.params.set(name, tf.variable(t, false));
      t.dispose();
      p.bits.dispose();
    }
    this.packed.clear();
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
    for (const p of this.packed.values()) p.bits.dispose();
    this.packed.clear();
    this.adapter?.dispose();
    this.adapter = null;
  }
}

/** Builds a model from weights given by canonical or checkpoint names; every parameter must be present. */
export function createModel(config: ModelConfig, weights: Map<string, Float32Array>, label = 'model'): CausalLM {
  const family = familyOf(config);
  const shapes = family.parameterShapes(config);
  const params = new Map<string, tf.Variable>();
  const limit = maxBindingBytes();
  for (const [name, shape] of shapes) {
    const data = weights.get(name);
    if (!data) throw new ConfigError(`${label}: missing tensor ${name}`);
    // Vocabulary-sized weights over the binding limit are kept as row chunks (see vocab-chunks.ts).
    const row = shape.slice(1).reduce((a, b) => a * b, 1);
    addParam(params, name, shape, isVocabWeight(family, name), limit, (start, rows) =>
      tf.tensor(data.subarray(start * row, (start + rows) * row), [rows, ...shape.slice(1)]),
    );
  }
  return new CausalLM(config, params);
}

/** The weights with one row per vocabulary entry: the token embedding and an untied LM head. */
function isVocabWeight(family: ModelFamily, name: string): boolean {
  return name === family.embeddingName || name === 'lm_head.weight';
}

/** The tensors a model of `config` allocates, vocabulary weights as the chunks they would be split into. */
function allocatedShapes(family: ModelFamily, shapes: Map<string, number[]>): { name: string; shape: number[] }[] {
  const limit = maxBindingBytes();
  return [...shapes].flatMap(([name, shape]) => {
    if (!isVocabWeight(family, name)) return [{ name, shape }];
    const counts = chunkRowCounts(shape[0], 4 * shape.slice(1).reduce((a, b) => a * b, 1), limit);
    return counts.map((rows, k) => ({ name: counts.length > 1 ? chunkName(name, k) : name, shape: [rows, ...shape.slice(1)] }));
  });
}

/** A model with random weights (benchmarks, tests): N(0, 0.02) matrices, ones for norm weights, zero biases. */
export function createRandomModel(config: ModelConfig, seed = 0): CausalLM {
  const family = familyOf(config);
  const params = new Map<string, tf.Variable>();
  let i = 0;
  const limit = maxBindingBytes();
  for (const [name, shape] of family.parameterShapes(config)) {
    if (isVocabWeight(family, name)) {
      // Drawn chunk by chunk (never whole): a split weight's chunks after the first get seeds of their own.
      const s = seed + i++;
      let k = 0;
      addParam(params, name, shape, true, limit, (_, rows) =>
        tf.randomNormal([rows, ...shape.slice(1)], 0, 0.02, 'float32', k++ === 0 ? s : s * 1_000_003 + k),
      );
      continue;
    }
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

/** A model folder's config.json, parsed and checked (no weights read). */
export async function readModelConfig(source: FileSource): Promise<ModelConfig> {
  if (!source.has('config.json')) throw new ConfigError(`${source.label}: no config.json`);
  return parseModelConfig(await readJson(source, 'config.json'), `${source.label}/config.json`);
}

/**
 * Loads a Hugging Face model folder: config.json and model.safetensors (or a sharded index). Unknown
 * tensors, missing tensors and wrong shapes are errors naming the tensor; a tensor too large for one
 * WebGPU binding is refused before any upload.
 */
export async function loadModel(source: FileSource): Promise<CausalLM> {
  const config = await readModelConfig(source);
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
  checkBindingLimits(allocatedShapes(family, shapes));
  const weights = new Map<string, Float32Array>();
  for (const [canon, name] of byCanonical) weights.set(canon, await weightSet.readF32(name));
  const model = createModel(config, weights, source.label);
  for (const [canon, name] of byCanonical) model.sourceNames.set(canon, name);
  return model;
}
