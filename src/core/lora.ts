// LoRA adapters as PEFT defines them: y = base(x) + dropout(x) Aᵀ Bᵀ · s, with s = alpha / r (or
// alpha / √r with rsLoRA). Creates fresh adapters (A Kaiming-uniform, B zero), loads PEFT adapter folders,
// merges into the base weights, and names tensors exactly as PEFT saves them.
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from './errors';
import { readJson, type FileSource } from './files';
import { openSafetensors } from './safetensors';
import type { CausalLM } from './models/model';
import type { LinearModule } from './models/family';
import type { ModelType } from './hf-config';

export interface LoraConfig {
  r: number;
  alpha: number;
  dropout: number;
  /** Module-name suffixes or full paths, 'all-linear', or (as PEFT) a regex string matched against the whole path. */
  targetModules: string[] | string;
  useRslora: boolean;
  /** GPT-2 Conv1D weights are [in, out]. */
  fanInFanOut: boolean;
  /** Per-module overrides, as PEFT's rank_pattern / alpha_pattern (key: suffix or regex). */
  rankPattern?: Record<string, number>;
  alphaPattern?: Record<string, number>;
}

export interface LoraLayer {
  module: LinearModule;
  /** [r, in] */
  A: tf.Variable;
  /** [out, r] */
  B: tf.Variable;
  scale: number;
}

/** Target presets per architecture; `all-linear` = every linear layer but the LM head. */
export const TARGET_PRESETS: Record<ModelType, Record<string, string[] | 'all-linear'>> = {
  gpt2: { attention: ['c_attn'], 'attention+mlp': ['c_attn', 'c_proj', 'c_fc'], 'all-linear': 'all-linear' },
  llama: {
    attention: ['q_proj', 'v_proj'],
    'attention+mlp': ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    'all-linear': 'all-linear',
  },
  qwen2: {
    attention: ['q_proj', 'v_proj'],
    'attention+mlp': ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    'all-linear': 'all-linear',
  },
};

export function loraScale(alpha: number, r: number, rslora: boolean): number {
  return rslora ? alpha / Math.sqrt(r) : alpha / r;
}

function fullMatch(pattern: string, path: string): boolean {
  try {
    return new RegExp(`^(?:${pattern})$`).test(path);
  } catch {
    throw new ConfigError(`target_modules: invalid regular expression ${pattern}`);
  }
}

/** PEFT's rule: a listed name matches a module path it equals or is a `.`-suffix of. */
export function matchesTarget(targets: string[] | string, path: string): boolean {
  if (targets === 'all-linear') return true;
  if (typeof targets === 'string') return fullMatch(targets, path);
  return targets.some((t) => path === t || path.endsWith(`.${t}`));
}

function patternValue(pattern: Record<string, number> | undefined, path: string): number | undefined {
  if (!pattern) return undefined;
  for (const [key, value] of Object.entries(pattern)) {
    if (path === key || path.endsWith(`.${key}`) || fullMatch(`(.*\\.)?${key}`, path)) return value;
  }
  return undefined;
}

export class LoraAdapter {
  readonly config: LoraConfig;
  readonly layers = new Map<string, LoraLayer>();
  constructor(config: LoraConfig) {
    this.config = config;
  }
  variables(): tf.Variable[] {
    const out: tf.Variable[] = [];
    for (const l of this.layers.values()) out.push(l.A, l.B);
    return out;
  }
  /** Trainable tensors by their PEFT names. */
  namedVariables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [path, l] of this.layers) {
      out.set(peftTensorName(path, 'A'), l.A);
      out.set(peftTensorName(path, 'B'), l.B);
    }
    return out;
  }
  numParameters(): number {
    let n = 0;
    for (const l of this.layers.values()) n += l.A.size + l.B.size;
    return n;
  }
  dispose(): void {
    for (const v of this.variables()) v.dispose();
    this.layers.clear();
  }
}

export function peftTensorName(modulePath: string, which: 'A' | 'B'): string {
  return `base_model.model.${modulePath}.lora_${which}.weight`;
}

function targetedModules(model: CausalLM, config: LoraConfig): LinearModule[] {
  const modules = model.linearModules().filter((m) => matchesTarget(config.targetModules, m.path));
  if (modules.length === 0) {
    const names = [...new Set(model.linearModules().map((m) => m.path.split('.').pop()))].join(', ');
    throw new ConfigError(
      `LoRA target_modules ${JSON.stringify(config.targetModules)} match no layer of this ${model.config.modelType} model (its linear layers: ${names})`,
    );
  }
  return modules;
}

/**
 * A trainable variable with t's values; t is freed (the variable holds its own reference to the data, so
 * an undisposed t would outlive the adapter).
 */
function trainedVariable(t: tf.Tensor): tf.Variable {
  const v = tf.variable(t, true);
  t.dispose();
  return v;
}

/** A fresh adapter on `model`: A ~ U(-1/√in, 1/√in) (Kaiming-uniform, a=√5, as PEFT), B = 0. Freezes the base. */
export function createLora(model: CausalLM, config: LoraConfig, seed = 0): LoraAdapter {
  if (!Number.isInteger(config.r) || config.r <= 0) throw new ConfigError(`LoRA r must be a positive integer, got ${config.r}`);
  if (!(config.dropout >= 0 && config.dropout < 1)) throw new ConfigError(`LoRA dropout must be in [0, 1), got ${config.dropout}`);
  const adapter = new LoraAdapter(config);
  let i = 0;
  for (const m of targetedModules(model, config)) {
    const r = patternValue(config.rankPattern, m.path) ?? config.r;
    const alpha = patternValue(config.alphaPattern, m.path) ?? config.alpha;
    const bound = 1 / Math.sqrt(m.inFeatures);
    const A = trainedVariable(tf.randomUniform([r, m.inFeatures], -bound, bound, 'float32', seed * 100003 + i++));
    const B = trainedVariable(tf.zeros([m.outFeatures, r]));
    adapter.layers.set(m.path, { module: m, A, B, scale: loraScale(alpha, r, config.useRslora) });
  }
  model.setTrainable(false);
  model.adapter?.dispose();
  model.adapter = adapter;
  return adapter;
}

function num(v: unknown, name: string, file: string, fallback?: number): number {
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`${file}: missing field ${name}`);
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(`${file}: field ${name} must be a number`);
  return v;
}

/** Reads PEFT's adapter_config.json (extra keys ignored; unsupported variants refused by name). */
export function parseAdapterConfig(json: unknown, file = 'adapter_config.json'): LoraConfig {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new ConfigError(`${file}: not a JSON object`);
  const raw = json as Record<string, unknown>;
  if (raw.peft_type !== undefined && raw.peft_type !== 'LORA')
    throw new ConfigError(`${file}: peft_type ${String(raw.peft_type)} is not supported (only LORA)`);
  if (raw.use_dora === true) throw new ConfigError(`${file}: use_dora is not supported`);
  if (Array.isArray(raw.modules_to_save) && raw.modules_to_save.length > 0)
    throw new ConfigError(`${file}: modules_to_save is not supported`);
  if (raw.bias !== undefined && raw.bias !== 'none')
    throw new ConfigError(`${file}: bias ${String(raw.bias)} is not supported (only "none")`);
  const targets = raw.target_modules;
  if (!(typeof targets === 'string' || (Array.isArray(targets) && targets.every((t) => typeof t === 'string')))) {
    throw new ConfigError(`${file}: target_modules must be a list of names or a string`);
  }
  const numbers = (v: unknown): Record<string, number> | undefined =>
    v && typeof v === 'object' && Object.keys(v).length > 0 ? (v as Record<string, number>) : undefined;
  return {
    r: num(raw.r, 'r', file),
    alpha: num(raw.lora_alpha, 'lora_alpha', file, 8),
    dropout: num(raw.lora_dropout, 'lora_dropout', file, 0),
    targetModules: targets as string[] | string,
    useRslora: raw.use_rslora === true,
    fanInFanOut: raw.fan_in_fan_out === true,
    rankPattern: numbers(raw.rank_pattern),
    alphaPattern: numbers(raw.alpha_pattern),
  };
}

/** LoRA tensors by PEFT name, wherever they are kept (an adapter file, a full-state checkpoint). */
export interface LoraTensors {
  names: string[];
  shape(name: string): number[];
  read(name: string): Promise<Float32Array>;
}

/**
 * Installs an adapter on `model` (which it freezes) from PEFT-named lora_A / lora_B tensors; every tensor
 * is checked against the model's linear layers. `file` names the source in messages.
 */
export async function adapterFromTensors(model: CausalLM, config: LoraConfig, tensors: LoraTensors, file: string): Promise<LoraAdapter> {
  const modules = new Map(model.linearModules().map((m) => [m.path, m]));
  const adapter = new LoraAdapter(config);
  const found = new Map<string, { A?: string; B?: string }>();
  for (const name of tensors.names) {
    const m = /^base_model\.model\.(.+)\.lora_(A|B)(?:\.default)?\.weight$/.exec(name);
    if (!m) throw new ConfigError(`${file}: unexpected tensor ${name} (only lora_A / lora_B weights are supported)`);
    let path = m[1];
    if (!modules.has(path) && modules.has(`transformer.${path}`)) path = `transformer.${path}`;
    if (!modules.has(path))
      throw new ConfigError(`${file}: tensor ${name} targets ${path}, which is not a linear layer of this ${model.config.modelType} model`);
    const slot = found.get(path) ?? {};
    slot[m[2] as 'A' | 'B'] = name;
    found.set(path, slot);
  }
  if (found.size === 0) throw new ConfigError(`${file}: no LoRA tensors`);
  for (const [path, names] of found) {
    if (!names.A || !names.B) throw new ConfigError(`${file}: ${path} has lora_${names.A ? 'A' : 'B'} but not lora_${names.A ? 'B' : 'A'}`);
    const mod = modules.get(path)!;
    const a = tensors.shape(names.A);
    const b = tensors.shape(names.B);
    const r = a[0];
    if (a.length !== 2 || a[1] !== mod.inFeatures)
      throw new ConfigError(`${file}: ${names.A} has shape [${a}], expected [r, ${mod.inFeatures}]`);
    if (b.length !== 2 || b[0] !== mod.outFeatures || b[1] !== r)
      throw new ConfigError(`${file}: ${names.B} has shape [${b}], expected [${mod.outFeatures}, ${r}]`);
    const alpha = patternValue(config.alphaPattern, path) ?? config.alpha;
    adapter.layers.set(path, {
      module: mod,
      A: trainedVariable(tf.tensor2d(await tensors.read(names.A), [r, mod.inFeatures])),
      B: trainedVariable(tf.tensor2d(await tensors.read(names.B), [mod.outFeatures, r])),
      scale: loraScale(alpha, r, config.useRslora),
    });
  }
  model.setTrainable(false);
  model.adapter?.dispose();
  model.adapter = adapter;
  return adapter;
}

/** Loads a PEFT adapter folder onto `model` (which it freezes); every tensor is checked against the model. */
export async function loadPeftAdapter(model: CausalLM, source: FileSource): Promise<LoraAdapter> {
  for (const f of ['adapter_config.json', 'adapter_model.safetensors']) {
    if (!source.has(f)) throw new ConfigError(`${source.label}: no ${f}`);
  }
  const file = `${source.label}/adapter_model.safetensors`;
  const config = parseAdapterConfig(await readJson(source, 'adapter_config.json'), `${source.label}/adapter_config.json`);
  const reader = await openSafetensors(await source.blob('adapter_model.safetensors'), file);
  return adapterFromTensors(
    model,
    config,
    { names: reader.entries.map((e) => e.name), shape: (n) => reader.get(n)!.shape, read: (n) => reader.readF32(n) },
    file,
  );
}

/** W' = W + s·(B A) (transposed for Conv1D), computed in f32; returns the merged base weights by HF name. */
export function mergedWeights(model: CausalLM): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  const adapter = model.adapter;
  for (const name of model.weightNames()) {
    const path = name.replace(/\.weight$/, '');
    const layer = name.endsWith('.weight') ? adapter?.layers.get(path) : undefined;
    out.set(
      name,
      tf.tidy(() => {
        const v = model.weightValue(name); // f16-packed weights come back as f32
        if (!layer) return v.clone();
        const delta = tf.mul(tf.matMul(layer.B, layer.A), layer.scale); // [out, in]
        return tf.add(v, layer.module.conv1d ? tf.transpose(delta) : delta);
      }),
    );
  }
  return out;
}

/** Merges the adapter into the base weights in place (as f32: packed weights are unpacked) and removes it. */
export function mergeLoraInPlace(model: CausalLM): void {
  if (!model.adapter) return;
  model.unpackFrozenWeights();
  const merged = mergedWeights(model);
  for (const [name, t] of merged) {
    model.params.get(name)!.assign(t);
    t.dispose();
  }
  model.adapter.dispose();
  model.adapter = null;
}
