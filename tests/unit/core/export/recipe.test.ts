// The scale-out recipe: tokenized.jsonl carries the sequences exactly, train.py compiles and its settings
// (read back by Python's own parser) are the run's, axolotl.yaml (read back by PyYAML when present) has the
// same hyperparameters, and hostile strings cannot escape their literals.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveTrainConfig, type TrainConfig } from '../../../../src/core/train/config';
import { CHATML_FALLBACK } from '../../../../src/core/chat-template';
import { exportRecipe, pyLiteral, yamlLiteral, type RecipeOptions } from '../../../../src/core/export/recipe';
import type { ExportFiles } from '../../../../src/core/export/files';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-recipe-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const text = (files: ExportFiles, f: string) => new TextDecoder().decode(files.get(f)!);
const jsonl = (files: ExportFiles, f: string) =>
  text(files, f)
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));

function writeOut(files: ExportFiles, name: string): string {
  const out = path.join(dir, name);
  fs.mkdirSync(out, { recursive: true });
  for (const [f, bytes] of files) fs.writeFileSync(path.join(out, f), bytes);
  return out;
}

function python(args: string[], input?: string): string {
  return execFileSync('python3', args, { encoding: 'utf8', input });
}

/** The module-level constants of train.py, as Python's ast reads them (no import, no torch needed). */
function pySettings(file: string): Record<string, unknown> {
  const script = [
    'import ast, json, sys',
    'tree = ast.parse(open(sys.argv[1], encoding="utf-8").read())',
    'out = {}',
    'for node in tree.body:',
    '    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper():',
    '        try:',
    '            out[node.targets[0].id] = ast.literal_eval(node.value)',
    '        except ValueError:',
    '            pass',
    'print(json.dumps(out))',
  ].join('\n');
  return JSON.parse(python(['-c', script, file]));
}

let hasYaml = true;
try {
  python(['-c', 'import yaml']);
} catch {
  hasYaml = false;
}

function yamlDoc(file: string): any {
  return JSON.parse(python(['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1], encoding="utf-8"))))', file]));
}

const SEQUENCES = [
  { inputIds: [1, 15, 27, 9, 2], labels: [-100, -100, 27, 9, 2] },
  { inputIds: [1, 44, 3], labels: [-100, 44, 3] },
  { inputIds: [1, 7, 7, 7, 7, 7, 2], labels: [1, 7, 7, 7, 7, 7, 2] },
];

function options(
  config: Partial<TrainConfig> & { lora?: Partial<TrainConfig['lora']> },
  extra: Partial<RecipeOptions> = {},
): RecipeOptions {
  return {
    config: resolveTrainConfig(config),
    baseModel: 'HuggingFaceTB/SmolLM2-135M',
    sequences: SEQUENCES,
    examples: [{ prompt: 'Q: 2+2?', completion: ' 4' }],
    format: 'prompt-completion',
    modelType: 'llama',
    ...extra,
  };
}

describe('exportRecipe', () => {
  it('writes the five files; tokenized.jsonl is exactly the sequences (masks included), raw.jsonl the examples', () => {
    const examples = [
      { prompt: 'He said "hi"\n', completion: ' and left.\u2028 Émile 😀 \\' },
      { prompt: '"""; import os; os.system("x") #', completion: '{{ x }} ${y}' },
    ];
    const validation = [{ inputIds: [1, 5, 6], labels: [-100, 5, 6] }];
    const files = exportRecipe(options({}, { examples, validation }));
    expect([...files.keys()].sort()).toEqual([
      'README.md',
      'axolotl.yaml',
      'raw.jsonl',
      'tokenized.jsonl',
      'tokenized_val.jsonl',
      'train.py',
    ]);
    expect(jsonl(files, 'tokenized.jsonl')).toEqual(SEQUENCES.map((s) => ({ input_ids: s.inputIds, labels: s.labels })));
    expect(jsonl(files, 'tokenized_val.jsonl')).toEqual([{ input_ids: [1, 5, 6], labels: [-100, 5, 6] }]);
    expect(text(files, 'tokenized.jsonl').split('\n')[0]).toBe('{"input_ids":[1,15,27,9,2],"labels":[-100,-100,27,9,2]}');
    expect(jsonl(files, 'raw.jsonl')).toEqual(examples);
    expect(text(files, 'raw.jsonl').split('\n').length).toBe(examples.length + 1);
    // Dataset text goes into the JSONL files only.
    for (const f of ['train.py', 'axolotl.yaml', 'README.md']) expect(text(files, f)).not.toContain('os.system');
  });

  it('LoRA on Llama: train.py compiles and carries the run’s hyperparameters', () => {
    const files = exportRecipe(
      options(
        {
          mode: 'completion',
          method: 'lora',
          lora: { r: 16, alpha: 32, dropout: 0.1, targets: 'all-linear', rslora: true },
          lr: 3e-4,
          schedule: 'cosine',
          warmup: 0.1,
          weightDecay: 0.01,
          clip: 0.5,
          batchSize: 8,
          gradAccum: 4,
          maxLength: 512,
          epochs: 3,
          valRatio: 0.2,
          evalEvery: 25,
          patience: 3,
          threshold: 0.001,
          seed: 1234,
          modelDropout: 0.05,
          gradientCheckpointing: true,
        },
        { chatTemplate: CHATML_FALLBACK },
      ),
    );
    const out = writeOut(files, 'lora-llama');
    python(['-m', 'py_compile', path.join(out, 'train.py')]);
    const s = pySettings(path.join(out, 'train.py'));
    expect(s).toMatchObject({
      BASE_MODEL: 'HuggingFaceTB/SmolLM2-135M',
      METHOD: 'lora',
      LORA_R: 16,
      LORA_ALPHA: 32,
      LORA_DROPOUT: 0.1,
      LORA_TARGET_MODULES: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      LORA_USE_RSLORA: true,
      LORA_FAN_IN_FAN_OUT: false,
      CONFIG_OVERRIDES: { attention_dropout: 0.05 },
      LEARNING_RATE: 3e-4,
      LR_SCHEDULER: 'cosine',
      WARMUP_STEPS: 0,
      WARMUP_RATIO: 0.1,
      WEIGHT_DECAY: 0.01,
      MAX_GRAD_NORM: 0.5,
      BATCH_SIZE: 8,
      GRAD_ACCUM: 4,
      GRADIENT_CHECKPOINTING: true,
      NUM_EPOCHS: 3,
      MAX_STEPS: null,
      VAL_RATIO: 0.2,
      EVAL_EVERY: 25,
      PATIENCE: 3,
      THRESHOLD: 0.001,
      SEED: 1234,
      CHAT_TEMPLATE: CHATML_FALLBACK,
    });
    const py = text(files, 'train.py');
    for (const needle of [
      'Trainer(',
      'LoraConfig(',
      'get_peft_model',
      'EarlyStoppingCallback',
      'TrainingArguments(**args)',
      'gradient_checkpointing=GRADIENT_CHECKPOINTING,',
      'json.loads',
      'attention_mask',
      'OUTPUT_DIR = os.path.join(HERE, "output")',
    ]) {
      expect(py).toContain(needle);
    }
    // Only torch, transformers, peft and the standard library.
    const imports = [...py.matchAll(/^\s*(?:from|import) ([\w.]+)/gm)].map((m) => m[1].split('.')[0]);
    expect(new Set(imports)).toEqual(new Set(['inspect', 'json', 'os', 'random', 're', 'torch', 'transformers', 'peft']));
  });

  it('LoRA on Llama: axolotl.yaml has the same hyperparameters', () => {
    const files = exportRecipe(
      options({
        lora: { r: 16, alpha: 32, dropout: 0.1, targets: ['q_proj', 'v_proj'], rslora: false },
        lr: 2e-5,
        warmup: 10,
        schedule: 'linear',
        steps: 500,
        weightDecay: 0.1,
        clip: 1,
        batchSize: 2,
        gradAccum: 8,
        maxLength: 1024,
        valRatio: 0.1,
        evalEvery: 50,
        patience: 2,
        seed: 7,
      }),
    );
    const y = text(files, 'axolotl.yaml');
    for (const line of [
      'base_model: "HuggingFaceTB/SmolLM2-135M"',
      'adapter: lora',
      'lora_r: 16',
      'lora_alpha: 32',
      'lora_dropout: 0.1',
      'lora_target_modules: ["q_proj", "v_proj"]',
      'sequence_len: 1024',
      'micro_batch_size: 2',
      'gradient_accumulation_steps: 8',
      'gradient_checkpointing: false',
      'max_steps: 500',
      'learning_rate: 0.00002',
      'lr_scheduler: "linear"',
      'warmup_steps: 10',
      'weight_decay: 0.1',
      'max_grad_norm: 1',
      'seed: 7',
      'train_on_inputs: false',
      'val_set_size: 0.1',
      'eval_steps: 50',
      'early_stopping_patience: 2',
      'output_dir: ./axolotl-output',
    ]) {
      expect(y.split('\n')).toContain(line);
    }
    if (hasYaml) {
      const doc = yamlDoc(path.join(writeOut(files, 'axolotl-lora'), 'axolotl.yaml'));
      expect(doc).toMatchObject({ learning_rate: 2e-5, lora_r: 16, max_steps: 500, adam_epsilon: 1e-8 });
      expect(typeof doc.learning_rate).toBe('number');
      expect(doc.datasets).toEqual([
        {
          path: 'raw.jsonl',
          ds_type: 'json',
          type: { field_instruction: 'prompt', field_output: 'completion', format: '{instruction}', no_input_format: '{instruction}' },
        },
      ]);
    }
    const s = pySettings(path.join(writeOut(files, 'steps'), 'train.py'));
    expect(s).toMatchObject({ MAX_STEPS: 500, WARMUP_STEPS: 10, WARMUP_RATIO: null, LEARNING_RATE: 2e-5, LR_SCHEDULER: 'linear' });
  });

  it('full fine-tuning of GPT-2 on chat data: no adapter, constant schedule with warmup, ShareGPT as chat_template', () => {
    const examples = [
      {
        conversations: [
          { from: 'human', value: 'hi' },
          { from: 'gpt', value: 'hello' },
        ],
      },
    ];
    const files = exportRecipe(
      options(
        { mode: 'chat', method: 'full', schedule: 'constant', warmup: 5, lr: 1e-5, epochs: 2 },
        { modelType: 'gpt2', format: 'sharegpt', examples },
      ),
    );
    const out = writeOut(files, 'full-gpt2');
    python(['-m', 'py_compile', path.join(out, 'train.py')]);
    expect(pySettings(path.join(out, 'train.py'))).toMatchObject({
      METHOD: 'full',
      LR_SCHEDULER: 'constant_with_warmup',
      WARMUP_STEPS: 5,
      NUM_EPOCHS: 2,
      MAX_STEPS: null,
      LORA_FAN_IN_FAN_OUT: true,
      CHAT_TEMPLATE: null,
    });
    const y = text(files, 'axolotl.yaml');
    expect(y).not.toMatch(/^adapter:/m);
    expect(y).not.toMatch(/^lora_/m);
    expect(y).toContain('num_epochs: 2');
    expect(y).toContain('chat_template: tokenizer_default');
    if (hasYaml) {
      const doc = yamlDoc(path.join(out, 'axolotl.yaml'));
      expect(doc.datasets[0]).toMatchObject({
        type: 'chat_template',
        field_messages: 'conversations',
        message_property_mappings: { role: 'from', content: 'value' },
        roles_to_train: ['assistant'],
      });
      expect(doc.datasets[0].roles.assistant).toContain('gpt');
      expect(doc.adapter).toBeUndefined();
    }
  });

  it('maps each data shape to its Axolotl type (the examples decide; the format name when there are none)', () => {
    const typeOf = (examples: unknown[], format: string) => {
      const y = text(exportRecipe(options({}, { examples, format })), 'axolotl.yaml');
      return /^ {4}type: ?(.*)$/m.exec(y)![1];
    };
    expect(typeOf([{ text: 'a document' }], 'text')).toBe('completion');
    expect(typeOf([{ instruction: 'do', input: '', output: 'done' }], 'alpaca')).toBe('alpaca');
    expect(typeOf([{ messages: [{ role: 'user', content: 'x' }] }], 'messages')).toBe('chat_template');
    expect(typeOf([{ messages: [{ role: 'user', content: 'x' }] }], 'sharegpt')).toBe('chat_template'); // normalised ShareGPT
    expect(typeOf([{ prompt: 'p', completion: 'c' }], 'prompt-completion')).toBe('');
    expect(typeOf([], 'alpaca')).toBe('alpaca');
    expect(() => typeOf([], 'parquet')).toThrow(/unknown dataset format/);
  });

  it('hostile names and templates stay inside their literals (Python and YAML)', () => {
    const evil = 'org/model"; import os; os.system("rm -rf /") #\n\'\'\' """ \\ \u2028 ☃ 😀';
    const template = '{{ \'<|im_start|>\' }}\n{% if x %}"q"{% endif %}\\n';
    const files = exportRecipe(options({ mode: 'chat' }, { baseModel: evil, chatTemplate: template, examples: [{ messages: [] }] }));
    const out = writeOut(files, 'hostile');
    python(['-m', 'py_compile', path.join(out, 'train.py')]);
    expect(pySettings(path.join(out, 'train.py'))).toMatchObject({ BASE_MODEL: evil.replace('\u2028', '\u2028'), CHAT_TEMPLATE: template });
    expect(text(files, 'train.py')).not.toMatch(/[^\x00-\x7f]/); // literals are ASCII-escaped
    if (hasYaml) {
      const doc = yamlDoc(path.join(out, 'axolotl.yaml'));
      expect(doc.base_model).toBe(evil);
      expect(doc.chat_template).toBe('jinja');
      expect(doc.chat_template_jinja).toBe(template);
    }
  });

  it('refuses sequences it cannot write faithfully', () => {
    expect(() => exportRecipe(options({}, { sequences: [{ inputIds: [1, 2], labels: [2] }] }))).toThrow(/2 input ids but 1 labels/);
    expect(() => exportRecipe(options({}, { sequences: [{ inputIds: [1, 2.5], labels: [1, 2] }] }))).toThrow(/not a token id/);
    expect(() => exportRecipe(options({}, { sequences: [{ inputIds: [1, 2], labels: [1, -1] }] }))).toThrow(/neither a token id nor -100/);
    expect(() => exportRecipe(options({}, { sequences: [] }))).toThrow(/no training sequences/);
    expect(() => exportRecipe(options({}, { baseModel: ' ' }))).toThrow(/base model/);
  });
});

describe('literals', () => {
  it('Python: None/True/False, numbers, escaped ASCII strings, lists, dicts', () => {
    expect(pyLiteral(null)).toBe('None');
    expect(pyLiteral([true, false, 1, 2e-4, 1e-7])).toBe('[True, False, 1, 0.0002, 1e-7]');
    expect(pyLiteral({ a: 'x"y' })).toBe('{"a": "x\\"y"}');
    expect(pyLiteral('é😀\n')).toBe('"\\u00e9\\U0001f600\\n"');
    expect(() => pyLiteral(NaN, 'lr')).toThrow(/lr must be a finite number/);
  });

  it('YAML: floats always with a dot (PyYAML reads 2e-4 as a string)', () => {
    expect(yamlLiteral(2e-4)).toBe('0.0002');
    expect(yamlLiteral(1e-7)).toBe('1.0e-7');
    expect(yamlLiteral(2.5e-8)).toBe('2.5e-8');
    expect(yamlLiteral(1e21)).toBe('1.0e+21');
    expect(yamlLiteral(3)).toBe('3');
    expect(yamlLiteral('yes')).toBe('"yes"');
    expect(yamlLiteral(['a', 1])).toBe('["a", 1]');
  });
});
