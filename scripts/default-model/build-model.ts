// The model steps of the default-model recipe (run through tsx by pretrain.mjs):
//
//   init    settings.json + the trained tokenizer.json → an HF Llama folder with random weights
//           (transformers' LlamaPreTrainedModel init: N(0, initializer_range) for every matrix, ones for
//           the RMSNorm weights), F32; Whetstone's trainer starts from it.
//   export  the init folder + a full-state file (state.whetstone) → the trained weights evaluated on the
//           held-out corpus and written as F16 into public/models/default/, with training.json; with
//           --if-better only when the held-out loss beats the one already there.
//   eval    the held-out loss of a model folder.
//
//   npx tsx scripts/default-model/build-model.ts init --settings S --tokenizer FILE --out DIR
//   npx tsx scripts/default-model/build-model.ts export --settings S --init DIR --state FILE --heldout FILE [--if-better] [--throughput JSON]
//   npx tsx scripts/default-model/build-model.ts eval --model DIR --heldout FILE [--max-length N]
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/core/backend';
import { parseModelConfig } from '../../src/core/hf-config';
import { loadModel, type CausalLM } from '../../src/core/models/model';
import { createRng } from '../../src/core/random';
import { encodeSafetensors, type TensorToWrite } from '../../src/core/safetensors';
import { tokenizerFromJson, loadTokenizer, type WhetTokenizer } from '../../src/core/tokenizer';
import { decodeState } from '../../src/core/checkpoint';
import { resolveTrainConfig } from '../../src/core/train/config';
import { prepareData } from '../../src/core/train/job';
import { evaluateSequences } from '../../src/core/train/evaluate';
import { dirSource } from '../../cli/node-files';

type Json = Record<string, unknown>;

/** ChatML, as SmolLM2/Qwen write it: every turn `<|im_start|>role\ncontent<|im_end|>\n`. */
export const CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

function args(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) m.set(a.slice(2), 'true');
    else m.set(a.slice(2), argv[++i]);
  }
  return m;
}

function need(a: Map<string, string>, k: string): string {
  const v = a.get(k);
  if (v === undefined) throw new Error(`--${k} is required`);
  return v;
}

const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as Json;
const writeJson = (f: string, v: unknown) => fs.writeFileSync(f, `${JSON.stringify(v, null, 2)}\n`);

function configJson(settings: Json, vocabSize: number, dtype: 'float32' | 'float16'): Json {
  const m = settings.model as Json;
  return {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 0,
    eos_token_id: 0,
    head_dim: (m.hidden_size as number) / (m.num_attention_heads as number),
    hidden_act: 'silu',
    hidden_size: m.hidden_size,
    initializer_range: m.initializer_range,
    intermediate_size: m.intermediate_size,
    max_position_embeddings: m.max_position_embeddings,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: m.num_attention_heads,
    num_hidden_layers: m.num_hidden_layers,
    num_key_value_heads: m.num_key_value_heads,
    pad_token_id: 0,
    pretraining_tp: 1,
    rms_norm_eps: m.rms_norm_eps,
    rope_scaling: null,
    rope_theta: m.rope_theta,
    tie_word_embeddings: true,
    torch_dtype: dtype,
    transformers_version: '4.46.0',
    use_cache: true,
    vocab_size: vocabSize,
  };
}

function tokenizerConfigJson(tokenizerJson: Json, maxLength: number): Json {
  const added: Record<string, Json> = {};
  for (const t of tokenizerJson.added_tokens as Json[]) {
    added[String(t.id)] = { content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
  }
  return {
    add_bos_token: false,
    add_eos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: added,
    additional_special_tokens: ['<|im_start|>', '<|im_end|>'],
    bos_token: '<|endoftext|>',
    chat_template: CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: '<|endoftext|>',
    model_max_length: maxLength,
    pad_token: '<|endoftext|>',
    tokenizer_class: 'GPT2Tokenizer',
    unk_token: '<|endoftext|>',
  };
}

function generationConfigJson(): Json {
  // Stop on the end of a document and on the end of a chat turn.
  return { bos_token_id: 0, eos_token_id: [0, 2], pad_token_id: 0, transformers_version: '4.46.0' };
}

/** Random init as transformers' LlamaPreTrainedModel._init_weights: N(0, σ) matrices, ones for norms. */
function initWeights(shapes: Map<string, number[]>, sigma: number, seed: number): Map<string, Float32Array> {
  const rng = createRng(seed);
  const out = new Map<string, Float32Array>();
  // Name order, so that the draw does not depend on how the family lists its parameters.
  for (const name of [...shapes.keys()].sort()) {
    const shape = shapes.get(name)!;
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (shape.length === 1) data.fill(1);
    else {
      for (let i = 0; i < n; i += 2) {
        // Box-Muller from the seeded uniform stream.
        const u1 = Math.max(rng.next(), 1e-12);
        const u2 = rng.next();
        const r = Math.sqrt(-2 * Math.log(u1));
        data[i] = sigma * r * Math.cos(2 * Math.PI * u2);
        if (i + 1 < n) data[i + 1] = sigma * r * Math.sin(2 * Math.PI * u2);
      }
    }
    out.set(name, data);
  }
  return out;
}

async function tensorsOf(model: CausalLM, dtype: 'F32' | 'F16'): Promise<TensorToWrite[]> {
  const out: TensorToWrite[] = [];
  for (const name of [...model.params.keys()].sort()) {
    const v = model.params.get(name)!;
    out.push({ name, dtype, shape: [...v.shape], data: (await v.data()) as Float32Array });
  }
  return out;
}

function writeFolder(dir: string, files: Record<string, string | Uint8Array>): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, body] of Object.entries(files)) {
    const tmp = path.join(dir, `.${name}.tmp-${process.pid}`);
    fs.writeFileSync(tmp, body);
    fs.renameSync(tmp, path.join(dir, name));
  }
}

async function init(a: Map<string, string>) {
  const settings = readJson(need(a, 'settings'));
  const tokenizerJson = readJson(need(a, 'tokenizer'));
  const out = need(a, 'out');
  const maxLength = (settings.model as Json).max_position_embeddings as number;
  const tokConfig = tokenizerConfigJson(tokenizerJson, maxLength);
  const tok = tokenizerFromJson(tokenizerJson, tokConfig);
  const config = configJson(settings, tok.vocabSize, 'float32');
  const parsed = parseModelConfig(config);
  const { llama } = await import('../../src/core/models/llama');
  const weights = initWeights(llama.parameterShapes(parsed), (settings.model as Json).initializer_range as number, settings.seed as number);
  const tensors: TensorToWrite[] = [...weights].map(([name, data]) => ({
    name,
    dtype: 'F32',
    shape: llama.parameterShapes(parsed).get(name)!,
    data,
  }));
  let params = 0;
  for (const t of tensors) params += t.data.length;
  writeFolder(out, {
    'config.json': `${JSON.stringify(config, null, 2)}\n`,
    'generation_config.json': `${JSON.stringify(generationConfigJson(), null, 2)}\n`,
    'tokenizer.json': JSON.stringify(tokenizerJson),
    'tokenizer_config.json': `${JSON.stringify(tokConfig, null, 2)}\n`,
    'model.safetensors': encodeSafetensors(tensors, { format: 'pt' }),
  });
  console.error(`init: ${params.toLocaleString('en')} parameters (vocab ${tok.vocabSize}) → ${out}`);
  console.log(JSON.stringify({ out, parameters: params, vocab: tok.vocabSize }));
}

/** Held-out loss of `model`: the held-out text packed into blocks exactly as text-mode training packs it. */
export async function heldoutLoss(model: CausalLM, tok: WhetTokenizer, file: string, maxLength: number, maxBytes = Infinity) {
  const config = resolveTrainConfig({ mode: 'text', maxLength, batchSize: 16 });
  const text = Number.isFinite(maxBytes) ? heldoutSample(file, maxBytes) : fs.readFileSync(file, 'utf8');
  const data = await prepareData(new Blob([text]), path.basename(file), tok, config);
  const r = await evaluateSequences(model, data.sequences, 16, tok.padTokenId ?? 0);
  return { loss: r.loss, perplexity: r.perplexity, accuracy: r.accuracy, tokens: r.tokens };
}

/** The first whole documents of the held-out file, up to `bytes`: the sample the unit test evaluates on. */
function heldoutSample(file: string, bytes: number): string {
  const docs = fs.readFileSync(file, 'utf8').split(/\n\n/);
  const out: string[] = [];
  let n = 0;
  for (const d of docs) {
    if (!d.trim()) continue;
    if (n > 0 && n + d.length + 2 > bytes) break;
    out.push(d.trim());
    n += d.length + 2;
  }
  return `${out.join('\n\n')}\n`;
}

async function exportCmd(a: Map<string, string>) {
  const settingsFile = need(a, 'settings');
  const settings = readJson(settingsFile);
  const initDir = need(a, 'init');
  const stateFile = need(a, 'state');
  const heldout = need(a, 'heldout');
  const out = a.get('out') ?? (settings.out as string);
  const train = settings.train as Json;
  await initBackend((train.backend as 'cpu' | 'webgpu') ?? 'cpu');
  const state = await decodeState(new Uint8Array(fs.readFileSync(stateFile)), stateFile);
  const model = await loadModel(dirSource(initDir));
  const tok = await loadTokenizer(dirSource(initDir));
  for (const [name, w] of state.weights) {
    const v = model.params.get(name);
    if (!v) throw new Error(`${stateFile}: unknown tensor ${name}`);
    const t = tf.tensor(w.data, w.shape);
    v.assign(t);
    t.dispose();
  }
  const t0 = Date.now();
  const maxLength = train.maxLength as number;
  const heldoutBytes = ((settings.export as Json).heldoutBytes as number | undefined) ?? Infinity;
  const held = await heldoutLoss(model, tok, heldout, maxLength, heldoutBytes);
  const step = state.meta.trainer.step;
  console.error(`export: step ${step}, held-out loss ${held.loss.toFixed(4)} (ppl ${held.perplexity.toFixed(2)}, ${held.tokens} tokens, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  const summaryFile = path.join(out, 'training.json');
  if (a.has('if-better') && fs.existsSync(summaryFile)) {
    const prev = readJson(summaryFile) as { heldout?: { loss?: number } };
    const prevLoss = prev.heldout?.loss;
    if (typeof prevLoss === 'number' && !(held.loss < prevLoss)) {
      console.error(`export: not better than the shipped model (${prevLoss.toFixed(4)}); kept it`);
      console.log(JSON.stringify({ exported: false, step, heldout_loss: held.loss, shipped_heldout_loss: prevLoss }));
      model.dispose();
      return;
    }
  }
  const config = configJson(settings, tok.vocabSize, 'float16');
  const dtype = ((settings.export as Json).dtype as 'F16' | 'F32') ?? 'F16';
  const weights = encodeSafetensors(await tensorsOf(model, dtype), { format: 'pt' });
  const extra = a.has('extra') ? readJson(a.get('extra')!) : {};
  const summary = {
    recipe: 'npm run pretrain:default (scripts/default-model/pretrain.mjs, settings scripts/default-model/settings.json)',
    settings: { seed: settings.seed, tokenizer: settings.tokenizer, model: settings.model, train: state.meta.config },
    parameters: model.numParameters(),
    step,
    tokens_seen: state.meta.trainer.tokensSeen,
    heldout: { file: 'corpus-heldout.txt', bytes: Number.isFinite(heldoutBytes) ? `first whole documents up to ${heldoutBytes}` : 'all', ...held },
    ...extra,
  };
  writeFolder(out, {
    'config.json': `${JSON.stringify(config, null, 2)}\n`,
    'generation_config.json': `${JSON.stringify(generationConfigJson(), null, 2)}\n`,
    'tokenizer.json': JSON.stringify(tok.tokenizerJson),
    'tokenizer_config.json': `${JSON.stringify(tok.tokenizerConfig, null, 2)}\n`,
    'model.safetensors': weights,
    'heldout-sample.txt': heldoutSample(heldout, (settings.export as Json).heldoutSampleBytes as number),
    'training.json': `${JSON.stringify(summary, null, 2)}\n`,
  });
  console.error(`export: wrote ${out} (model.safetensors ${(weights.length / 1e6).toFixed(2)} MB ${dtype})`);
  console.log(JSON.stringify({ exported: true, step, heldout_loss: held.loss, out }));
  model.dispose();
}

async function evalCmd(a: Map<string, string>) {
  await initBackend('cpu');
  const dir = need(a, 'model');
  const model = await loadModel(dirSource(dir));
  const tok = await loadTokenizer(dirSource(dir));
  const r = await heldoutLoss(model, tok, need(a, 'heldout'), Number(a.get('max-length') ?? 128), Number(a.get('bytes') ?? Infinity));
  console.log(JSON.stringify(r));
  model.dispose();
}


const [cmd, ...rest] = process.argv.slice(2);
const run = { init, export: exportCmd, eval: evalCmd }[cmd ?? ''];
if (!run) {
  console.error('usage: build-model.ts init|export|eval …');
  process.exit(2);
}
run(args(rest)).catch((e) => {
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
});
