// The training CLI contract (train, export, eval, data check), run as a user runs it.
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { whetstone, tmpDir, expectCliError } from './run-cli';
import { modelFolder, sentimentJsonl } from '../helpers';
import { openSafetensors } from '../../src/core/safetensors';

const stepLosses = (dir: string) =>
  fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.type === 'step').map((e) => e.loss);

describe('whetstone train', () => {
  const llama = modelFolder('llama');
  const dir = tmpDir();
  const data = path.join(dir, 'sentiment.jsonl');
  fs.writeFileSync(data, sentimentJsonl(24));
  const common = ['--model', llama, '--data', data, '--mode', 'completion', '--batch', '4', '--lr', '1e-2', '--eval-every', '2', '--seed', '7', '--backend', 'cpu'];

  it('LoRA in completion mode writes the state, the PEFT adapter and metrics, and a JSON summary', async () => {
    const out = path.join(dir, 'run');
    const r = whetstone(['train', ...common, '--steps', '4', '--dropout', '0.1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(r.json).sort()).toEqual(['best_val_loss', 'steps', 'stopped_early', 'train_loss', 'val_loss']);
    expect(r.json.steps).toBe(4);
    expect(r.json.stopped_early).toBe(false);
    expect(r.stderr).toMatch(/4\/4 loss/);
    for (const f of ['state.whetstone', 'metrics.jsonl', 'adapter/adapter_config.json', 'adapter/adapter_model.safetensors']) expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    expect(stepLosses(out)).toHaveLength(4);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'adapter/adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 16, lora_dropout: 0.1 });
    const st = await openSafetensors(new Uint8Array(fs.readFileSync(path.join(out, 'adapter/adapter_model.safetensors'))), 'a');
    expect(st.entries.length).toBe(2 * 7 * 2);
  });

  it('--steps 2 then --resume --steps 4 equals one --steps 4 run, byte for byte', () => {
    const one = path.join(dir, 'one');
    const part = path.join(dir, 'part');
    const rest = path.join(dir, 'rest');
    expect(whetstone(['train', ...common, '--steps', '4', '--out', one]).code).toBe(0);
    expect(whetstone(['train', ...common, '--steps', '2', '--out', part]).code).toBe(0);
    const r = whetstone(['train', '--model', llama, '--data', data, '--resume', path.join(part, 'state.whetstone'), '--steps', '4', '--out', rest, '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.steps).toBe(4);
    expect([...stepLosses(part), ...stepLosses(rest)]).toEqual(stepLosses(one));
    expect(fs.readFileSync(path.join(rest, 'adapter/adapter_model.safetensors')).equals(fs.readFileSync(path.join(one, 'adapter/adapter_model.safetensors')))).toBe(true);
    // Resuming on other data is refused.
    const other = path.join(dir, 'other.jsonl');
    fs.writeFileSync(other, sentimentJsonl(24, 99));
    expectCliError(whetstone(['train', '--model', llama, '--data', other, '--resume', path.join(part, 'state.whetstone'), '--steps', '4', '--out', rest, '--backend', 'cpu']), /not the data the state was trained on/);
  });

  it('--gradient-checkpointing and --frozen-dtype f16 / int8 train with the losses of a plain run (dropout on); the state keeps the setting', async () => {
    const plain = path.join(dir, 'plain');
    const ckpt = path.join(dir, 'ckpt');
    const f16 = path.join(dir, 'ckpt-f16');
    const args = [...common, '--steps', '3', '--dropout', '0.1', '--model-dropout', '0.1'];
    expect(whetstone(['train', ...args, '--out', plain]).code).toBe(0);
    const r = whetstone(['train', ...args, '--gradient-checkpointing', '--out', ckpt]);
    expect(r.code, r.stderr).toBe(0);
    const [a, b] = [stepLosses(plain), stepLosses(ckpt)];
    expect(b).toHaveLength(3);
    for (let i = 0; i < 3; i++) expect(Math.abs(b[i] - a[i]), `step ${i + 1}`).toBeLessThanOrEqual(1e-5 * a[i]);
    const r16 = whetstone(['train', ...args, '--gradient-checkpointing', '--frozen-dtype', 'f16', '--out', f16]);
    expect(r16.code, r16.stderr).toBe(0);
    const c = stepLosses(f16);
    for (let i = 0; i < 3; i++) expect(Math.abs(c[i] - a[i]), `f16 step ${i + 1}`).toBeLessThanOrEqual(1e-2 * a[i]);
    const int8 = path.join(dir, 'int8');
    const r8 = whetstone(['train', ...args, '--frozen-dtype', 'int8', '--out', int8]);
    expect(r8.code, r8.stderr).toBe(0);
    const d8 = stepLosses(int8);
    for (let i = 0; i < 3; i++) expect(Math.abs(d8[i] - a[i]), `int8 step ${i + 1}`).toBeLessThanOrEqual(1e-2 * a[i]);
    // The adapter it exports is an ordinary PEFT adapter (f32 LoRA matrices of the same names).
    const entries = async (d: string) =>
      (await openSafetensors(new Uint8Array(fs.readFileSync(path.join(d, 'adapter/adapter_model.safetensors'))), d)).entries.map((e) => [e.name, e.dtype, e.shape]);
    expect(await entries(int8)).toEqual(await entries(plain));
    const recipe = path.join(dir, 'ckpt-recipe');
    expect(whetstone(['export', '--state', path.join(ckpt, 'state.whetstone'), '--format', 'recipe', '--out', recipe, '--data', data]).code).toBe(0);
    expect(fs.readFileSync(path.join(recipe, 'train.py'), 'utf8')).toMatch(/^GRADIENT_CHECKPOINTING = True/m);
  });

  it('exports a state as PEFT, merged and recipe; eval reports loss, perplexity and accuracy', () => {
    const state = path.join(dir, 'one', 'state.whetstone');
    const peft = whetstone(['export', '--state', state, '--format', 'peft', '--out', path.join(dir, 'x-peft')]);
    expect(peft.code, peft.stderr).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'x-peft/adapter_model.safetensors')).equals(fs.readFileSync(path.join(dir, 'one/adapter/adapter_model.safetensors')))).toBe(true);
    const merged = whetstone(['export', '--state', state, '--format', 'merged', '--out', path.join(dir, 'x-merged'), '--backend', 'cpu']);
    expect(merged.code, merged.stderr).toBe(0);
    expect(merged.json.files).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']));
    const recipe = whetstone(['export', '--state', state, '--format', 'recipe', '--out', path.join(dir, 'x-recipe'), '--backend', 'cpu']);
    expect(recipe.code, recipe.stderr).toBe(0);
    const lines = fs.readFileSync(path.join(dir, 'x-recipe/tokenized.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0].labels.length).toBe(lines[0].input_ids.length);
    expect(lines[0].labels).toContain(-100);

    const base = whetstone(['eval', '--model', path.join(dir, 'x-merged'), '--data', data, '--mode', 'completion', '--backend', 'cpu']);
    const tuned = whetstone(['eval', '--model', llama, '--adapter', path.join(dir, 'one/adapter'), '--data', data, '--mode', 'completion', '--backend', 'cpu']);
    expect(base.code, base.stderr).toBe(0);
    expect(Object.keys(tuned.json).sort()).toEqual(['examples', 'loss', 'perplexity', 'token_accuracy']);
    expect(tuned.json.examples).toBe(24);
    expect(tuned.json.perplexity).toBeCloseTo(Math.exp(tuned.json.loss), 6);
    // The merged model is the adapter folded in: same loss.
    expect(Math.abs(base.json.loss - tuned.json.loss)).toBeLessThan(1e-4);
  });

  it('trains full fine-tuning in text mode and LoRA in chat mode', () => {
    const gpt2 = modelFolder('gpt2');
    const txt = path.join(dir, 'domain.txt');
    fs.writeFileSync(txt, 'The party of the first part shall deliver the goods.\n\nThe term of this agreement is one year.\n\nPayment is due within thirty days.\n');
    const full = whetstone(['train', '--model', gpt2, '--data', txt, '--mode', 'text', '--method', 'full', '--max-length', '16', '--batch', '2', '--steps', '2', '--val-ratio', '0', '--out', path.join(dir, 'full'), '--backend', 'cpu']);
    expect(full.code, full.stderr).toBe(0);
    expect(full.json.val_loss).toBeNull();
    expect(fs.existsSync(path.join(dir, 'full/model/model.safetensors'))).toBe(true);
    const qwen = modelFolder('qwen2');
    const chat = path.join(dir, 'chat.jsonl');
    fs.writeFileSync(chat, Array.from({ length: 6 }, (_, i) => JSON.stringify({ messages: [{ role: 'user', content: `Hi ${i}` }, { role: 'assistant', content: `Hello ${i}!` }] })).join('\n'));
    const c = whetstone(['train', '--model', qwen, '--data', chat, '--mode', 'chat', '--steps', '2', '--batch', '3', '--out', path.join(dir, 'chat'), '--backend', 'cpu']);
    expect(c.code, c.stderr).toBe(0);
    expect(c.json.steps).toBe(2);
  });

  it('--max-binding-mib 0.046875 (48 KiB) trains the 600-token Llama fully with its embedding in 4 chunks; files hold it whole', async () => {
    const args = ['train', ...common, '--method', 'full', '--lr', '1e-3', '--steps', '2', '--eval-every', '0'];
    const chunked = path.join(dir, 'chunked');
    const whole = path.join(dir, 'whole');
    const r = whetstone([...args, '--max-binding-mib', '0.046875', '--out', chunked]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/storage-binding limit: 49152 bytes/);
    expect(whetstone([...args, '--out', whole]).code).toBe(0);
    // Same weights before the first step: the same first loss; after it the runs agree closely.
    const [a, b] = [stepLosses(chunked), stepLosses(whole)];
    expect(Math.abs(a[0] - b[0])).toBeLessThan(1e-5);
    expect(Math.abs(a[1] - b[1])).toBeLessThan(1e-3);
    for (const file of ['model/model.safetensors', 'state.whetstone']) {
      const st = await openSafetensors(new Uint8Array(fs.readFileSync(path.join(chunked, file))), file);
      const names = st.entries.map((e) => e.name);
      expect(
        names.some((n) => n.includes('#')),
        file,
      ).toBe(false);
      const emb = st.entries.find((e) => e.name.endsWith('model.embed_tokens.weight'))!;
      expect(emb.shape, file).toEqual([600, 64]);
      const other = await openSafetensors(new Uint8Array(fs.readFileSync(path.join(whole, file))), file);
      expect(names.sort(), file).toEqual(other.entries.map((e) => e.name).sort());
    }
  });

  it('--kfold 3 trains three folds and reports each best validation loss with mean ± sd', () => {
    const out = path.join(dir, 'kfold');
    const r = whetstone(['train', ...common, '--steps', '2', '--kfold', '3', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.kfold.folds).toHaveLength(3);
    const best = r.json.kfold.folds.map((f: { best_val_loss: number }) => f.best_val_loss);
    const mean = best.reduce((a: number, b: number) => a + b, 0) / 3;
    expect(r.json.kfold.mean).toBeCloseTo(mean, 10);
    expect(r.json.kfold.sd).toBeGreaterThan(0);
    for (let i = 1; i <= 3; i++) expect(fs.existsSync(path.join(out, `fold-${i}`, 'adapter', 'adapter_model.safetensors'))).toBe(true);
  });

  it('bad input is a clear error naming the file and line', () => {
    const bad = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(bad, '{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": \n');
    expectCliError(whetstone(['data', 'check', bad]), /bad\.jsonl:2: /);
    expectCliError(whetstone(['train', ...common, '--data', bad, '--steps', '1', '--out', path.join(dir, 'bad')]), /bad\.jsonl:2: /);
    expect(fs.existsSync(path.join(dir, 'bad'))).toBe(false);
    const ok = whetstone(['data', 'check', data, '--model', llama, '--mode', 'completion']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json).toMatchObject({ format: 'prompt-completion', examples: 24 });
    expect(ok.json.tokens).toBeGreaterThan(24);
    expectCliError(whetstone(['train', ...common, '--steps', '1', '--lr', '-1', '--out', path.join(dir, 'x')]), /lr/);
    expectCliError(whetstone(['train', '--model', llama, '--data', data, '--steps', '1', '--out', path.join(dir, 'x'), '--backend', 'cpu']), /--mode/);
  });
});
