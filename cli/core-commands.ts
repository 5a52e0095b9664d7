// inspect, tokenize, forward, generate: the engine core as commands.
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { openSafetensors, encodeSafetensors, type TensorToWrite } from '../src/core/safetensors';
import { loadTokenizer } from '../src/core/tokenizer';
import type { ChatMessage } from '../src/core/chat-template';
import { causalLmLoss, IGNORE_INDEX } from '../src/core/train/loss';
import { checkPositions } from '../src/core/hf-config';
import { lossAndGrads } from '../src/core/train/gradients';
import { generate } from '../src/core/generate';
import { parse, UsageError } from './args';
import { dirSource, fileBlob } from './node-files';
import { openModel, startBackend } from './runtime';
import type { Command } from './main';

async function inspect(argv: string[]) {
  const args = parse(argv, {}, 1);
  const file = args.positionals[0];
  if (!file) throw new UsageError('usage: whetstone inspect FILE.safetensors');
  const reader = await openSafetensors(await fileBlob(file), file);
  return {
    tensors: reader.entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape })),
    metadata: { ...reader.metadata },
  };
}

function readMessages(file: string): ChatMessage[] {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: ${(e as Error).message}`);
  }
  if (!Array.isArray(json)) throw new UsageError(`${file}: expected a JSON array of {role, content}`);
  return json.map((m, i) => {
    if (!m || typeof m !== 'object' || typeof m.role !== 'string' || typeof m.content !== 'string') {
      throw new UsageError(`${file}: message ${i} must be an object with string role and content`);
    }
    return { role: m.role, content: m.content };
  });
}

async function tokenize(argv: string[]) {
  const args = parse(argv, {
    tokenizer: { type: 'string' },
    text: { type: 'string' },
    chat: { type: 'string' },
    'no-special': { type: 'boolean' },
    'add-generation-prompt': { type: 'boolean' },
  });
  const tok = await loadTokenizer(dirSource(args.need('tokenizer')));
  const chat = args.str('chat');
  const text = args.str('text');
  if ((chat === undefined) === (text === undefined)) throw new UsageError('give exactly one of --text TEXT or --chat MESSAGES.json');
  if (chat !== undefined) {
    // As transformers' apply_chat_template, which raises without a template (training falls back to ChatML, announced).
    if (!tok.hasOwnChatTemplate)
      throw new UsageError(
        `${args.need('tokenizer')}: the tokenizer has no chat template (chat_template in tokenizer_config.json or chat_template.jinja)`,
      );
    const rendered = tok.applyChatTemplate(readMessages(chat), { addGenerationPrompt: args.bool('add-generation-prompt') });
    return { text: rendered, ids: tok.encode(rendered, { addSpecialTokens: false }) };
  }
  return { ids: tok.encode(text!, { addSpecialTokens: !args.bool('no-special') }) };
}

async function readIds(reader: Awaited<ReturnType<typeof openSafetensors>>, name: string, file: string): Promise<tf.Tensor2D> {
  const e = reader.get(name)!;
  if (e.shape.length !== 2) throw new UsageError(`${file}: ${name} must be 2-D [B, T], got [${e.shape.join(', ')}]`);
  return tf.tensor2d(await reader.readI32(name), e.shape as [number, number], 'int32');
}

async function forward(argv: string[]) {
  const args = parse(argv, {
    model: { type: 'string' },
    adapter: { type: 'string' },
    input: { type: 'string' },
    output: { type: 'string' },
    grads: { type: 'boolean' },
  });
  const inFile = args.need('input');
  const outFile = args.need('output');
  await startBackend(args);
  const reader = await openSafetensors(await fileBlob(inFile), inFile);
  if (!reader.get('input_ids')) throw new UsageError(`${inFile}: no tensor input_ids`);
  const model = await openModel(args);
  const ids = await readIds(reader, 'input_ids', inFile);
  const [b, t] = ids.shape;
  if (b === 0 || t === 0) throw new UsageError(`${inFile}: input_ids [${b}, ${t}] holds no token`);
  checkPositions(model.config, t, `${inFile}: input_ids`);
  const vocab = model.config.vocabSize;
  /** Values outside [0, V) (and not `allowed`): the first, named by its position. */
  const checkRange = async (x: tf.Tensor2D, name: string, allowed?: number) => {
    const v = await x.data();
    const bad = v.findIndex((y) => y !== allowed && (y < 0 || y >= vocab));
    const what = allowed === undefined ? '' : ` (nor ${allowed}, ignored)`;
    if (bad >= 0)
      throw new UsageError(
        `${inFile}: ${name}[${Math.floor(bad / t)}][${bad % t}] = ${v[bad]} is outside the vocabulary (0..${vocab - 1})${what}`,
      );
    return v;
  };
  await checkRange(ids, 'input_ids');
  let labels: tf.Tensor2D | null = null;
  let counted = 0; // labels that count toward the loss: after the shift by one, not IGNORE_INDEX
  if (reader.get('labels')) {
    labels = await readIds(reader, 'labels', inFile);
    if (labels.shape[0] !== b || labels.shape[1] !== t)
      throw new UsageError(`${inFile}: labels shape [${labels.shape}] differs from input_ids [${b}, ${t}]`);
    const v = await checkRange(labels, 'labels', IGNORE_INDEX);
    v.forEach((y, i) => (counted += i % t > 0 && y !== IGNORE_INDEX ? 1 : 0));
  }
  let attentionMask: tf.Tensor2D | undefined;
  if (reader.get('attention_mask')) {
    attentionMask = await readIds(reader, 'attention_mask', inFile);
    if (attentionMask.shape[0] !== b || attentionMask.shape[1] !== t)
      throw new UsageError(`${inFile}: attention_mask shape [${attentionMask.shape}] differs from input_ids [${b}, ${t}]`);
    const bad = (await attentionMask.data()).findIndex((y) => y !== 0 && y !== 1);
    if (bad >= 0) throw new UsageError(`${inFile}: attention_mask[${Math.floor(bad / t)}][${bad % t}] must be 0 or 1`);
  }
  if (args.bool('grads') && !labels) throw new UsageError('--grads needs labels in the input file');

  const out: TensorToWrite[] = [];
  const logits = tf.tidy(() => model.forward(ids, { attentionMask }));
  out.push({ name: 'logits', dtype: 'F32', shape: [b, t, vocab], data: (await logits.data()) as Float32Array });
  if (labels) {
    // No label left to count: HF's mean over none is NaN (the engine's loss is 0 there, for training).
    const loss = counted > 0 ? await causalLmLoss(logits, labels).data() : new Float32Array([NaN]);
    out.push({ name: 'loss', dtype: 'F32', shape: [1], data: loss as Float32Array });
  }
  if (args.bool('grads') && labels) {
    const { loss, grads } = lossAndGrads(model, ids, labels, model.params, { attentionMask });
    // Under HF's parameter names (named_parameters: GPT-2's with transformer., whatever the file's naming).
    for (const [name, g] of grads) {
      out.push({ name: `grad.${name}`, dtype: 'F32', shape: g.shape, data: (await g.data()) as Float32Array });
    }
    tf.dispose([loss, ...grads.values()]);
  }
  fs.writeFileSync(outFile, encodeSafetensors(out));
  return { output: outFile, tensors: out.length };
}

async function generateCommand(argv: string[]) {
  const args = parse(argv, {
    model: { type: 'string' },
    adapter: { type: 'string' },
    ids: { type: 'string' },
    'max-new-tokens': { type: 'string' },
    greedy: { type: 'boolean' },
    temperature: { type: 'string' },
    'top-p': { type: 'string' },
    'top-k': { type: 'string' },
    seed: { type: 'string' },
    'no-eos-stop': { type: 'boolean' },
  });
  const idsText = args.need('ids');
  const ids = idsText.split(',').map((s) => {
    if (!/^\d+$/.test(s.trim()))
      throw new UsageError(`--ids must be comma-separated non-negative integers, got ${JSON.stringify(idsText)}`);
    return Number(s.trim());
  });
  const maxNew = args.int('max-new-tokens');
  if (maxNew === undefined) throw new UsageError('--max-new-tokens N is required');
  if (maxNew < 0) throw new UsageError(`--max-new-tokens must be ≥ 0, got ${maxNew}`);
  const temperature = args.num('temperature');
  if (temperature !== undefined && temperature < 0) throw new UsageError('--temperature must be ≥ 0');
  const topP = args.num('top-p');
  if (topP !== undefined && !(topP > 0 && topP <= 1)) throw new UsageError('--top-p must be in (0, 1]');
  const topK = args.int('top-k');
  if (topK !== undefined && topK < 0) throw new UsageError('--top-k must be ≥ 0');
  // Any sampling option samples (at temperature 1 unless given, as HF's do_sample); none: greedy.
  const sampling = (['temperature', 'top-p', 'top-k'] as const).filter((f) => args.str(f) !== undefined);
  if (args.bool('greedy') && sampling.length) throw new UsageError(`--greedy and --${sampling[0]} exclude each other`);
  await startBackend(args);
  const model = await openModel(args);
  const bad = ids.find((x) => x >= model.config.vocabSize);
  if (bad !== undefined) throw new UsageError(`--ids: ${bad} is outside the vocabulary (0..${model.config.vocabSize - 1})`);
  const stopIds = args.bool('no-eos-stop') ? [] : await eosIds(args.need('model'), model.config.eosTokenIds);
  const out = await generate(model, ids, {
    maxNewTokens: maxNew,
    greedy: sampling.length === 0,
    temperature: temperature ?? 1,
    topP,
    topK,
    seed: args.int('seed') ?? 0,
    stopIds,
  });
  return { ids: out };
}

/** EOS ids from config.json and generation_config.json (which may list several). */
async function eosIds(dir: string, fromConfig: number[]): Promise<number[]> {
  const ids = new Set(fromConfig);
  const src = dirSource(dir);
  if (src.has('generation_config.json')) {
    try {
      const g = JSON.parse(await (await src.blob('generation_config.json')).text());
      for (const id of [g.eos_token_id].flat()) if (typeof id === 'number') ids.add(id);
    } catch {
      // An unreadable generation config only loses extra stop ids.
    }
  }
  return [...ids];
}

export const coreCommands: Record<string, Command> = { inspect, tokenize, forward, generate: generateCommand };
