// PEFT adapter export: the trained LoRA as `adapter_config.json` + `adapter_model.safetensors`, exactly what
// `PeftModel.from_pretrained` loads (names, shapes and config keys of ../shared/docs/FORMATS.md).
import { WhetstoneError } from '../errors';
import { encodeSafetensors, type TensorToWrite } from '../safetensors';
import { peftTensorName, type LoraAdapter } from '../lora';
import type { CausalLM } from '../models/model';
import { jsonBytes, sortKeys, type ExportFiles } from './files';

export interface PeftExportOptions {
  /** Written as base_model_name_or_path (a hub id or a path); null when unknown. */
  baseModelName: string | null;
}

/** adapter_config.json: exactly the keys PEFT needs, nothing that breaks vLLM (no modules_to_save). */
export interface PeftAdapterConfig {
  alpha_pattern: Record<string, number>;
  base_model_name_or_path: string | null;
  bias: 'none';
  fan_in_fan_out: boolean;
  inference_mode: true;
  init_lora_weights: true;
  lora_alpha: number;
  lora_dropout: number;
  modules_to_save: null;
  peft_type: 'LORA';
  r: number;
  rank_pattern: Record<string, number>;
  target_modules: string[];
  task_type: 'CAUSAL_LM';
  use_rslora: boolean;
}

const matches = (path: string, suffix: string) => path === suffix || path.endsWith(`.${suffix}`);

/** The dotted suffixes of `path`, shortest first, skipping those that start with a layer index ("0.attn.c_attn"). */
function suffixes(path: string): string[] {
  const parts = path.split('.');
  const out: string[] = [];
  for (let k = 1; k <= parts.length; k++) {
    if (k < parts.length && /^\d+$/.test(parts[parts.length - k])) continue;
    out.push(parts.slice(-k).join('.'));
  }
  return out;
}

/**
 * The target_modules list that makes PEFT adapt exactly the adapted modules: for each, its shortest dotted
 * suffix that matches no module left out (usually the module name, e.g. `c_proj`; `attn.c_proj` when only
 * the attention's c_proj of GPT-2 was adapted, since `c_proj` would also catch the MLP's). Sorted, distinct.
 */
export function peftTargetModules(adapted: Iterable<string>, allModules: readonly string[]): string[] {
  const chosen = new Set<string>();
  const done = new Set(adapted);
  for (const path of done) {
    const name = suffixes(path).find((sfx) => allModules.every((p) => !matches(p, sfx) || done.has(p))) ?? path;
    chosen.add(name);
  }
  return [...chosen].sort();
}

/**
 * A rank_pattern / alpha_pattern key for one module: its shortest proper suffix that matches it alone (e.g.
 * `layers.0.self_attn.q_proj`). Never the whole path: PEFT before 0.14 required a `.` before the key.
 */
function patternKey(path: string, allModules: readonly string[]): string {
  const proper = suffixes(path).filter((s) => s !== path);
  return proper.find((sfx) => allModules.every((p) => p === path || !matches(p, sfx))) ?? path;
}

/** alpha from a layer's scale (s = alpha/r, or alpha/√r with rsLoRA), snapped to `nominal` when equal. */
function layerAlpha(scale: number, r: number, rslora: boolean, nominal: number): number {
  const alpha = rslora ? scale * Math.sqrt(r) : scale * r;
  return Math.abs(alpha - nominal) <= 1e-6 * Math.max(1, Math.abs(nominal)) ? nominal : alpha;
}

export function peftAdapterConfig(model: CausalLM, adapter: LoraAdapter, baseModelName: string | null): PeftAdapterConfig {
  const c = adapter.config;
  const allModules = model.linearModules().map((m) => m.path);
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  for (const [path, layer] of adapter.layers) {
    const r = layer.A.shape[0];
    // Per-module ranks/alphas (from a rank_pattern / alpha_pattern), each keyed to match that module only.
    const alpha = layerAlpha(layer.scale, r, c.useRslora, c.alpha);
    if (r !== c.r) rankPattern[patternKey(path, allModules)] = r;
    if (alpha !== c.alpha) alphaPattern[patternKey(path, allModules)] = alpha;
  }
  return sortKeys({
    alpha_pattern: sortKeys(alphaPattern),
    base_model_name_or_path: baseModelName,
    bias: 'none' as const,
    fan_in_fan_out: [...adapter.layers.values()].some((l) => l.module.conv1d),
    inference_mode: true as const,
    init_lora_weights: true as const,
    lora_alpha: c.alpha,
    lora_dropout: c.dropout,
    modules_to_save: null,
    peft_type: 'LORA' as const,
    r: c.r,
    rank_pattern: sortKeys(rankPattern),
    target_modules: peftTargetModules(adapter.layers.keys(), allModules),
    task_type: 'CAUSAL_LM' as const,
    use_rslora: c.useRslora,
  });
}

/**
 * The model's LoRA adapter as a PEFT adapter folder: `adapter_config.json` and `adapter_model.safetensors`
 * (F32, `base_model.model.<module path>.lora_A.weight` [r, in] and `.lora_B.weight` [out, r], metadata
 * `{"format": "pt"}`). Throws when the model has no adapter (a full fine-tune exports a whole model).
 */
export async function exportPeftAdapter(model: CausalLM, opts: PeftExportOptions): Promise<ExportFiles> {
  const adapter = model.adapter;
  if (!adapter || adapter.layers.size === 0) {
    throw new WhetstoneError(
      'export',
      'cannot export a PEFT adapter: the model has no LoRA adapter (a full fine-tune is exported as a merged/full model)',
    );
  }
  const modules = new Set(model.linearModules().map((m) => m.path));
  const tensors: TensorToWrite[] = [];
  for (const [path, layer] of adapter.layers) {
    if (!modules.has(path))
      throw new WhetstoneError('export', `LoRA layer ${path} is not a linear layer of this ${model.config.modelType} model`);
    const { inFeatures, outFeatures } = layer.module;
    const r = layer.A.shape[0];
    if (layer.A.shape[1] !== inFeatures || layer.B.shape[0] !== outFeatures || layer.B.shape[1] !== r) {
      throw new WhetstoneError(
        'export',
        `LoRA layer ${path}: A [${layer.A.shape}] and B [${layer.B.shape}] do not fit a [${outFeatures}, ${inFeatures}] layer`,
      );
    }
    tensors.push({ name: peftTensorName(path, 'A'), dtype: 'F32', shape: [r, inFeatures], data: await f32(layer.A) });
    tensors.push({ name: peftTensorName(path, 'B'), dtype: 'F32', shape: [outFeatures, r], data: await f32(layer.B) });
  }
  const files: ExportFiles = new Map();
  files.set('adapter_config.json', jsonBytes(peftAdapterConfig(model, adapter, opts.baseModelName)));
  files.set('adapter_model.safetensors', encodeSafetensors(tensors, { format: 'pt' }));
  return files;
}

async function f32(t: { data(): Promise<unknown> }): Promise<Float32Array> {
  const d = await t.data();
  return d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>);
}
