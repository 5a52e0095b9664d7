// The scale-out recipe, for a job that outgrows the browser: the exact token sequences Whetstone trains on
// (tokenized.jsonl, -100 masks included), the raw examples, a transformers Trainer + PEFT script with the
// same hyperparameters (train.py), an Axolotl config for the raw data, and a README saying how to run them.
// Settings are rendered as Python/YAML literals with every string escaped; dataset text only ever goes
// into the JSONL files, never into code.
import { WhetstoneError } from '../errors';
import { SUPPORTED_MODEL_TYPES, type ModelType } from '../hf-config';
import { TARGET_PRESETS } from '../lora';
import type { TrainConfig } from '../train/config';
import { concatBytes, textBytes, type ExportFiles } from './files';

export interface RecipeSequence {
  inputIds: readonly number[];
  /** Same length as inputIds; -100 where no loss. */
  labels: readonly number[];
}

export interface RecipeOptions {
  config: TrainConfig;
  /** The base model as `from_pretrained` finds it: a hub id (e.g. "HuggingFaceTB/SmolLM2-135M") or a path. */
  baseModel: string;
  /** The training sequences, exactly as Whetstone trains them → tokenized.jsonl. */
  sequences: readonly RecipeSequence[];
  /** The dataset's examples (any JSON values) → raw.jsonl, for Axolotl. */
  examples: readonly unknown[];
  /** The dataset format: text | prompt-completion | messages | sharegpt | alpaca (the examples' shape decides when they have one). */
  format: string;
  modelType: string;
  /**
   * The held-out sequences → tokenized_val.jsonl. Without them, train.py holds out config.valRatio of
   * tokenized.jsonl itself (seeded).
   */
  validation?: readonly RecipeSequence[];
  /** The chat template Whetstone rendered chats with (e.g. the ChatML fallback); train.py and Axolotl use it. */
  chatTemplate?: string | null;
}

// ---------------------------------------------------------------------------------------------------------
// Literals

/** A string literal valid in Python and in YAML double quotes: ASCII only, everything else escaped. */
function quote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp < 0x7f) out += ch;
    else if (cp >= 0xd800 && cp <= 0xdfff)
      out += '\\ufffd'; // a lone surrogate: not text
    else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

function finite(v: number, what: string): number {
  if (!Number.isFinite(v)) throw new WhetstoneError('export', `recipe: ${what} must be a finite number, got ${v}`);
  return v;
}

/** A Python literal: None, True/False, int/float, str, list, dict. */
export function pyLiteral(v: unknown, what = 'value'): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(finite(v, what));
  if (typeof v === 'string') return quote(v);
  if (Array.isArray(v)) return `[${v.map((x) => pyLiteral(x, what)).join(', ')}]`;
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${quote(k)}: ${pyLiteral(x, what)}`)
      .join(', ')}}`;
  }
  throw new WhetstoneError('export', `recipe: ${what} cannot be written as a Python literal`);
}

/**
 * A YAML flow value. Floats always carry a '.' (PyYAML, which Axolotl uses, reads `2e-4` as a string), and
 * strings are double-quoted (never a bare `yes`, `null` or `0x1`).
 */
export function yamlLiteral(v: unknown, what = 'value'): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    const s = String(finite(v, what));
    if (Number.isInteger(v) && !s.includes('e')) return s;
    const [mantissa, exponent] = s.split('e');
    const m = mantissa.includes('.') ? mantissa : `${mantissa}.0`;
    return exponent === undefined ? m : `${m}e${exponent.startsWith('-') || exponent.startsWith('+') ? exponent : `+${exponent}`}`;
  }
  if (typeof v === 'string') return quote(v);
  if (Array.isArray(v)) return `[${v.map((x) => yamlLiteral(x, what)).join(', ')}]`;
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${quote(k)}: ${yamlLiteral(x, what)}`)
      .join(', ')}}`;
  }
  throw new WhetstoneError('export', `recipe: ${what} cannot be written as YAML`);
}

/** A JSONL line: JSON with U+2028/U+2029 escaped (some readers split lines on them). */
function jsonLine(v: unknown, what: string): string {
  const s = JSON.stringify(v);
  if (s === undefined) throw new WhetstoneError('export', `recipe: ${what} is not a JSON value`);
  return `${s.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')}\n`;
}

/** Lines → bytes in chunks, so that a large dataset never becomes one giant string. */
function jsonlBytes(count: number, line: (i: number) => string): Uint8Array {
  const chunks: Uint8Array[] = [];
  let pending = '';
  for (let i = 0; i < count; i++) {
    pending += line(i);
    if (pending.length > 1 << 20) {
      chunks.push(textBytes(pending));
      pending = '';
    }
  }
  if (pending) chunks.push(textBytes(pending));
  return concatBytes(chunks);
}

function checkSequence(s: RecipeSequence, i: number, file: string): void {
  const where = `recipe: ${file} sequence ${i + 1}`;
  if (!s || !Array.isArray(s.inputIds) || !Array.isArray(s.labels))
    throw new WhetstoneError('export', `${where}: inputIds and labels must be arrays`);
  if (s.inputIds.length !== s.labels.length) {
    throw new WhetstoneError('export', `${where}: ${s.inputIds.length} input ids but ${s.labels.length} labels`);
  }
  if (s.inputIds.length === 0) throw new WhetstoneError('export', `${where}: empty`);
  for (let k = 0; k < s.inputIds.length; k++) {
    const id = s.inputIds[k];
    const label = s.labels[k];
    if (!Number.isSafeInteger(id) || id < 0)
      throw new WhetstoneError('export', `${where}: input id ${id} at position ${k} is not a token id`);
    if (!Number.isSafeInteger(label) || (label < 0 && label !== -100))
      throw new WhetstoneError('export', `${where}: label ${label} at position ${k} is neither a token id nor -100`);
  }
}

function tokenizedJsonl(sequences: readonly RecipeSequence[], file: string): Uint8Array {
  sequences.forEach((s, i) => checkSequence(s, i, file));
  return jsonlBytes(sequences.length, (i) =>
    jsonLine({ input_ids: sequences[i].inputIds, labels: sequences[i].labels }, `${file} sequence ${i + 1}`),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Settings shared by train.py and axolotl.yaml

function isModelType(t: string): t is ModelType {
  return (SUPPORTED_MODEL_TYPES as readonly string[]).includes(t);
}

/** LoRA targets as an explicit list of module names ('all-linear' expanded per architecture, never lm_head). */
function loraTargets(config: TrainConfig, modelType: string): string[] | 'all-linear' {
  const t = config.lora.targets;
  if (t !== 'all-linear') return [...t];
  const preset = isModelType(modelType) ? TARGET_PRESETS[modelType]['attention+mlp'] : undefined;
  return Array.isArray(preset) ? [...preset] : 'all-linear';
}

/** Whetstone's schedule → HF lr_scheduler_type (HF's 'constant' ignores warmup, so warmup needs the other). */
function hfScheduler(config: TrainConfig): string {
  if (config.schedule === 'constant') return config.warmup > 0 ? 'constant_with_warmup' : 'constant';
  return config.schedule;
}

/** Warmup as steps (≥ 1) or as a ratio of the total steps (in (0, 1)), as TrainConfig defines it. */
function warmup(config: TrainConfig): { steps: number; ratio: number | null } {
  return config.warmup > 0 && config.warmup < 1 ? { steps: 0, ratio: config.warmup } : { steps: Math.round(config.warmup), ratio: null };
}

/** The model-dropout override as config.json keys of the architecture (empty: the model's own dropout). */
function dropoutOverrides(config: TrainConfig, modelType: string): Record<string, number> {
  const p = config.modelDropout;
  if (p === null) return {};
  return modelType === 'gpt2' ? { embd_pdrop: p, attn_pdrop: p, resid_pdrop: p } : { attention_dropout: p };
}

type Shape = 'text' | 'prompt-completion' | 'messages' | 'sharegpt' | 'alpaca';

const FORMAT_ALIASES: Record<string, Shape> = {
  text: 'text',
  raw: 'text',
  completion: 'prompt-completion',
  'prompt-completion': 'prompt-completion',
  messages: 'messages',
  chat: 'messages',
  conversational: 'messages',
  sharegpt: 'sharegpt',
  alpaca: 'alpaca',
};

/** The shape of raw.jsonl's records: from the first example's fields, else from the format's name. */
function dataShape(examples: readonly unknown[], format: string): Shape {
  const first = examples[0];
  if (first && typeof first === 'object' && !Array.isArray(first)) {
    const has = (k: string) => Object.prototype.hasOwnProperty.call(first, k);
    if (has('messages')) return 'messages';
    if (has('conversations')) return 'sharegpt';
    if (has('prompt') && has('completion')) return 'prompt-completion';
    if (has('instruction') && has('output')) return 'alpaca';
    if (has('text')) return 'text';
  }
  const shape = Object.prototype.hasOwnProperty.call(FORMAT_ALIASES, format) ? FORMAT_ALIASES[format] : undefined;
  if (!shape)
    throw new WhetstoneError(
      'export',
      `recipe: unknown dataset format ${JSON.stringify(format)} (known: text, prompt-completion, messages, sharegpt, alpaca)`,
    );
  return shape;
}

// ---------------------------------------------------------------------------------------------------------
// train.py

interface Settings {
  config: TrainConfig;
  baseModel: string;
  modelType: string;
  targets: string[] | 'all-linear';
  chatTemplate: string | null;
}

function trainPy(s: Settings): string {
  const c = s.config;
  const w = warmup(c);
  const py = pyLiteral;
  const settings = [
    `BASE_MODEL = ${py(s.baseModel)}`,
    `MODEL_TYPE = ${py(s.modelType)}`,
    `METHOD = ${py(c.method)}  # "lora" or "full"`,
    `LORA_R = ${py(c.lora.r, 'lora r')}`,
    `LORA_ALPHA = ${py(c.lora.alpha, 'lora alpha')}`,
    `LORA_DROPOUT = ${py(c.lora.dropout, 'lora dropout')}`,
    `LORA_TARGET_MODULES = ${py(s.targets)}`,
    `LORA_USE_RSLORA = ${py(c.lora.rslora)}`,
    `LORA_FAN_IN_FAN_OUT = ${py(s.modelType === 'gpt2')}  # GPT-2 Conv1D weights are stored [in, out]`,
    `CONFIG_OVERRIDES = ${py(dropoutOverrides(c, s.modelType), 'model dropout')}  # model dropout override ({}: the model's own)`,
    `LEARNING_RATE = ${py(c.lr, 'lr')}`,
    `LR_SCHEDULER = ${py(hfScheduler(c))}`,
    `WARMUP_STEPS = ${py(w.steps, 'warmup')}`,
    `WARMUP_RATIO = ${py(w.ratio, 'warmup')}  # None: WARMUP_STEPS`,
    `WEIGHT_DECAY = ${py(c.weightDecay, 'weight decay')}`,
    `DECAY_NORM_AND_BIAS = ${py(c.decayNormAndBias)}  # False: biases and norm weights are not decayed (the Trainer's default)`,
    `MAX_GRAD_NORM = ${py(c.clip, 'clip')}  # 0: no clipping`,
    `BATCH_SIZE = ${py(c.batchSize, 'batch size')}  # per device`,
    `GRAD_ACCUM = ${py(c.gradAccum, 'gradient accumulation')}`,
    `GRADIENT_CHECKPOINTING = ${py(c.gradientCheckpointing)}  # recompute activations in the backward (less memory)`,
    `MAX_LENGTH = ${py(c.maxLength, 'max length')}  # the sequences are already cut to it`,
    `NUM_EPOCHS = ${py(c.epochs, 'epochs')}`,
    `MAX_STEPS = ${py(c.steps, 'steps')}  # None: NUM_EPOCHS decides`,
    `VAL_RATIO = ${py(c.valRatio, 'val ratio')}  # used only when tokenized_val.jsonl is absent`,
    `EVAL_EVERY = ${py(c.evalEvery, 'eval every')}  # optimizer steps; 0: evaluate once at the end`,
    `PATIENCE = ${py(c.patience, 'patience')}  # early stopping, in evaluations; 0: off`,
    `THRESHOLD = ${py(c.threshold, 'threshold')}`,
    `SAVE_EVERY = ${py(c.checkpointEvery, 'checkpoint every')}  # 0: save only at the end`,
    `SEED = ${py(c.seed, 'seed')}`,
    `CHAT_TEMPLATE = ${py(s.chatTemplate)}  # None: the tokenizer's own`,
  ].join('\n');

  return String.raw`#!/usr/bin/env python3
"""Fine-tunes BASE_MODEL on the exact token sequences Whetstone trained on, with the same settings.

Exported by Whetstone (scale-out recipe). Run it from anywhere:
    python train.py                  # one GPU, or the CPU
    accelerate launch train.py       # one or many GPUs (run accelerate config once first)
Needs torch, transformers and, for LoRA, peft; accelerate only for accelerate launch.
The result is written to ./output next to this file: a PEFT adapter (LoRA) or the full model, and the tokenizer.
"""
import inspect
import json
import os
import random
import re

import torch
import transformers
from torch.utils.data import Dataset
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, EarlyStoppingCallback, Trainer, TrainingArguments

# --- The Whetstone run's settings ---------------------------------------------------------------------
${settings}
# -----------------------------------------------------------------------------------------------------

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN_FILE = os.path.join(HERE, "tokenized.jsonl")
VAL_FILE = os.path.join(HERE, "tokenized_val.jsonl")
OUTPUT_DIR = os.path.join(HERE, "output")
IGNORE_INDEX = -100


def read_jsonl(path):
    """Rows of input_ids and labels (labels aligned with input_ids, -100 where no loss: the model shifts them)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            input_ids, labels = row["input_ids"], row["labels"]
            if len(input_ids) != len(labels):
                raise ValueError(f"{path}:{line_no}: input_ids and labels differ in length")
            rows.append({"input_ids": input_ids, "labels": labels})
    return rows


class TokenizedDataset(Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


class PadCollator:
    """Pads a batch on the right: input_ids with pad_id, labels with -100, attention_mask 0 on the padding."""

    def __init__(self, pad_id):
        self.pad_id = pad_id

    def __call__(self, batch):
        width = max(len(row["input_ids"]) for row in batch)
        input_ids, labels, attention_mask = [], [], []
        for row in batch:
            n = len(row["input_ids"])
            pad = width - n
            input_ids.append(list(row["input_ids"]) + [self.pad_id] * pad)
            labels.append(list(row["labels"]) + [IGNORE_INDEX] * pad)
            attention_mask.append([1] * n + [0] * pad)
        return {
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "attention_mask": torch.tensor(attention_mask, dtype=torch.long),
        }


def split_rows(rows):
    """Training and validation rows: tokenized_val.jsonl when present, else VAL_RATIO held out (seeded)."""
    if os.path.exists(VAL_FILE):
        return rows, read_jsonl(VAL_FILE)
    if VAL_RATIO <= 0 or len(rows) < 2:
        return rows, []
    order = list(range(len(rows)))
    random.Random(SEED).shuffle(order)
    n_val = min(len(rows) - 1, max(1, round(len(rows) * VAL_RATIO)))
    held = set(order[:n_val])
    return [r for i, r in enumerate(rows) if i not in held], [rows[i] for i in sorted(held)]


def version_tuple(version):
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2])


def training_arguments(has_eval):
    """TrainingArguments with the run's settings; names that changed across transformers versions are looked up."""
    params = set(inspect.signature(TrainingArguments).parameters)

    def name(*candidates):
        return next(c for c in candidates if c in params)

    args = dict(
        output_dir=os.path.join(HERE, "checkpoints"),
        learning_rate=LEARNING_RATE,
        lr_scheduler_type=LR_SCHEDULER,
        weight_decay=WEIGHT_DECAY,
        max_grad_norm=MAX_GRAD_NORM,
        per_device_train_batch_size=BATCH_SIZE,
        per_device_eval_batch_size=BATCH_SIZE,
        gradient_accumulation_steps=GRAD_ACCUM,
        gradient_checkpointing=GRADIENT_CHECKPOINTING,
        num_train_epochs=NUM_EPOCHS,
        max_steps=MAX_STEPS if MAX_STEPS is not None else -1,
        optim="adamw_torch",
        adam_beta1=0.9,
        adam_beta2=0.999,
        adam_epsilon=1e-8,
        seed=SEED,
        data_seed=SEED,
        logging_steps=1,
        report_to="none",
        remove_unused_columns=False,
    )
    if WARMUP_RATIO is not None:
        args[name("warmup_ratio", "warmup_steps")] = WARMUP_RATIO
    else:
        args["warmup_steps"] = WARMUP_STEPS
    evaluate_during = has_eval and EVAL_EVERY > 0
    early_stopping = evaluate_during and PATIENCE > 0
    args[name("eval_strategy", "evaluation_strategy")] = "steps" if evaluate_during else "no"
    if evaluate_during:
        args["eval_steps"] = EVAL_EVERY
    if early_stopping:
        # Like Whetstone: stop after PATIENCE evaluations without improvement and keep the best weights.
        args.update(
            save_strategy="steps",
            save_steps=EVAL_EVERY,
            save_total_limit=2,
            load_best_model_at_end=True,
            metric_for_best_model="eval_loss",
            greater_is_better=False,
        )
    elif SAVE_EVERY > 0:
        args.update(save_strategy="steps", save_steps=SAVE_EVERY, save_total_limit=2)
    else:
        args["save_strategy"] = "no"
    if GRADIENT_CHECKPOINTING and "gradient_checkpointing_kwargs" in params:
        # Non-reentrant: with a frozen embedding (LoRA) the reentrant variant would see no input needing gradients.
        args["gradient_checkpointing_kwargs"] = {"use_reentrant": False}
    if METHOD == "lora":
        args["ddp_find_unused_parameters"] = False  # the frozen base has no gradients
    return TrainingArguments(**args), early_stopping


def main():
    transformers.set_seed(SEED)
    tokenizer = AutoTokenizer.from_pretrained(BASE_MODEL)
    if CHAT_TEMPLATE is not None:
        tokenizer.chat_template = CHAT_TEMPLATE
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad_id is None:
        pad_id = 0  # padded positions are masked out of attention and loss: any id will do

    config = AutoConfig.from_pretrained(BASE_MODEL, **CONFIG_OVERRIDES)
    dtype_arg = "dtype" if version_tuple(transformers.__version__) >= (4, 56) else "torch_dtype"
    # Whetstone trains in float32; bfloat16 is faster on recent GPUs if you accept the difference.
    model = AutoModelForCausalLM.from_pretrained(BASE_MODEL, config=config, **{dtype_arg: torch.float32})

    if METHOD == "lora":
        from peft import LoraConfig, get_peft_model

        lora_config = LoraConfig(
            task_type="CAUSAL_LM",
            r=LORA_R,
            lora_alpha=LORA_ALPHA,
            lora_dropout=LORA_DROPOUT,
            target_modules=LORA_TARGET_MODULES,
            use_rslora=LORA_USE_RSLORA,
            fan_in_fan_out=LORA_FAN_IN_FAN_OUT,
            bias="none",
        )
        model = get_peft_model(model, lora_config)
        model.print_trainable_parameters()

    train_rows, val_rows = split_rows(read_jsonl(TRAIN_FILE))
    args, early_stopping = training_arguments(bool(val_rows))
    optimizers = (None, None)
    if DECAY_NORM_AND_BIAS and WEIGHT_DECAY > 0:
        # Decay every trainable parameter (the Trainer's own optimizer skips biases and norm weights).
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizers = (torch.optim.AdamW(trainable, lr=LEARNING_RATE, betas=(0.9, 0.999), eps=1e-8, weight_decay=WEIGHT_DECAY), None)
    callbacks = [EarlyStoppingCallback(early_stopping_patience=PATIENCE, early_stopping_threshold=THRESHOLD)] if early_stopping else None

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=TokenizedDataset(train_rows),
        eval_dataset=TokenizedDataset(val_rows) if val_rows else None,
        data_collator=PadCollator(pad_id),
        callbacks=callbacks,
        optimizers=optimizers,
    )
    trainer.train()
    if val_rows:
        metrics = trainer.evaluate()
        if trainer.is_world_process_zero():
            print(json.dumps(metrics))
    trainer.save_model(OUTPUT_DIR)  # LoRA: adapter_config.json + adapter_model.safetensors
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(OUTPUT_DIR)


if __name__ == "__main__":
    main()
`;
}

// ---------------------------------------------------------------------------------------------------------
// axolotl.yaml

/** The `datasets:` entry for raw.jsonl (Axolotl re-tokenizes the raw examples with its prompt strategies). */
function axolotlDataset(shape: Shape, trainOnInputs: boolean): string[] {
  const y = yamlLiteral;
  const lines = ['  - path: raw.jsonl', '    ds_type: json'];
  const chatRoles = y(trainOnInputs ? ['system', 'user', 'assistant'] : ['assistant']);
  switch (shape) {
    case 'text':
      lines.push('    type: completion', '    field: text');
      break;
    case 'alpaca':
      lines.push('    type: alpaca');
      break;
    case 'prompt-completion':
      // A user-defined format: the prompt as is, then the completion (+ EOS), as Whetstone's completion mode.
      lines.push(
        '    type:',
        '      field_instruction: prompt',
        '      field_output: completion',
        `      format: ${y('{instruction}')}`,
        `      no_input_format: ${y('{instruction}')}`,
      );
      break;
    case 'messages':
      lines.push(
        '    type: chat_template',
        '    field_messages: messages',
        '    message_property_mappings:',
        '      role: role',
        '      content: content',
        `    roles_to_train: ${chatRoles}`,
        '    train_on_eos: turn',
      );
      break;
    case 'sharegpt':
      lines.push(
        '    type: chat_template',
        '    field_messages: conversations',
        '    message_property_mappings:',
        '      role: from',
        '      content: value',
        '    roles:',
        `      user: ${y(['human', 'user'])}`,
        `      assistant: ${y(['gpt', 'assistant'])}`,
        `      system: ${y(['system'])}`,
        `    roles_to_train: ${chatRoles}`,
        '    train_on_eos: turn',
      );
      break;
  }
  return lines;
}

function axolotlYaml(s: Settings, shape: Shape): string {
  const c = s.config;
  const y = yamlLiteral;
  const w = warmup(c);
  const trainOnInputs = c.mode === 'text' || c.trainOnPrompt;
  const out: string[] = [
    '# Axolotl config exported by Whetstone, for raw.jsonl (Axolotl tokenizes the raw examples itself;',
    '# train.py reproduces the exact tokens). Run: axolotl train axolotl.yaml',
    `base_model: ${y(s.baseModel)}`,
    '',
    'datasets:',
    ...axolotlDataset(shape, trainOnInputs),
    'dataset_prepared_path: ./axolotl-prepared',
    `val_set_size: ${y(c.valRatio, 'val ratio')}`,
    'output_dir: ./axolotl-output',
  ];
  if (shape === 'messages' || shape === 'sharegpt') {
    if (s.chatTemplate !== null) out.push('chat_template: jinja', `chat_template_jinja: ${y(s.chatTemplate)}`);
    else out.push('chat_template: tokenizer_default');
  }
  out.push('');
  if (c.method === 'lora') {
    out.push(
      'adapter: lora',
      `lora_r: ${y(c.lora.r, 'lora r')}`,
      `lora_alpha: ${y(c.lora.alpha, 'lora alpha')}`,
      `lora_dropout: ${y(c.lora.dropout, 'lora dropout')}`,
    );
    if (s.targets === 'all-linear') out.push('lora_target_linear: true');
    else out.push(`lora_target_modules: ${y(s.targets)}`);
    if (c.lora.rslora) out.push('peft_use_rslora: true');
    if (s.modelType === 'gpt2') out.push('lora_fan_in_fan_out: true');
  } else {
    out.push('# full fine-tuning (no adapter)');
  }
  const overrides = dropoutOverrides(c, s.modelType);
  if (Object.keys(overrides).length > 0) out.push(`overrides_of_model_config: ${y(overrides, 'model dropout')}`);
  out.push(
    '',
    `sequence_len: ${y(c.maxLength, 'max length')}`,
    'sample_packing: false',
    'pad_to_sequence_len: false',
    `train_on_inputs: ${y(trainOnInputs)}`,
    '',
    `micro_batch_size: ${y(c.batchSize, 'batch size')}`,
    `gradient_accumulation_steps: ${y(c.gradAccum, 'gradient accumulation')}`,
    `gradient_checkpointing: ${y(c.gradientCheckpointing)}`,
    c.steps !== null ? `max_steps: ${y(c.steps, 'steps')}` : `num_epochs: ${y(c.epochs, 'epochs')}`,
    'optimizer: adamw_torch',
    'adam_beta1: 0.9',
    'adam_beta2: 0.999',
    'adam_epsilon: 1.0e-8',
    `learning_rate: ${y(c.lr, 'lr')}`,
    `lr_scheduler: ${y(hfScheduler(c))}`,
    w.ratio !== null ? `warmup_ratio: ${y(w.ratio, 'warmup')}` : `warmup_steps: ${y(w.steps, 'warmup')}`,
    `weight_decay: ${y(c.weightDecay, 'weight decay')}`,
    `max_grad_norm: ${y(c.clip, 'clip')}`,
    `seed: ${y(c.seed, 'seed')}`,
    '# Whetstone trains in float32; bf16: true is faster on recent GPUs.',
    'bf16: false',
    'fp16: false',
    'logging_steps: 1',
  );
  if (c.evalEvery > 0 && c.valRatio > 0) {
    out.push(`eval_steps: ${y(c.evalEvery, 'eval every')}`);
    if (c.patience > 0) out.push(`early_stopping_patience: ${y(c.patience, 'patience')}`);
  }
  if (c.checkpointEvery > 0) out.push(`save_steps: ${y(c.checkpointEvery, 'checkpoint every')}`);
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------------------
// README.md

/** Inline code for Markdown: a fence longer than any backtick run inside. */
function code(s: string): string {
  const longest = Math.max(0, ...(s.match(/`+/g) ?? []).map((m) => m.length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${fence.length > 1 ? ' ' : ''}${s.replace(/[\r\n]+/g, ' ')}${fence.length > 1 ? ' ' : ''}${fence}`;
}

function readme(
  s: Settings,
  shape: Shape,
  stats: { sequences: number; tokens: number; trained: number; validation: number | null },
): string {
  const c = s.config;
  const w = warmup(c);
  const rows: Array<[string, string]> = [
    ['base model', code(s.baseModel)],
    [
      'method',
      c.method === 'lora'
        ? `LoRA r ${c.lora.r}, alpha ${c.lora.alpha}, dropout ${c.lora.dropout}${c.lora.rslora ? ', rsLoRA' : ''}, targets ${code(Array.isArray(s.targets) ? s.targets.join(', ') : s.targets)}`
        : 'full fine-tuning',
    ],
    ['learning rate', `${c.lr}, ${hfScheduler(c)} schedule, warmup ${w.ratio !== null ? `ratio ${w.ratio}` : `${w.steps} steps`}`],
    ['weight decay / grad clip', `${c.weightDecay} / ${c.clip}`],
    ['batch', `${c.batchSize} per device × ${c.gradAccum} accumulation`],
    ['length', `${c.steps !== null ? `${c.steps} optimizer steps` : `${c.epochs} epoch(s)`}, max ${c.maxLength} tokens`],
    [
      'evaluation',
      c.evalEvery > 0 ? `every ${c.evalEvery} steps${c.patience > 0 ? `, early stopping patience ${c.patience}` : ''}` : 'at the end',
    ],
    ['seed', String(c.seed)],
  ];
  return `# Scale-out recipe (exported by Whetstone)

This folder continues a Whetstone fine-tuning job on real GPUs, with the same data and settings.

| file | what it is |
|---|---|
| ${code('tokenized.jsonl')} | the ${stats.sequences} training sequence${stats.sequences === 1 ? '' : 's'} exactly as Whetstone trains them: ${code('{"input_ids": [...], "labels": [...]}')} per line, ${code('-100')} where no loss (${stats.tokens} tokens, ${stats.trained} with loss) |
${stats.validation !== null ? `| ${code('tokenized_val.jsonl')} | the ${stats.validation} held-out sequence${stats.validation === 1 ? '' : 's'} |\n` : ''}| ${code('raw.jsonl')} | the dataset's examples (${shape}) |
| ${code('train.py')} | transformers ${code('Trainer')} + PEFT on ${code('tokenized.jsonl')}, with the settings below |
| ${code('axolotl.yaml')} | the same settings for [Axolotl](https://github.com/axolotl-ai-cloud/axolotl), on ${code('raw.jsonl')} |

## Settings

| setting | value |
|---|---|
${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}

## Run with transformers (exact tokens)

\`\`\`sh
pip install torch transformers${c.method === 'lora' ? ' peft' : ''}
python train.py                   # one GPU (or the CPU)
pip install accelerate
accelerate launch train.py        # one or many GPUs; run "accelerate config" once first
\`\`\`

The result goes to ${code('output/')} next to ${code('train.py')}: ${c.method === 'lora' ? `a PEFT adapter (${code('adapter_config.json')} + ${code('adapter_model.safetensors')}; load it with ${code('PeftModel.from_pretrained')}, or merge it with ${code('merge_and_unload()')})` : 'the full model'} and the tokenizer.
On N GPUs each step sees N × ${c.batchSize} × ${c.gradAccum} sequences: divide ${code('GRAD_ACCUM')} in ${code('train.py')} by N to keep Whetstone's effective batch.
${stats.validation === null && c.valRatio > 0 ? `Without ${code('tokenized_val.jsonl')}, ${code('train.py')} holds out ${c.valRatio} of ${code('tokenized.jsonl')} (seeded) for evaluation.\n` : ''}
## Run with Axolotl (re-tokenized from raw.jsonl)

\`\`\`sh
pip install axolotl
axolotl train axolotl.yaml
\`\`\`

Axolotl applies its own prompt strategy to ${code('raw.jsonl')}, so its tokens can differ slightly from Whetstone's;
${code('train.py')} is the exact reproduction.
`;
}

// ---------------------------------------------------------------------------------------------------------

/**
 * The scale-out recipe folder: tokenized.jsonl (+ tokenized_val.jsonl with `validation`), raw.jsonl,
 * train.py, axolotl.yaml and README.md.
 */
export function exportRecipe(opts: RecipeOptions): ExportFiles {
  const { config, sequences, examples } = opts;
  if (typeof opts.baseModel !== 'string' || opts.baseModel.trim() === '')
    throw new WhetstoneError('export', 'recipe: the base model name is empty');
  if (sequences.length === 0) throw new WhetstoneError('export', 'recipe: no training sequences');
  const settings: Settings = {
    config,
    baseModel: opts.baseModel,
    modelType: opts.modelType,
    targets: loraTargets(config, opts.modelType),
    chatTemplate: opts.chatTemplate ?? null,
  };
  const shape = dataShape(examples, opts.format);

  const files: ExportFiles = new Map();
  files.set('tokenized.jsonl', tokenizedJsonl(sequences, 'tokenized.jsonl'));
  if (opts.validation) files.set('tokenized_val.jsonl', tokenizedJsonl(opts.validation, 'tokenized_val.jsonl'));
  files.set(
    'raw.jsonl',
    jsonlBytes(examples.length, (i) => jsonLine(examples[i], `example ${i + 1}`)),
  );
  files.set('train.py', textBytes(trainPy(settings)));
  files.set('axolotl.yaml', textBytes(axolotlYaml(settings, shape)));
  let tokens = 0;
  let trained = 0;
  for (const s of sequences) {
    tokens += s.inputIds.length;
    for (let k = 1; k < s.labels.length; k++) if (s.labels[k] !== -100) trained++;
  }
  files.set(
    'README.md',
    textBytes(
      readme(settings, shape, {
        sequences: sequences.length,
        tokens,
        trained,
        validation: opts.validation ? opts.validation.length : null,
      }),
    ),
  );
  return files;
}
