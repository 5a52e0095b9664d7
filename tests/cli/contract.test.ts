// The CLI contract at its edges, as an outside check would meet it: input that HF refuses or reads
// differently (labels outside the vocabulary, no label left to count, GPT-2 past its positions, a padding
// mask, an unprefixed GPT-2 file), sampling flags, strict arguments, and the training commands' checks
// (lengths past the positions, data check's defaults, resume and export against the state, outputs written
// whole). Every failure: exit 2 and the one `error:` line alone on stderr.
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { whetstone, tmpDir, expectCliError } from './run-cli';
import { fixture, modelFolder, readReference, relErr, sentimentJsonl } from '../helpers';
import { encodeSafetensors, openSafetensors, type TensorToWrite } from '../../src/core/safetensors';

const dir = tmpDir();

/** An input file for `forward`: I32 tensors [B, T]. */
function inputFile(name: string, tensors: Record<string, number[][]>): string {
  const list: TensorToWrite[] = Object.entries(tensors).map(([n, rows]) => ({
    name: n,
    dtype: 'I32',
    shape: [rows.length, rows[0]?.length ?? 0],
    data: Int32Array.from(rows.flat()),
  }));
  const file = path.join(dir, name);
  fs.writeFileSync(file, encodeSafetensors(list));
  return file;
}

async function tensorsOf(file: string): Promise<Map<string, Float32Array>> {
  const reader = await openSafetensors(new Uint8Array(fs.readFileSync(file)), file);
  const out = new Map<string, Float32Array>();
  for (const e of reader.entries) out.set(e.name, await reader.readF32(e.name));
  return out;
}

const forward = (model: string, input: string, out: string, ...more: string[]) =>
  whetstone(['forward', '--model', model, '--input', input, '--output', path.join(dir, out), '--backend', 'cpu', ...more]);

describe('forward: what HF refuses or reads differently', () => {
  const llama = fixture('model-llama');
  const row = [1, 5, 9, 13, 17, 21];

  it('labels outside the vocabulary are refused by position; -100 is ignored', () => {
    expectCliError(
      forward(llama, inputFile('oov.safetensors', { input_ids: [row], labels: [[1, 5, 9, 9999, 17, 21]] }), 'o.safetensors'),
      /labels\[0\]\[3\] = 9999 is outside the vocabulary/,
    );
    expectCliError(
      forward(llama, inputFile('neg.safetensors', { input_ids: [row], labels: [[1, 5, -5, 13, 17, 21]] }), 'o.safetensors'),
      /labels\[0\]\[2\] = -5/,
    );
    const ok = forward(
      llama,
      inputFile('ign.safetensors', { input_ids: [row], labels: [[-100, 5, -100, 13, 17, 21]] }),
      'ign-out.safetensors',
    );
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('no label left to count (all -100, or one token) gives a NaN loss, as mean over none does in HF', async () => {
    const all = forward(
      llama,
      inputFile('allign.safetensors', { input_ids: [row], labels: [row.map(() => -100)] }),
      'allign-out.safetensors',
    );
    expect(all.code, all.stderr).toBe(0);
    expect(Number.isNaN((await tensorsOf(path.join(dir, 'allign-out.safetensors'))).get('loss')![0])).toBe(true);
    const one = forward(llama, inputFile('t1.safetensors', { input_ids: [[5]], labels: [[5]] }), 't1-out.safetensors');
    expect(one.code, one.stderr).toBe(0);
    expect(Number.isNaN((await tensorsOf(path.join(dir, 't1-out.safetensors'))).get('loss')![0])).toBe(true);
    // a counted label keeps a finite loss
    const some = forward(
      llama,
      inputFile('some.safetensors', { input_ids: [row], labels: [[-100, -100, -100, -100, -100, 21]] }),
      'some-out.safetensors',
    );
    expect(Number.isFinite((await tensorsOf(path.join(dir, 'some-out.safetensors'))).get('loss')![0])).toBe(true);
  });

  it('an empty batch is refused; GPT-2 past n_positions is refused by forward and generate (prompt), ended by generate (new tokens)', () => {
    expectCliError(forward(llama, inputFile('t0.safetensors', { input_ids: [[]] }), 'o.safetensors'), /holds no token/);
    const gpt2 = fixture('model-gpt2');
    const positions = JSON.parse(fs.readFileSync(path.join(gpt2, 'config.json'), 'utf8')).n_positions as number;
    const long = Array.from({ length: positions + 1 }, (_, i) => (i % 50) + 1);
    expectCliError(
      forward(gpt2, inputFile('long.safetensors', { input_ids: [long] }), 'o.safetensors'),
      new RegExp(`input_ids is ${positions + 1} tokens, more than the ${positions} positions`),
    );
    expectCliError(
      whetstone(['generate', '--model', gpt2, '--ids', long.join(','), '--max-new-tokens', '2', '--backend', 'cpu']),
      /the prompt is \d+ tokens, more than the \d+ positions/,
    );
    const r = whetstone([
      'generate',
      '--model',
      gpt2,
      '--ids',
      long.slice(2).join(','),
      '--max-new-tokens',
      '5',
      '--greedy',
      '--no-eos-stop',
      '--backend',
      'cpu',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.ids).toHaveLength(positions);
  });

  it('attention_mask keeps padding out of attention: a left-padded row does not depend on its pad ids', async () => {
    const ids = (pad: number) => [row, [pad, pad, 9, 13, 17, 21]];
    const mask = [row.map(() => 1), [0, 0, 1, 1, 1, 1]];
    const run = async (pad: number, withMask: boolean) => {
      const name = `pad${pad}${withMask ? 'm' : ''}`;
      const r = forward(
        llama,
        inputFile(`${name}.safetensors`, withMask ? { input_ids: ids(pad), attention_mask: mask } : { input_ids: ids(pad) }),
        `${name}-out.safetensors`,
      );
      expect(r.code, r.stderr).toBe(0);
      const logits = (await tensorsOf(path.join(dir, `${name}-out.safetensors`))).get('logits')!;
      const v = logits.length / 12;
      return logits.slice(8 * v); // row 1, positions 2..5: the real tokens
    };
    expect(relErr(await run(0, true), await run(7, true))).toBeLessThanOrEqual(1e-6);
    expect(relErr(await run(0, false), await run(7, false))).toBeGreaterThan(1e-3); // without the mask the pads are seen
    expectCliError(
      forward(llama, inputFile('badmask.safetensors', { input_ids: [row], attention_mask: [[1, 1, 2, 1, 1, 1]] }), 'o.safetensors'),
      /attention_mask\[0\]\[2\] must be 0 or 1/,
    );
  });

  it('GPT-2 gradients carry HF parameter names (transformer.…) also when the file has none of the prefix', async () => {
    const copy = modelFolder('gpt2');
    const file = path.join(copy, 'model.safetensors');
    const reader = await openSafetensors(new Uint8Array(fs.readFileSync(file)), file);
    const renamed: TensorToWrite[] = [];
    for (const e of reader.entries)
      renamed.push({ name: e.name.replace(/^transformer\./, ''), dtype: 'F32', shape: e.shape, data: await reader.readF32(e.name) });
    expect(renamed.some((t) => t.name.startsWith('h.0.'))).toBe(true);
    fs.writeFileSync(file, encodeSafetensors(renamed));
    const input = path.join(fixture('model-gpt2'), 'reference.safetensors');
    const r = forward(copy, input, 'noprefix.safetensors', '--grads');
    expect(r.code, r.stderr).toBe(0);
    const out = await tensorsOf(path.join(dir, 'noprefix.safetensors'));
    const ref = await readReference('model-gpt2');
    const names = [...ref.keys()].filter((k) => k.startsWith('grad.')).sort();
    expect([...out.keys()].filter((k) => k.startsWith('grad.')).sort()).toEqual(names);
    for (const g of names) expect(relErr(out.get(g)!, ref.get(g)!.f32!), g).toBeLessThanOrEqual(1e-3);
  });
});

describe('generate and tokenize flags', () => {
  const llama = fixture('model-llama');
  const gen = (...more: string[]) =>
    whetstone(['generate', '--model', llama, '--ids', '1,5,9', '--max-new-tokens', '8', '--no-eos-stop', '--backend', 'cpu', ...more]);

  it('--top-k or --top-p alone sample (temperature 1, as HF do_sample); with --greedy they are refused', () => {
    const greedy = JSON.stringify(gen('--greedy').json.ids);
    const sampled = [1, 2, 3, 4].map((s) => JSON.stringify(gen('--top-k', '50', '--seed', String(s)).json.ids));
    expect(sampled.some((ids) => ids !== greedy)).toBe(true);
    expect(JSON.stringify(gen('--top-k', '50', '--seed', '2').json.ids)).toBe(sampled[1]); // reproducible
    expect(JSON.stringify(gen('--top-k', '1', '--seed', '5').json.ids)).toBe(greedy); // one candidate: greedy
    expectCliError(gen('--greedy', '--top-k', '5'), /--greedy and --top-k exclude each other/);
    expectCliError(gen('--greedy', '--temperature', '0.7'), /--greedy and --temperature/);
  });

  it('strict arguments: ids and numbers as written in decimal, no stray argument, a known backend', () => {
    for (const ids of ['0x10', '1e2', '1.0', '+5', '1,,2'])
      expectCliError(whetstone(['generate', '--model', llama, '--ids', ids, '--max-new-tokens', '2', '--backend', 'cpu']), /--ids must be/);
    expectCliError(gen('--top-k', '0x10'), /--top-k must be a number/);
    expectCliError(
      whetstone(['generate', '--model', llama, '--ids', '1', '--max-new-tokens=-1', '--backend', 'cpu']),
      /--max-new-tokens must be ≥ 0/,
    );
    expectCliError(gen('extra'), /unexpected argument "extra"/);
    const st = path.join(fixture('model-llama'), 'model.safetensors');
    expectCliError(whetstone(['inspect', st, st]), /unexpected argument/);
    expectCliError(whetstone(['inspect', st, '--backend', 'tpu']), /--backend must be cpu or webgpu, got tpu/);
    expectCliError(whetstone(['inspect', dir]), /: not a file/);
  });

  it('tokenize --chat on a tokenizer without a chat template is refused, as apply_chat_template raises', () => {
    const chat = path.join(dir, 'chat.json');
    fs.writeFileSync(chat, JSON.stringify([{ role: 'user', content: 'hi' }]));
    expectCliError(whetstone(['tokenize', '--tokenizer', fixture('tok-gpt2'), '--chat', chat]), /has no chat template/);
    const ok = whetstone(['tokenize', '--tokenizer', fixture('tok-qwen2'), '--chat', chat]);
    expect(ok.code, ok.stderr).toBe(0);
  });
});

describe('training commands: checked before work, outputs whole, resume and export against the state', () => {
  const gpt2 = modelFolder('gpt2');
  const llama = modelFolder('llama');
  const data = path.join(dir, 'sentiment.jsonl');
  fs.writeFileSync(data, sentimentJsonl(24));
  const positions = JSON.parse(fs.readFileSync(path.join(gpt2, 'config.json'), 'utf8')).n_positions as number;

  it('GPT-2: the default length is cut to n_positions, a longer --max-length is refused (train, eval, data check)', () => {
    const text = path.join(dir, 'long.txt');
    fs.writeFileSync(text, 'the quick brown fox jumps over the lazy dog. '.repeat(200));
    const trainText = (...more: string[]) =>
      whetstone(['train', '--model', gpt2, '--data', text, '--mode', 'text', '--steps', '1', '--backend', 'cpu', ...more]);
    const r = trainText('--out', path.join(dir, 'g1'));
    expect(r.code, r.stderr).toBe(0);
    const long = String(positions + 1);
    expectCliError(
      trainText('--max-length', long, '--out', path.join(dir, 'g2')),
      /--max-length is \d+ tokens, more than the \d+ positions/,
    );
    expect(fs.existsSync(path.join(dir, 'g2'))).toBe(false);
    const e = whetstone(['eval', '--model', gpt2, '--data', text, '--mode', 'text', '--backend', 'cpu']);
    expect(e.code, e.stderr).toBe(0);
    expectCliError(
      whetstone(['eval', '--model', gpt2, '--data', text, '--mode', 'text', '--max-length', long, '--backend', 'cpu']),
      /positions/,
    );
    const c = whetstone(['data', 'check', text, '--model', gpt2]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.json).toMatchObject({ mode: 'text', max_length: positions });
  });

  it('training values out of range are refused before any work', () => {
    const base = ['train', '--model', llama, '--data', data, '--mode', 'completion', '--backend', 'cpu', '--out', path.join(dir, 'never')];
    expectCliError(whetstone([...base, '--threshold=-1']), /threshold: must be ≥ 0/);
    expectCliError(whetstone([...base, '--checkpoint-every=-1']), /checkpoint-every: must be an integer ≥ 0/);
    expectCliError(whetstone([...base, '--warmup', '1.5']), /warmup: must be a ratio in \[0, 1\) or a whole number of steps/);
    expect(fs.existsSync(path.join(dir, 'never'))).toBe(false);
  });

  it('data check: the mode follows the format unless given, checked as train checks it', () => {
    const msgs = path.join(dir, 'msgs.jsonl');
    fs.writeFileSync(
      msgs,
      `${JSON.stringify({
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'hello there' },
        ],
      })}\n`,
    );
    const noReply = path.join(dir, 'noreply.jsonl');
    fs.writeFileSync(noReply, `${JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] })}\n`);
    const m = whetstone(['data', 'check', msgs, '--model', llama]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.json).toMatchObject({ format: 'messages', mode: 'chat', examples: 1, sequences: 1 });
    expect(whetstone(['data', 'check', data]).json).toMatchObject({ format: 'prompt-completion', mode: 'completion' });
    expectCliError(whetstone(['data', 'check', data, '--mode', 'bogus']), /mode/);
    expectCliError(
      whetstone(['data', 'check', msgs, '--mode', 'completion']),
      /msgs\.jsonl: messages data cannot train in completion mode/,
    );
    expectCliError(
      whetstone(['data', 'check', noReply, '--model', llama, '--mode', 'chat']),
      /noreply\.jsonl: no example carries a trained token/,
    );
  });

  // A learning rate high enough that validation loss rises between evaluations (so an extra one counts).
  const sums = path.join(dir, 'sums.jsonl');
  fs.writeFileSync(
    sums,
    Array.from({ length: 12 }, (_, i) => `${JSON.stringify({ prompt: `Q: what is ${i}+1?\nA:`, completion: ` ${i + 1}` })}\n`).join(''),
  );
  const run = [
    '--model',
    gpt2,
    '--data',
    sums,
    '--mode',
    'completion',
    '--batch',
    '2',
    '--lr',
    '0.3',
    '--eval-every',
    '2',
    '--patience',
    '1',
    '--dropout',
    '0',
    '--backend',
    'cpu',
  ];

  it('a run stopped off the evaluation schedule and resumed with the same command line equals the run that never stopped', () => {
    const one = path.join(dir, 'e6');
    const part = path.join(dir, 'e3');
    const a = whetstone(['train', ...run, '--steps', '6', '--out', one]);
    expect(a.code, a.stderr).toBe(0);
    expect(whetstone(['train', ...run, '--steps', '3', '--out', part]).code).toBe(0); // evaluated at 2, and at 3 (reported only)
    const b = whetstone(['train', ...run, '--steps', '6', '--resume', path.join(part, 'state.whetstone'), '--out', part]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.json).toEqual(a.json);
    expect(
      fs
        .readFileSync(path.join(part, 'adapter/adapter_model.safetensors'))
        .equals(fs.readFileSync(path.join(one, 'adapter/adapter_model.safetensors'))),
    ).toBe(true);
    // metrics.jsonl: each step once, as the one run logged them
    const steps = (d: string) =>
      fs
        .readFileSync(path.join(d, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((e) => e.type === 'step')
        .map((e) => [e.step, e.loss]);
    expect(steps(part)).toEqual(steps(one));
    // a setting other than the state's is refused, naming it
    expectCliError(
      whetstone([
        'train',
        ...run,
        '--lr',
        '0.1',
        '--steps',
        '6',
        '--resume',
        path.join(part, 'state.whetstone'),
        '--out',
        path.join(dir, 'e7'),
      ]),
      /keeps the state's settings, where lr is 0.3, not 0.1/,
    );
    expectCliError(
      whetstone(['train', ...run, '--lr', 'abc', '--resume', path.join(part, 'state.whetstone'), '--out', path.join(dir, 'e7')]),
      /--lr must be a number/,
    );
  });

  it("export refuses a base model other than the state's; an output in the way leaves nothing half written", () => {
    const out = path.join(dir, 'x1');
    expect(
      whetstone(['train', '--model', llama, '--data', data, '--mode', 'completion', '--steps', '1', '--backend', 'cpu', '--out', out]).code,
    ).toBe(0);
    const state = path.join(out, 'state.whetstone');
    const other = modelFolder('qwen2');
    expectCliError(
      whetstone(['export', '--state', state, '--format', 'merged', '--model', other, '--out', path.join(dir, 'm'), '--backend', 'cpu']),
      /different base model/,
    );
    const blocked = path.join(dir, 'blocked');
    fs.mkdirSync(path.join(blocked, 'adapter_model.safetensors'), { recursive: true });
    expectCliError(
      whetstone(['export', '--state', state, '--format', 'peft', '--out', blocked]),
      /adapter_model\.safetensors exists and is not a file/,
    );
    expect(fs.readdirSync(blocked)).toEqual(['adapter_model.safetensors']);
  });
});

describe('bench: shapes and flags checked before any step', () => {
  const tinyLlama = [
    'bench',
    '--shape',
    'smollm2-135m-lora',
    '--layers',
    '1',
    '--seq',
    '8',
    '--batch',
    '1',
    '--vocab',
    '64',
    '--steps',
    '1',
    '--warmup',
    '0',
    '--backend',
    'cpu',
  ];

  it('--d alone derives heads and key/value heads that fit; a d no head count fits is refused (it had looped forever)', () => {
    const r = whetstone([...tinyLlama, '--d', '64'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/"d":64,"heads":8,"kvHeads":2/);
    expectCliError(whetstone([...tinyLlama, '--d', '33'], { timeoutMs: 60_000 }), /head dimension d \/ heads = 33 is odd/);
    expectCliError(whetstone([...tinyLlama, '--kv-heads', '2']), /heads 9 is not a multiple of kv-heads 2/);
  });

  it('flags of the other mode, conflicting or out-of-range flags, and a tensor over the binding limit are refused', () => {
    expectCliError(
      whetstone(['bench', '--kernel', 'matmul', '--m', '2', '--n', '2', '--k', '2', '--shape', 'tiny', '--backend', 'cpu']),
      /--shape applies to the model benchmark/,
    );
    expectCliError(whetstone([...tinyLlama, '--m', '5']), /--m applies to --kernel benchmarks only/);
    expectCliError(whetstone([...tinyLlama, '--naive-only', '--leak-check']), /not with --naive-only/);
    expectCliError(whetstone([...tinyLlama, '--naive', '--naive-only']), /not both/);
    expectCliError(whetstone([...tinyLlama, '--leak-steps', '20']), /--leak-steps applies to --leak-check/);
    expectCliError(whetstone([...tinyLlama, '--seed=-1']), /--seed must be ≥ 0/);
    expectCliError(whetstone([...tinyLlama, '--lr', '0']), /--lr must be > 0/);
    expectCliError(
      whetstone([
        'bench',
        '--shape',
        'tiny',
        '--layers',
        '1',
        '--d',
        '32',
        '--seq',
        '16',
        '--batch',
        '1',
        '--vocab',
        '4096',
        '--max-binding-mib',
        '0.01',
        '--backend',
        'cpu',
      ]),
      /an MLP weight \[128 × 32\] needs 16384 bytes, more than the storage-binding limit of 10484 bytes/,
    );
    const help = whetstone(['bench', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/usage: whetstone/);
  });
});
