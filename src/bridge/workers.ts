// The only place that talks to the workers: starts each one lazily, wraps it with comlink, passes
// callbacks as proxies, restarts a worker after it was terminated (abort) or crashed, and tells the app.
import { wrap, proxy, type Remote } from 'comlink';
import type { TrainApi } from '../../workers/train.worker';
import type { TokenizeApi } from '../../workers/tokenize.worker';

export type { TrainApi, TokenizeApi };

type CrashListener = (which: 'train' | 'tokenize', message: string) => void;
let onCrash: CrashListener = () => undefined;

/** Called when a worker dies (an uncaught error, out of memory): its pending calls will never answer. */
export function onWorkerCrash(listener: CrashListener): void {
  onCrash = listener;
}

/** The remote with every call racing the worker's end, so a terminated or crashed worker rejects its
 *  pending calls instead of leaving them unanswered forever. */
function guarded<T>(remote: Remote<T>, lost: Promise<never>): Remote<T> {
  return new Proxy(remote as object, {
    get(target, prop) {
      const member = (target as Record<string | symbol, unknown>)[prop];
      if (typeof member !== 'function') return member;
      return (...args: unknown[]) => Promise.race([(member as (...a: unknown[]) => Promise<unknown>)(...args), lost]);
    },
  }) as Remote<T>;
}

export class WorkerGoneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerGoneError';
  }
}

class WorkerHandle<T> {
  #worker: Worker | null = null;
  #remote: Remote<T> | null = null;
  #end: ((e: Error) => void) | null = null;
  readonly #which: 'train' | 'tokenize';
  readonly #create: () => Worker;
  readonly #onStart: ((api: Remote<T>) => void) | null;

  constructor(which: 'train' | 'tokenize', create: () => Worker, onStart: ((api: Remote<T>) => void) | null = null) {
    this.#which = which;
    this.#create = create;
    this.#onStart = onStart;
  }

  get started(): boolean {
    return this.#worker !== null;
  }

  get api(): Remote<T> {
    if (!this.#remote) {
      const w = this.#create();
      w.addEventListener('error', (e) => {
        e.preventDefault();
        const message = e.message || 'the worker stopped unexpectedly';
        this.terminate(`the ${this.#which === 'train' ? 'training' : 'tokenizer'} worker stopped: ${message}`);
        onCrash(this.#which, message);
      });
      const lost = new Promise<never>((_, reject) => (this.#end = reject));
      lost.catch(() => undefined);
      this.#worker = w;
      this.#remote = guarded(wrap<T>(w), lost);
      this.#onStart?.(this.#remote);
    }
    return this.#remote;
  }

  /** Ends the worker at once (aborting whatever it was doing); the next call starts a fresh one. */
  terminate(reason = 'cancelled'): void {
    this.#worker?.terminate();
    this.#end?.(new WorkerGoneError(reason));
    this.#worker = null;
    this.#remote = null;
    this.#end = null;
  }
}

const train = new WorkerHandle<TrainApi>('train', () => new Worker(new URL('../../workers/train.worker.ts', import.meta.url), { type: 'module', name: 'whetstone-train' }));

let tokenizer: { files: Record<string, Blob>; hash: string } | null = null;
const tokenize = new WorkerHandle<TokenizeApi>(
  'tokenize',
  () => new Worker(new URL('../../workers/tokenize.worker.ts', import.meta.url), { type: 'module', name: 'whetstone-tokenize' }),
  // A restarted tokenize worker gets the current tokenizer back before any other call.
  (api) => {
    if (tokenizer) void api.setTokenizer(tokenizer.files, tokenizer.hash).catch(() => undefined);
  },
);

export function trainApi(): Remote<TrainApi> {
  return train.api;
}

export function tokenizeApi(): Remote<TokenizeApi> {
  return tokenize.api;
}

/** Gives the tokenize worker the loaded model's tokenizer (kept for restarts). */
export async function setTokenizer(files: Record<string, Blob>, hash: string): Promise<void> {
  const api = tokenize.api;
  tokenizer = { files, hash };
  await api.setTokenizer(files, hash);
}

/** Aborts tokenization or import in progress: the worker is terminated and restarts on the next call. */
export function abortTokenize(): void {
  tokenize.terminate();
}

/** A callback the worker may call back (progress, events, streamed text). */
export function callback<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
  return proxy(fn);
}
