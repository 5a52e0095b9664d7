// The training worker's session: one base model and tokenizer, at most one training job, the run whose
// weights the model holds (for Compare and Export), all on src/core and src/store. train.worker.ts exposes it.
import * as tf from '@tensorflow/tfjs';
import { deviceErrorFor, initBackend, reinitBackend } from '../src/core/backend';
import { blobSource, type FileSource } from '../src/core/files';
import { loadModel, type CausalLM } from '../src/core/models/model';
import { loadTokenizer, type WhetTokenizer } from '../src/core/tokenizer';
import { generate as generateIds } from '../src/core/generate';
import { DeviceError, WhetstoneError } from '../src/core/errors';
import { checkPositions } from '../src/core/hf-config';
import { resolveTrainConfig, type TrainConfig } from '../src/core/train/config';
import { baseIdentity, foldsOf, setupMethod, splitData, tokenizerHash } from '../src/core/train/job';
import { Trainer, totalStepsFor, type TrainEvent, type TrainSummary } from '../src/core/train/trainer';
import { applyState, decodeState, encodeState, type BaseIdentity, type FullState } from '../src/core/checkpoint';
import { tokenizeExamples, type Sequence } from '../src/core/data/tokenize';
import type { Example } from '../src/core/data/formats';
import { exportPeftAdapter } from '../src/core/export/peft';
import { TARGET_PRESETS } from '../src/core/lora';
import { exportMergedFromBase } from '../src/core/export/merged';
import { exportRecipe } from '../src/core/export/recipe';
import * as db from '../src/store';
import { onStoreUpgraded, store } from './store-handle';
import { defaultModelSource, downloadHubModel, droppedSource } from './model-sources';
import { tokenizedKey } from '../src/bridge/cache-key';
import { runDemo as runDemoCore, type DemoResult } from '../src/core/demo';
import { DEMO_DATASETS, type DemoDataset } from '../src/core/demo-datasets';
import type {
  BackendReport,
  DefaultModelFile,
  DemoEvent,
  ExportKind,
  ExportResult,
  GenerateRequest,
  GenerateResult,
  LoadedRun,
  MetricRow,
  ModelInfo,
  ModelRef,
  ModelRequest,
  Progress,
  RunEvent,
  RunListItem,
  RunSettings,
  RunStarted,
  StartRunRequest,
  StoredModel,
} from '../src/bridge/protocol';

type Emit = (e: RunEvent) => unknown;

interface Loaded {
  info: ModelInfo;
  model: CausalLM;
  tok: WhetTokenizer;
  source: FileSource;
  identity: BaseIdentity;
  /** Full fine-tuning changed the base weights in place: reload them before the next run or a base generation. */
  baseChanged: boolean;
}

interface Job {
  runId: string;
  trainer: Trainer | null;
  stopRequested: boolean;
  done: Promise<void>;
  emit: Emit;
}

/** The run whose trained weights the model holds now. */
interface Current {
  runId: string;
  name: string;
  settings: RunSettings;
  step: number;
}

let env: { baseUrl: string; defaultFiles: DefaultModelFile[] } = { baseUrl: '/', defaultFiles: [] };
let backend: BackendReport | null = null;
let loaded: Loaded | null = null;
let job: Job | null = null;
let current: Current | null = null;
let baseCopy: CausalLM | null = null;
let generation: { done: Promise<unknown>; abort: AbortController } | null = null;
/** The GPU device was lost: the backend must be re-initialised and the model reloaded before more work. */
let deviceLost = false;
/** "Try the demo" is running (it holds the trainer lock and the GPU like a run). */
let demoRunning = false;

/** After a lost device: a fresh WebGPU device, and the model's tensors (gone with the old one) forgotten. */
async function recoverDevice(): Promise<void> {
  if (!deviceLost) return;
  await reinitBackend();
  loaded = null;
  baseCopy = null;
  current = null;
  deviceLost = false;
}

function fail(message: string, kind = 'app'): never {
  throw new WhetstoneError(kind, message);
}

function requireModel(): Loaded {
  if (!loaded) fail('no base model is loaded: open one on the Model screen first');
  return loaded;
}

async function init(opts: { baseUrl: string; defaultFiles: DefaultModelFile[]; backend?: 'cpu' | 'webgpu' }): Promise<BackendReport> {
  env = { baseUrl: opts.baseUrl, defaultFiles: opts.defaultFiles };
  if (!backend) {
    const info = await initBackend(opts.backend);
    backend = {
      backend: info.backend,
      adapter: info.adapter ? { ...info.adapter, features: [...info.adapter.features] } : null,
      fallbackReason: info.fallbackReason,
      subgroups: info.subgroups,
    };
  }
  return backend;
}

// ---- models ----

function sameModelRef(a: ModelRef, b: ModelRef): boolean {
  return a.kind === b.kind && (a.kind === 'default' || (b.kind === 'stored' && a.id === b.id));
}

async function storeModelFiles(name: string, origin: string, source: FileSource): Promise<string> {
  const s = await store();
  const files = await Promise.all(source.list().map(async (n) => ({ name: n, data: await source.blob(n) })));
  // The same folder opened again reuses its stored copy instead of storing it twice.
  const sizes = (list: { name: string; size: number }[]) => JSON.stringify(list.map((f) => [f.name, f.size]).sort());
  const want = sizes(files.map((f) => ({ name: f.name, size: f.data.size })));
  for (const m of await db.listModels(s)) {
    if (m.name === name && sizes(m.files) === want) return m.id;
  }
  const rec = await db.importModel(s, {
    name,
    source: origin,
    files: files.map((f) => ({ name: f.name, data: f.data, type: f.data.type })),
  });
  return rec.id;
}

let modelQueue: Promise<unknown> = Promise.resolve();

/** Model loads one at a time (a reopened session and a resume may ask at once). */
function openModel(req: ModelRequest, onProgress?: (p: Progress) => void): Promise<ModelInfo> {
  const next = modelQueue.then(() => openModelNow(req, onProgress));
  modelQueue = next.catch(() => undefined);
  return next;
}

async function openModelNow(req: ModelRequest, onProgress?: (p: Progress) => void): Promise<ModelInfo> {
  if (job) fail('a training run is in progress: stop it before changing the base model');
  await recoverDevice();
  const progress = (phase: string, done = 0, total = 0) => void onProgress?.({ phase, done, total });
  let source: FileSource;
  let name: string;
  let ref: ModelRef | null = null;
  let origin = 'files';
  if (req.kind === 'default') {
    if (env.defaultFiles.length === 0)
      fail('this build has no embedded default model (public/models/default is empty): open a model folder or download one');
    source = defaultModelSource(env.baseUrl, env.defaultFiles);
    name = 'default';
    ref = { kind: 'default' };
  } else if (req.kind === 'stored') {
    const s = await store();
    const rec = await db.getModel(s, req.id);
    if (!rec) fail(`the stored model ${req.id} no longer exists`);
    source = await db.modelSource(s, req.id);
    name = rec.name;
    ref = { kind: 'stored', id: rec.id };
  } else if (req.kind === 'files') {
    source = droppedSource(req.label, req.files);
    name = req.label;
  } else {
    progress('asking the Hub for the file list');
    const dl = await downloadHubModel(req.repo + (req.revision ? `@${req.revision}` : ''), (p) => onProgress?.(p));
    source = blobSource(dl.name, new Map(dl.files.map((f) => [f.name, f.data as Blob])));
    name = dl.name;
    origin = 'hub';
  }
  progress('reading the weights');
  const model = await loadModel(source);
  // Loose files have no folder name: name the model by what it is.
  if (req.kind === 'files' && name === 'local model')
    name = `local ${model.config.modelType} model (${(model.numParameters() / 1e6).toFixed(2)} M)`;
  let tok: WhetTokenizer;
  try {
    progress('reading the tokenizer');
    tok = await loadTokenizer(source);
    if (tok.vocabSize > model.config.vocabSize) {
      fail(
        `${source.label}: the tokenizer has ${tok.vocabSize} tokens but the model's vocabulary has ${model.config.vocabSize}: they do not belong together`,
        'tokenizer',
      );
    }
    if (!ref) {
      progress('storing the model in this browser');
      ref = { kind: 'stored', id: await storeModelFiles(name, origin, source) };
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  disposeModel();
  const tokenizerFiles: Record<string, Blob> = {};
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja', 'chat_template.json']) {
    if (source.has(f)) tokenizerFiles[f] = await source.blob(f);
  }
  const c = model.config;
  const info: ModelInfo = {
    ref,
    name,
    shape: {
      modelType: c.modelType,
      vocabSize: c.vocabSize,
      hiddenSize: c.hiddenSize,
      numLayers: c.numLayers,
      numHeads: c.numHeads,
      numKvHeads: c.numKvHeads,
      headDim: c.headDim,
      intermediateSize: c.intermediateSize,
      maxPositions: c.maxPositions,
      tieWordEmbeddings: c.tieWordEmbeddings,
    },
    numParameters: model.numParameters(),
    ownChatTemplate: tok.hasOwnChatTemplate,
    eosToken: tok.eosToken,
    tokenizerFiles,
    tokenizerHash: await tokenizerHash(tok),
  };
  loaded = { info, model, tok, source, identity: await baseIdentity(model, name), baseChanged: false };
  return info;
}

function disposeModel(): void {
  loaded?.model.dispose();
  baseCopy?.dispose();
  loaded = null;
  baseCopy = null;
  current = null;
}

async function ensureModel(ref: ModelRef): Promise<Loaded> {
  await modelQueue;
  if (loaded && sameModelRef(loaded.info.ref, ref)) return loaded;
  await openModel(ref);
  return loaded!;
}

/** Puts the pristine base weights back after a full fine-tune changed them. */
async function restoreBaseWeights(l: Loaded): Promise<void> {
  if (!l.baseChanged) return;
  const fresh = await loadModel(l.source);
  for (const [name, v] of l.model.params) v.assign(fresh.params.get(name)!);
  fresh.dispose();
  l.baseChanged = false;
}

async function listModels(): Promise<StoredModel[]> {
  const s = await store();
  return (await db.listModels(s)).map((m) => ({ id: m.id, name: m.name, source: m.source, size: m.totalSize, createdAt: m.createdAt }));
}

async function deleteModel(id: string): Promise<void> {
  if (loaded?.info.ref.kind === 'stored' && loaded.info.ref.id === id && job) fail('this model is training: stop the run first');
  await db.deleteModel(await store(), id);
}

// ---- data ----

async function sequencesFor(l: Loaded, settings: RunSettings): Promise<Sequence[]> {
  const s = await store();
  const c = settings.train;
  checkPositions(l.model.config, c.maxLength, 'the max length'); // GPT-2 has no position past n_positions
  const key = tokenizedKey(
    { datasetId: settings.datasetId, mode: c.mode, maxLength: c.maxLength, trainOnPrompt: c.trainOnPrompt },
    l.info.tokenizerHash,
  );
  const cached = await db.getTokenized(s, key);
  if (cached?.labels) return cached.sequences.map((ids, i) => ({ inputIds: Array.from(ids), labels: Array.from(cached.labels![i]) }));
  // Not tokenized yet for this model and mode (the Data screen normally does it in the tokenize worker).
  const examples = await db.getDatasetExamples<Example>(s, settings.datasetId);
  const { sequences, stats } = tokenizeExamples(examples, l.tok, { mode: c.mode, maxLength: c.maxLength, trainOnPrompt: c.trainOnPrompt });
  await db
    .putTokenized(s, key, {
      sequences: sequences.map((q) => Int32Array.from(q.inputIds)),
      labels: sequences.map((q) => Int32Array.from(q.labels)),
      stats,
    })
    .catch(() => undefined);
  return sequences;
}

// ---- runs ----

function memoryBytes(): number {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPUAllocated?: number; numBytesInGPU?: number };
  return m.numBytesInGPUAllocated ?? m.numBytesInGPU ?? m.numBytes;
}

function metricRow(e: TrainEvent, memory: number | null): MetricRow {
  const row: MetricRow = { ...(e as unknown as MetricRow), time: Date.now() };
  if (memory !== null) row.memoryBytes = memory;
  return row;
}

/**
 * Logs metrics in order without holding up the trainer: rows are written in batches (every 20 rows or
 * 2 s) and always before a checkpoint, so that the stored history covers every checkpointed step.
 * A failed write is reported once, not fatal.
 */
function metricLog(runId: string, emit: Emit) {
  let chain: Promise<void> = Promise.resolve();
  let buffer: MetricRow[] = [];
  let lastWrite = Date.now();
  let warned = false;
  const write = () => {
    const rows = buffer;
    buffer = [];
    lastWrite = Date.now();
    if (rows.length === 0) return chain;
    chain = chain.then(async () => {
      try {
        await db.appendMetrics(await store(), runId, rows);
      } catch (e) {
        if (!warned) emit({ type: 'status', runId, status: 'running', message: `metrics could not be saved: ${(e as Error).message}` });
        warned = true;
      }
    });
    return chain;
  };
  return {
    push(row: MetricRow) {
      buffer.push(row);
      if (buffer.length >= 20 || Date.now() - lastWrite > 2000) void write();
    },
    flush: write,
  };
}

async function setStatus(runId: string, status: db.RunStatus, emit: Emit, message?: string, interrupted = false): Promise<void> {
  await db.updateRun(await store(), runId, { status }).catch(() => undefined);
  emit({ type: 'status', runId, status, ...(message ? { message } : {}), ...(interrupted ? { interrupted: true as const } : {}) });
}

/** Trains one run on (train, val), from `resume` when given; checkpoints into IndexedDB. */
async function trainRun(
  l: Loaded,
  runId: string,
  name: string,
  settings: RunSettings,
  train: Sequence[],
  val: Sequence[],
  resume: FullState | null,
  emit: Emit,
): Promise<TrainSummary> {
  const config = settings.train;
  if (config.method === 'full' || l.baseChanged) await restoreBaseWeights(l);
  const { trainables, noDecay } = setupMethod(l.model, config);
  if (config.method === 'full') l.baseChanged = true;
  current = { runId, name, settings, step: resume?.meta.trainer.step ?? 0 };
  const log = metricLog(runId, emit);
  const tokHash = l.info.tokenizerHash;
  const trainer = new Trainer(l.model, {
    config,
    train,
    val,
    padId: l.tok.padTokenId ?? l.tok.eosTokenId ?? 0,
    trainables,
    noDecay,
    onEvent: (e) => {
      const memory = e.type === 'step' ? memoryBytes() : null;
      log.push(metricRow(e, memory));
      if (e.type === 'step') {
        current!.step = e.step;
        emit({ ...e, runId, memoryBytes: memory! });
      } else {
        emit({ ...e, runId } as RunEvent);
      }
    },
    onCheckpoint: async (t) => {
      await log.flush();
      const bytes = await encodeState(t, {
        base: l.identity,
        datasetHash: settings.datasetHash,
        tokenizerHash: tokHash,
        data: {
          datasetId: settings.datasetId,
          datasetName: settings.datasetName,
          runName: name,
          trainCount: train.length,
          valCount: val.length,
        },
      });
      await db.saveCheckpoint(await store(), runId, bytes, { step: t.state.step, method: config.method });
    },
  });
  if (resume) applyState(trainer, resume);
  job!.trainer = trainer;
  await setStatus(runId, 'running', emit);
  try {
    const summary = await trainer.run();
    await log.flush();
    await setStatus(
      runId,
      summary.stopped ? 'stopped' : 'completed',
      emit,
      summary.stopped_early
        ? `stopped early at step ${summary.steps}; best weights (validation loss ${summary.best_val_loss?.toFixed(4)}) restored`
        : undefined,
    );
    return summary;
  } finally {
    await log.flush();
    trainer.dispose();
    job!.trainer = null;
  }
}

async function newRun(name: string, settings: RunSettings): Promise<string> {
  const rec = await db.createRun(await store(), { name, config: settings, status: 'created' });
  return rec.id;
}

async function settingsFor(l: Loaded, datasetId: string, config: TrainConfig): Promise<RunSettings> {
  const s = await store();
  const ds = await db.getDataset(s, datasetId);
  if (!ds) fail('the dataset is gone from storage: import it again on the Data screen');
  const stats = (ds.stats ?? {}) as { sha256?: string };
  return {
    train: config,
    datasetId,
    datasetName: ds.name,
    datasetHash: stats.sha256 ?? '',
    model: l.info.ref,
    modelName: l.info.name,
  };
}

/** Starts a run (or a k-fold job) and returns once it is set up; progress and the end come as events. */
async function startRun(req: StartRunRequest, emit: Emit): Promise<RunStarted> {
  if (job) fail('a run is already in progress');
  if (demoRunning) fail('the demo is running: wait for it to finish');
  if (generation) fail('a generation is running: wait for it or stop it first');
  const l = requireModel();
  // The app names target presets ('attention', 'attention+mlp'); runs and exports store the module list.
  const targets = req.config.lora.targets as string[] | string;
  const preset = typeof targets === 'string' && targets !== 'all-linear' ? TARGET_PRESETS[l.model.config.modelType][targets] : undefined;
  const config = resolveTrainConfig({ ...req.config, lora: { ...req.config.lora, ...(preset ? { targets: preset } : {}) } });
  const settings = await settingsFor(l, req.datasetId, config);
  const sequences = await sequencesFor(l, settings);
  if (sequences.length === 0) fail('no example of this dataset carries a trained token in this mode (check the mode and the max length)');
  const k = req.kfold ?? 0;
  if (k >= 2) return startKFold(l, req.name, settings, sequences, k, emit);
  let split: { train: Sequence[]; val: Sequence[] };
  try {
    split = splitData(sequences, config);
  } catch (e) {
    fail(
      `cannot split ${sequences.length} sequences into training and validation: ${(e as Error).message} (lower the validation share to 0 or add data)`,
    );
  }
  const runId = await newRun(req.name, settings);
  const totalSteps = totalStepsFor(split.train.length, config);
  await launch(runId, emit, () => trainRun(l, runId, req.name, settings, split.train, split.val, null, emit)).catch(async (e) => {
    await db.deleteRun(await store(), runId).catch(() => undefined);
    throw e;
  });
  return { runId, totalSteps, trainCount: split.train.length, valCount: split.val.length };
}

interface LockManager {
  request(name: string, opts: { ifAvailable: boolean }, cb: (lock: unknown) => Promise<void> | void): Promise<unknown>;
}

/** One trainer per browser (Web Locks): two tabs training at once would fight over the GPU and the store. */
function acquireTrainerLock(): Promise<() => void> {
  const locks = (globalThis.navigator as unknown as { locks?: LockManager }).locks;
  if (!locks) return Promise.resolve(() => undefined);
  return new Promise((resolve, reject) => {
    locks
      .request('whetstone-trainer', { ifAvailable: true }, (lock) => {
        if (!lock) {
          reject(
            new WhetstoneError(
              'app',
              'another Whetstone tab or window is training: one run at a time in this browser (finish or stop it there first)',
            ),
          );
          return;
        }
        return new Promise<void>((release) => resolve(release));
      })
      .catch(reject);
  });
}

/** Runs `body` as the job in the background (under the trainer lock); its end is reported as a status event. */
async function launch(runId: string, emit: Emit, body: () => Promise<unknown>): Promise<void> {
  const j: Job = { runId, trainer: null, stopRequested: false, done: Promise.resolve(), emit };
  job = j;
  let release: () => void;
  try {
    release = await acquireTrainerLock();
  } catch (e) {
    job = null;
    throw e;
  }
  j.done = (async () => {
    try {
      await body();
    } catch (err) {
      const e = await deviceErrorFor(err);
      if (e instanceof DeviceError) {
        // Nothing is lost but the steps since the last checkpoint: offer to resume from it.
        deviceLost = true;
        await setStatus(
          job?.runId ?? runId,
          'paused',
          emit,
          `${e.message.replace(/[.\s]+$/, '')}. Resume to continue from the last checkpoint.`,
          true,
        );
      } else {
        await setStatus(job?.runId ?? runId, 'failed', emit, (e as Error).message);
      }
    } finally {
      job = null;
      release();
    }
  })();
}

async function startKFold(
  l: Loaded,
  name: string,
  settings: RunSettings,
  sequences: Sequence[],
  k: number,
  emit: Emit,
): Promise<RunStarted> {
  const folds = foldsOf(sequences, k, settings.train.seed);
  const jobId = crypto.randomUUID();
  const first = folds[0];
  const config = settings.train;
  const totalSteps = totalStepsFor(first.train.length, config);
  let firstId = '';
  const results: { fold: number; runId: string; bestValLoss: number | null }[] = [];
  const body = async () => {
    for (let i = 0; i < k; i++) {
      if (job?.stopRequested) break;
      const foldName = `${name} · fold ${i + 1}/${k}`;
      const foldSettings: RunSettings = { ...settings, kfold: { k, fold: i + 1, jobId } };
      const runId = i === 0 ? firstId : await newRun(foldName, foldSettings);
      job!.runId = runId;
      emit({ type: 'fold', runId, fold: i + 1, k });
      const summary = await trainRun(l, runId, foldName, foldSettings, folds[i].train, folds[i].val, null, emit);
      results.push({ fold: i + 1, runId, bestValLoss: summary.best_val_loss });
    }
    const best = results.map((r) => r.bestValLoss ?? NaN);
    const mean = best.reduce((a, b) => a + b, 0) / Math.max(1, best.length);
    const sd = Math.sqrt(best.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, best.length - 1));
    emit({ type: 'kfold-done', runId: job!.runId, folds: results, mean, sd });
  };
  firstId = await newRun(`${name} · fold 1/${k}`, { ...settings, kfold: { k, fold: 1, jobId } });
  await launch(firstId, emit, body).catch(async (e) => {
    await db.deleteRun(await store(), firstId).catch(() => undefined);
    throw e;
  });
  return { runId: firstId, totalSteps, trainCount: first.train.length, valCount: first.val.length };
}

/** Continues a run from its last checkpoint (after a reload, or an imported full-state file). */
async function resumeRun(runId: string, emit: Emit): Promise<RunStarted> {
  if (job) fail('a run is already in progress');
  if (demoRunning) fail('the demo is running: wait for it to finish');
  await recoverDevice();
  const s = await store();
  const run = await db.getRun(s, runId);
  if (!run) fail('this run no longer exists');
  const settings = run.config as RunSettings;
  const head = await db.loadHead(s, runId);
  if (!head) fail(`run "${run.name}" has no checkpoint to resume from`);
  const state = await decodeState(head.bytes, `checkpoint of "${run.name}"`);
  const l = await ensureModel(settings.model);
  if (state.meta.base.configHash !== l.identity.configHash)
    fail(`run "${run.name}" was trained on ${state.meta.base.name}, not on the loaded model`);
  const sequences = await sequencesFor(l, settings);
  const config = settings.train;
  const split = settings.kfold ? foldsOf(sequences, settings.kfold.k, config.seed)[settings.kfold.fold - 1] : splitData(sequences, config);
  const totalSteps = state.meta.totalSteps;
  await launch(runId, emit, () => trainRun(l, runId, run.name, settings, split.train, split.val, state, emit));
  return { runId, totalSteps, trainCount: split.train.length, valCount: split.val.length };
}

/** Pauses at the next step boundary. */
async function pause(): Promise<void> {
  if (!job?.trainer || job.trainer.paused) return;
  job.trainer.pause();
  await setStatus(job.runId, 'paused', job.emit);
}

async function resume(): Promise<void> {
  if (!job?.trainer?.paused) return;
  // Generation (Compare while paused) uses the same model: let it finish first.
  if (generation) await generation.done.catch(() => undefined);
  job.trainer.resume();
  await setStatus(job.runId, 'running', job.emit);
}

function stop(): void {
  if (!job) return;
  job.stopRequested = true;
  job.trainer?.stop();
}

function activeRun(): { runId: string; paused: boolean } | null {
  return job ? { runId: job.runId, paused: job.trainer?.paused ?? false } : null;
}

async function listRuns(): Promise<RunListItem[]> {
  const s = await store();
  const runs = await db.listRuns(s);
  return Promise.all(
    runs.map(async (r) => {
      const head = await db.getHead(s, r.id);
      return {
        id: r.id,
        name: r.name,
        status: r.status,
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
        settings: (r.config as RunSettings) ?? null,
        checkpointStep: head?.step ?? null,
        checkpointBytes: head?.size ?? null,
      };
    }),
  );
}

async function readMetrics(runId: string): Promise<MetricRow[]> {
  return db.readMetrics(await store(), runId);
}

async function deleteRun(runId: string): Promise<void> {
  if (job?.runId === runId) fail('this run is in progress: stop it before deleting it');
  await db.deleteRun(await store(), runId);
  if (current?.runId === runId) current = null;
}

/** Loads a finished run's trained weights onto its base model (for Compare and Export after a reload). */
async function openRun(runId: string): Promise<LoadedRun> {
  if (job) fail('a run is in progress: stop it or wait for it to finish');
  await recoverDevice();
  const s = await store();
  const run = await db.getRun(s, runId);
  if (!run) fail('this run no longer exists');
  const settings = run.config as RunSettings;
  const head = await db.loadHead(s, runId);
  if (!head) fail(`run "${run.name}" has no checkpoint: nothing to open`);
  const state = await decodeState(head.bytes, `checkpoint of "${run.name}"`);
  const l = await ensureModel(settings.model);
  if (state.meta.base.configHash !== l.identity.configHash)
    fail(`run "${run.name}" was trained on ${state.meta.base.name}, not on the loaded model`);
  await restoreBaseWeights(l);
  const { trainables } = setupMethod(l.model, settings.train);
  if (settings.train.method === 'full') l.baseChanged = true;
  for (const [name, v] of trainables) {
    const w = state.weights.get(name);
    if (!w) fail(`the checkpoint has no weight ${name}`);
    v.assign(tf.tensor(w.data, w.shape));
  }
  current = { runId, name: run.name, settings, step: head.step };
  return { runId, name: run.name, step: head.step, method: settings.train.method };
}

/** The loaded base model (e.g. after resumeRun loaded a run's base), or null. */
function currentModel(): ModelInfo | null {
  return loaded?.info ?? null;
}

async function setRunStatus(runId: string, status: 'stopped'): Promise<void> {
  if (job?.runId === runId) fail('this run is in progress');
  await db.updateRun(await store(), runId, { status });
}

function currentRun(): LoadedRun | null {
  return current ? { runId: current.runId, name: current.name, step: current.step, method: current.settings.train.method } : null;
}

// ---- generation ----

async function generate(req: GenerateRequest, onText: (text: string) => unknown): Promise<GenerateResult> {
  const l = requireModel();
  if (job && !job.trainer?.paused) fail('training is running: pause it, or wait until it ends, to compare');
  if (generation) fail('another generation is running');
  const tuned = l.model.adapter !== null || l.baseChanged;
  if (req.which === 'tuned' && !tuned) fail('there is no fine-tuned model yet: train a run, or open one on the Runs screen');
  let model = l.model;
  if (req.which === 'base' && l.baseChanged) {
    baseCopy ??= await loadModel(l.source);
    model = baseCopy;
  }
  const text = req.chat ? l.tok.applyChatTemplate([{ role: 'user', content: req.prompt }], { addGenerationPrompt: true }) : req.prompt;
  const promptIds = l.tok.encode(text, { addSpecialTokens: !req.chat });
  if (promptIds.length === 0) fail('the prompt is empty');
  const abort = new AbortController();
  const g = req.settings;
  const started = Date.now();
  const out: number[] = [];
  const detached = req.which === 'base' && model === l.model ? l.model.adapter : null;
  const run = async () => {
    if (detached) l.model.adapter = null;
    try {
      await generateIds(model, promptIds, {
        maxNewTokens: g.maxNewTokens,
        greedy: g.greedy,
        ...(g.greedy ? {} : { temperature: g.temperature, topK: g.topK, topP: g.topP }),
        seed: g.seed,
        stopIds: l.tok.endOfTurnIds,
        signal: abort.signal,
        onToken: (id) => {
          out.push(id);
          void onText(l.tok.decode(out, { skipSpecialTokens: true }));
        },
      });
    } finally {
      if (detached) l.model.adapter = detached;
    }
  };
  const done = run();
  generation = { done, abort };
  try {
    await done;
  } finally {
    generation = null;
  }
  return { text: l.tok.decode(out, { skipSpecialTokens: true }), tokens: out.length, ms: Date.now() - started };
}

function stopGeneration(): void {
  generation?.abort.abort();
}

// ---- the demo ----

/**
 * "Try the demo": the embedded default model (its own copy, loaded as openModel loads it; the Model
 * screen's model is left alone) fine-tuned with LoRA on a demo dataset read from the app's origin
 * (public/data/, precached by the service worker). Progress comes as events; the result has the held-out
 * numbers before and after and side-by-side samples.
 */
async function runDemo(dataset: DemoDataset, steps: number | null, onEvent: (e: DemoEvent) => unknown): Promise<DemoResult> {
  if (!(dataset in DEMO_DATASETS)) fail(`unknown demo dataset "${dataset}" (support, intent, domain or alpaca)`);
  if (steps !== null && (!Number.isInteger(steps) || steps < 1 || steps > 100_000))
    fail(`the demo's steps must be a whole number from 1 to 100000 (got ${steps})`);
  if (job) fail('a training run is in progress: stop it or wait for it to finish before the demo');
  if (generation) fail('a generation is running: wait for it or stop it first');
  if (demoRunning) fail('the demo is already running');
  if (env.defaultFiles.length === 0) fail('this build has no embedded default model (public/models/default is empty): the demo needs it');
  demoRunning = true;
  let release: (() => void) | null = null;
  try {
    release = await acquireTrainerLock();
    await recoverDevice();
    const dataRoot = new URL('data/', env.baseUrl);
    return await runDemoCore({
      model: defaultModelSource(env.baseUrl, env.defaultFiles),
      data: async (name) => {
        const res = await fetch(new URL(name, dataRoot));
        if (!res.ok) fail(`demo data ${name}: HTTP ${res.status}`);
        return res.blob();
      },
      dataset,
      ...(steps !== null ? { steps } : {}),
      onEvent: (e) => void onEvent(e),
      onPhase: (phase) => void onEvent({ type: 'phase', phase }),
    });
  } catch (err) {
    const e = await deviceErrorFor(err);
    if (e instanceof DeviceError) deviceLost = true;
    throw e;
  } finally {
    demoRunning = false;
    release?.();
  }
}

// ---- export / import ----

function filesRecord(files: Map<string, Uint8Array>): Record<string, Uint8Array> {
  return Object.fromEntries(files);
}

function slug(s: string): string {
  return (
    s
      .replace(/[^\w.-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'run'
  );
}

async function exportFiles(kind: ExportKind): Promise<ExportResult> {
  const l = requireModel();
  if (!current) fail('no trained run is loaded: train one, or open one on the Runs screen');
  if (job && !job.trainer?.paused) fail('training is running: pause it or wait for it to finish before exporting');
  const data = current.settings.datasetName.replace(/\.[a-z0-9]+$/i, '');
  const base = `${slug(data)}-${current.settings.train.method}-step${current.step}`;
  const s = await store();
  if (kind === 'peft') {
    if (!l.model.adapter) fail('this run is a full fine-tune: export the merged model instead of a PEFT adapter');
    return {
      name: `${base}-adapter.zip`,
      files: filesRecord(await exportPeftAdapter(l.model, { baseModelName: l.info.name === 'default' ? null : l.info.name })),
    };
  }
  if (kind === 'merged') {
    // A base kept in 16 or 8 bits for training is merged from its original f32 files.
    const files = await exportMergedFromBase(l.model, l.tok, () => loadModel(l.source));
    return { name: `${base}-merged.zip`, files: filesRecord(files) };
  }
  if (kind === 'state') {
    const head = await db.loadHead(s, current.runId);
    if (!head) fail('this run has no checkpoint yet');
    return { name: `${base}.whetstone`, files: { [`${base}.whetstone`]: head.bytes } };
  }
  const settings = current.settings;
  const sequences = await sequencesFor(l, settings);
  const split = settings.kfold
    ? foldsOf(sequences, settings.kfold.k, settings.train.seed)[settings.kfold.fold - 1]
    : splitData(sequences, settings.train);
  const ds = await db.getDataset(s, settings.datasetId);
  const examples = await db.getDatasetExamples(s, settings.datasetId);
  const files = exportRecipe({
    config: settings.train,
    baseModel: l.info.name === 'default' ? './base-model' : l.info.name,
    sequences: split.train,
    validation: split.val.length > 0 ? split.val : undefined,
    examples,
    format: ds?.format ?? 'text',
    modelType: l.model.config.modelType,
    chatTemplate: settings.train.mode === 'chat' ? l.tok.effectiveChatTemplate : null,
  });
  return { name: `${base}-recipe.zip`, files: filesRecord(files) };
}

/** A full-state file from another device → a new paused run here, ready to resume. */
async function importState(file: File): Promise<RunListItem> {
  const l = requireModel();
  const state = await decodeState(file, file.name);
  const meta = state.meta;
  if (meta.base.configHash !== l.identity.configHash) {
    fail(
      `${file.name} was trained on "${meta.base.name}" (${meta.base.modelType}, ${meta.base.numParameters.toLocaleString('en-US')} parameters), not on the loaded model "${l.info.name}": open that base model first`,
      'checkpoint',
    );
  }
  const s = await store();
  const datasets = await db.listDatasets(s);
  const ds = datasets.find((d) => (d.stats as { sha256?: string } | null)?.sha256 === meta.datasetHash);
  const dataName =
    typeof meta.data.datasetName === 'string'
      ? meta.data.datasetName
      : typeof meta.data.file === 'string'
        ? meta.data.file
        : 'the same data file';
  if (!ds)
    fail(
      `${file.name} was trained on data this browser does not have (sha256 ${meta.datasetHash.slice(0, 12)}…): import ${dataName} on the Data screen first`,
      'checkpoint',
    );
  const config = resolveTrainConfig(meta.config);
  const settings: RunSettings = {
    train: config,
    datasetId: ds.id,
    datasetName: ds.name,
    datasetHash: meta.datasetHash,
    model: l.info.ref,
    modelName: l.info.name,
  };
  const runName = `${typeof meta.data.runName === 'string' ? meta.data.runName : file.name.replace(/\.whetstone$/, '')} (imported)`;
  // A finished run is imported as finished (open it for Compare and Export); an unfinished one as paused.
  const finished = meta.trainer.stoppedEarly || meta.trainer.step >= meta.totalSteps;
  const run = await db.createRun(s, { name: runName, config: settings, status: finished ? 'completed' : 'paused' });
  try {
    await db.saveCheckpoint(s, run.id, new Uint8Array(await file.arrayBuffer()), { step: meta.trainer.step, method: config.method });
  } catch (e) {
    await db.deleteRun(s, run.id).catch(() => undefined);
    throw e;
  }
  return (await listRuns()).find((r) => r.id === run.id)!;
}

/** The page's callback for another tab's schema upgrade (this worker's database connection is closed). */
function watchStore(onUpgraded: () => unknown): void {
  onStoreUpgraded(() => void onUpgraded());
}

export const api = {
  init,
  watchStore,
  openModel,
  listModels,
  deleteModel,
  startRun,
  resumeRun,
  pause,
  resume,
  stop,
  activeRun,
  listRuns,
  readMetrics,
  deleteRun,
  openRun,
  currentRun,
  currentModel,
  setRunStatus,
  generate,
  stopGeneration,
  exportFiles,
  importState,
  runDemo,
};
