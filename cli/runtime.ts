// What every engine-using command does first: pick the backend (reported on stderr), quiet tfjs's
// Node banner, and load models, adapters and tokenizers from folders.
import { initBackend, maxBindingBytes, setMaxBindingBytes, type BackendName, type BackendInfo } from '../src/core/backend';
import { loadModel, type CausalLM } from '../src/core/models/model';
import { loadPeftAdapter } from '../src/core/lora';
import { loadTokenizer, type WhetTokenizer } from '../src/core/tokenizer';
import { UsageError, type Parsed } from './args';
import { dirSource } from './node-files';

// Notes on stderr wait until the command has begun its work (releaseNotes: the first training step, or the
// command's end): a command refused for its input prints the contract's one `error: …` line and nothing else.
let held: string[] | null = [];

export function log(msg: string): void {
  if (held) held.push(msg);
  else process.stderr.write(`${msg}\n`);
}

/** Prints the notes held so far; later ones go straight to stderr. */
export function releaseNotes(): void {
  if (!held) return;
  const notes = held;
  held = null;
  for (const msg of notes) process.stderr.write(`${msg}\n`);
}

/** Forgets the held notes (the command failed before its work began: its error line says what matters). */
export function dropNotes(): void {
  held = null;
}

export async function startBackend(args: Parsed): Promise<BackendInfo> {
  const want = args.str('backend');
  if (want !== undefined && want !== 'cpu' && want !== 'webgpu') throw new UsageError(`--backend must be cpu or webgpu, got ${want}`);
  const info = await initBackend(want as BackendName | undefined);
  const adapter = info.adapter ? ` (${info.adapter.description || info.adapter.vendor})` : '';
  log(`backend: ${info.backend}${adapter}${info.fallbackReason ? ` — ${info.fallbackReason}` : ''}`);
  return info;
}

/**
 * `--max-binding-mib N` (fractions allowed): from now on the engine behaves as if the adapter's storage
 * bindings held at most N MiB, splitting vocabulary-sized tensors to fit. Call after startBackend.
 */
export function applyBindingLimit(args: Parsed): void {
  const mib = args.num('max-binding-mib');
  if (mib === undefined) return;
  if (!(mib > 0)) throw new UsageError(`--max-binding-mib must be a positive number, got ${mib}`);
  setMaxBindingBytes(Math.max(16, Math.floor(mib * 1024 * 1024)));
  log(`storage-binding limit: ${maxBindingBytes()} bytes (--max-binding-mib ${mib})`);
}

export async function openModel(args: Parsed): Promise<CausalLM> {
  const model = await loadModel(dirSource(args.need('model')));
  const adapterDir = args.str('adapter');
  if (adapterDir) await loadPeftAdapter(model, dirSource(adapterDir));
  return model;
}

/** The tokenizer in the model folder (or --tokenizer), null when the folder has none. */
export async function openTokenizer(dir: string): Promise<WhetTokenizer | null> {
  const src = dirSource(dir);
  return src.has('tokenizer.json') ? loadTokenizer(src) : null;
}
