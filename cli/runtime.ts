// What every engine-using command does first: pick the backend (reported on stderr), quiet tfjs's
// Node banner, and load models, adapters and tokenizers from folders.
import { initBackend, maxBindingBytes, setMaxBindingBytes, type BackendName, type BackendInfo } from '../src/core/backend';
import { loadModel, type CausalLM } from '../src/core/models/model';
import { loadPeftAdapter } from '../src/core/lora';
import { loadTokenizer, type WhetTokenizer } from '../src/core/tokenizer';
import { UsageError, type Parsed } from './args';
import { dirSource } from './node-files';

export function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
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
