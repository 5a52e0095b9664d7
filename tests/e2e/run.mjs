#!/usr/bin/env node
// End-to-end tests of the Whetstone PWA in Debian's Chromium, headless, with WebGPU on SwiftShader
// (../shared/docs/PLATFORM.md), driven by playwright-core. Self-contained: builds the app when the sources
// are newer than dist/, serves dist/ on a free localhost port, runs each scenario in a fresh browser
// profile, records every network request and CSP violation (any unexpected one fails the scenario), saves a
// screenshot of each screen to test-results/screenshots/, and with --json=FILE writes {"passed","failed"}
// (one count per scenario). Exit code 0 only when every scenario passed.
//
//   node tests/e2e/run.mjs [--json=FILE] [--only=name,name] [--keep-profiles]
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = path.join(root, 'dist');
const results = path.join(root, 'test-results');
const shots = path.join(results, 'screenshots');
const fixtures = path.join(root, 'tests', 'fixtures', 'hf');
const e2eFixtures = path.join(root, 'tests', 'e2e', 'fixtures');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];
const BASE_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

const argv = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    return m ? [m[1], m[2] ?? true] : [a, true];
  }),
);
const only = typeof argv.only === 'string' ? new Set(argv.only.split(',')) : null;
const t0 = Date.now();
const log = (msg) => console.log(`[e2e ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);

// ---------------------------------------------------------------------------------------------------------
// Build (when needed) and serve

function newestMtime(p) {
  if (!fs.existsSync(p)) return 0;
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const e of fs.readdirSync(p)) t = Math.max(t, newestMtime(path.join(p, e)));
  return t;
}

function buildIfNeeded() {
  const built = fs.existsSync(path.join(dist, 'index.html')) ? fs.statSync(path.join(dist, 'index.html')).mtimeMs : 0;
  const sources = Math.max(...['src', 'workers', 'public', 'index.html', 'vite.config.ts', 'package.json'].map((p) => newestMtime(path.join(root, p))));
  if (built > sources) return;
  log('building the app (vite build)');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('vite build failed');
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.jsonl': 'application/jsonl',
  '.jinja': 'text/plain; charset=utf-8',
};

/** What the server serves: dist/, or a copy that a scenario deploys a new version over. */
let siteRoot = dist;

/** A static server for dist/ (as `vite preview` serves it), on a free port. */
function serve() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const root = siteRoot;
    let file = path.join(root, decodeURIComponent(url.pathname));
    if (!file.startsWith(root)) {
      res.writeHead(403).end();
      return;
    }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (!fs.existsSync(file)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// ---------------------------------------------------------------------------------------------------------
// Browser and recording

let origin = '';
const profiles = [];


async function launch({ webgpu = true, colorScheme = 'light' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-e2e-'));
  profiles.push(dir);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...BASE_ARGS, ...(webgpu ? WEBGPU_ARGS : [])],
    viewport: { width: 1280, height: 900 },
    colorScheme,
    acceptDownloads: true,
  });
  const rec = { unexpected: [], csp: [], pageErrors: [], consoleErrors: [] };
  context.on('request', (r) => {
    const u = r.url();
    if (u.startsWith('data:') || u.startsWith('blob:') || u.startsWith(`${origin}/`)) return;
    rec.unexpected.push(`${r.method()} ${u}`);
  });
  await context.addInitScript(() => {
    window.__csp = [];
    window.__longTasks = [];
    window.__longTaskAt = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective}: ${e.blockedURI}`));
    try {
      new PerformanceObserver((list) => {
        for (const t of list.getEntries()) window.__longTasks.push(Math.round(t.duration)), window.__longTaskAt.push(t.startTime);
      }).observe({ type: 'longtask', buffered: true });
    } catch {
      // no longtask support
    }
    window.__loaf = [];
    try {
      new PerformanceObserver((list) => {
        for (const f of list.getEntries()) {
          if (f.duration > 50) window.__loaf.push({ at: Math.round(f.startTime), ms: Math.round(f.duration), render: Math.round(f.renderStart ? f.startTime + f.duration - f.renderStart : 0), scripts: (f.scripts ?? []).map((x) => `${x.invoker} ${x.sourceFunctionName}@${(x.sourceURL ?? '').split('/').pop()}:${x.sourceCharPosition} ${Math.round(x.duration)}ms`) });
        }
      }).observe({ type: 'long-animation-frame', buffered: true });
    } catch {
      // no long-animation-frame support
    }
  });
  const watch = (page) => {
    page.on('pageerror', (e) => rec.pageErrors.push(e.message));
    page.on('console', (m) => {
      const text = m.text();
      if (/Content Security Policy/i.test(text)) rec.csp.push(text);
      else if (m.type() === 'error') rec.consoleErrors.push(text);
    });
  };
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  page.setDefaultTimeout(60_000);
  return { context, page, rec };
}

/** Fails on any request off this origin, CSP violation or uncaught page error. */
async function checkRecord(page, rec, allowed = []) {
  const csp = await page.evaluate(() => window.__csp ?? []).catch(() => []);
  const problems = [];
  const unexpected = rec.unexpected.filter((r) => !allowed.some((a) => r.includes(a)));
  if (unexpected.length) problems.push(`unexpected network requests: ${unexpected.join(', ')}`);
  if (rec.csp.length || csp.length) problems.push(`CSP violations: ${[...rec.csp, ...csp].join(' | ')}`);
  if (rec.pageErrors.length) problems.push(`uncaught page errors: ${rec.pageErrors.join(' | ')}`);
  if (problems.length) throw new Error(problems.join('; '));
}

let shotIndex = 0;
async function shot(page, name, index = null) {
  fs.mkdirSync(shots, { recursive: true });
  // A fixed number keeps a screenshot's name the same when a scenario runs alone (--only).
  shotIndex = index ?? shotIndex + 1;
  const file = path.join(shots, `${String(shotIndex).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  log(`screenshot ${path.relative(root, file)}`);
}

/** The page as it was when a scenario failed. */
async function failShot(page) {
  fs.mkdirSync(shots, { recursive: true });
  const file = path.join(shots, `failed-${String(++shotIndex).padStart(2, '0')}.png`);
  await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
  log(`failure screenshot ${path.relative(root, file)}`);
}

function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

// Responsiveness: no main-thread task over 50 ms. The page's PerformanceObserver('longtask') (installed by
// launch()) finds every task over 50 ms of wall time. This machine is shared and has 2 cores, so a task can
// take longer than its work while the OS runs other processes; a Chromium trace of the same window tells
// the two apart: each long task is matched to its trace task, and the task fails when its main-thread CPU
// time (the trace's thread duration) is over 50 ms too, or when no trace task explains it. On a quiet
// machine, E2E_LONGTASKS=wall fails on the wall time alone.

/** Starts counting long tasks (and tracing the main thread's tasks) from now. */
async function markLongTasks(page) {
  const cdp = await page.context().newCDPSession(page);
  const events = [];
  cdp.on('Tracing.dataCollected', (e) => events.push(...e.value));
  await cdp.send('Tracing.start', {
    traceConfig: { includedCategories: ['toplevel', 'blink.user_timing', '__metadata'], recordMode: 'recordAsMuchAsPossible' },
    bufferUsageReportingInterval: 1000,
    transferMode: 'ReportEvents',
  });
  const from = await page.evaluate(() => {
    window.__measureFrom = performance.now();
    window.__loaf.length = 0;
    return performance.mark('whetstone-e2e-mark').startTime;
  });
  page.__longTaskTrace = { cdp, events, from };
}

/** Asserts that no main-thread task since markLongTasks was over 50 ms (see above). */
async function assertNoLongTasks(page, what) {
  // Let the charts' queued work run first.
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 200))));
  const long = await page.evaluate(() =>
    window.__longTasks.map((ms, i) => ({ at: window.__longTaskAt[i], ms })).filter((t) => t.at >= window.__measureFrom),
  );
  const { cdp, events, from } = page.__longTaskTrace;
  const complete = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
  await cdp.send('Tracing.end');
  await complete;
  await cdp.detach().catch(() => undefined);
  const mark = events.find((e) => e.name === 'whetstone-e2e-mark');
  assert(mark, 'the trace holds the page mark');
  // Trace time (µs) of a page time (ms), through the mark.
  const traceTs = (ms) => mark.ts + (ms - from) * 1000;
  // Top-level trace events of the page's main thread (scheduler tasks, microtask checkpoints, mojo messages).
  // A long task's CPU time is the thread time of the events that start inside it (nested ones skipped): the
  // wall time between them is time the OS gave to other processes.
  const tasks = events
    .filter((e) => e.pid === mark.pid && e.tid === mark.tid && e.ph === 'X' && e.cat.split(',').includes('toplevel'))
    .sort((x, y) => x.ts - y.ts);
  const judged = long.map((t) => {
    const start = traceTs(t.at) - 500;
    const end = traceTs(t.at + t.ms) + 500;
    let cpu = 0;
    let found = false;
    let coveredTo = -Infinity;
    for (const e of tasks) {
      if (e.ts < start || e.ts > end || e.ts + e.dur <= coveredTo) continue;
      // An event without thread time counts with its wall time (an upper bound).
      cpu += (typeof e.tdur === 'number' ? e.tdur : e.dur) / 1000;
      coveredTo = e.ts + e.dur;
      found = true;
    }
    return { wallMs: Math.round(t.ms), cpuMs: found ? Math.round(cpu * 10) / 10 : null };
  });
  const cpuMax = Math.max(0, ...tasks.filter((e) => e.ts >= mark.ts && typeof e.tdur === 'number').map((e) => e.tdur / 1000));
  const span = tasks.length ? ((tasks.at(-1).ts - tasks[0].ts) / 1e6).toFixed(1) : 0;
  log(`main-thread long tasks ${what}: ${JSON.stringify(judged)} (most CPU in one task: ${cpuMax.toFixed(1)} ms; ${tasks.length} tasks traced over ${span} s)`);
  const wallOnly = process.env.E2E_LONGTASKS === 'wall';
  const over = judged.filter((t) => (wallOnly ? t.wallMs > 50 : t.cpuMs === null || t.cpuMs > 50));
  if (over.length || process.env.E2E_LOAF) log(JSON.stringify(await page.evaluate(() => window.__loaf), null, 1));
  assert(over.length === 0, `no main-thread task over 50 ms ${what} (${JSON.stringify(over)}; cpuMs null: no trace task explains it)`);
}

async function tab(page, label) {
  await page.getByRole('tab', { name: label, exact: true }).click();
}

/** Opens the app and waits for its start-up (backend, stored lists, the embedded default model if any). */
async function openApp(page) {
  await page.goto(`${origin}/`);
  await page.waitForSelector('[data-testid=app][data-ready=true]');
  return page.getAttribute('[data-testid=backend]', 'data-backend');
}

const HAS_DEFAULT_MODEL = () => fs.existsSync(path.join(dist, 'models', 'default', 'config.json'));

/** IndexedDB record counts, read in the page (the test's own check that nothing was stored). */
async function idbCounts(page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const req = indexedDB.open('whetstone');
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const db = req.result;
          const names = ['models', 'datasets', 'blobs', 'chunks', 'runs'].filter((n) => db.objectStoreNames.contains(n));
          const tx = db.transaction(names, 'readonly');
          const out = {};
          for (const n of names) {
            const r = tx.objectStore(n).count();
            r.onsuccess = () => (out[n] = r.result);
          }
          tx.oncomplete = () => {
            db.close();
            resolve(out);
          };
        };
      }),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Parsing what the app exports (independently of the app's code)

function unzip(buf) {
  const files = new Map();
  let at = 0;
  while (at + 30 <= buf.length && buf.readUInt32LE(at) === 0x04034b50) {
    const method = buf.readUInt16LE(at + 8);
    const size = buf.readUInt32LE(at + 18);
    const nameLen = buf.readUInt16LE(at + 26);
    const extraLen = buf.readUInt16LE(at + 28);
    const name = buf.subarray(at + 30, at + 30 + nameLen).toString('utf8');
    const start = at + 30 + nameLen + extraLen;
    assert(method === 0, `zip entry ${name} is stored (method ${method})`);
    files.set(name, buf.subarray(start, start + size));
    at = start + size;
  }
  return files;
}

function safetensorsHeader(buf) {
  assert(buf.length >= 8, 'safetensors file has a header length');
  const n = Number(buf.readBigUInt64LE(0));
  assert(n > 0 && 8 + n <= buf.length, 'safetensors header fits the file');
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  let end = 0;
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const numel = t.shape.reduce((a, b) => a * b, 1);
    assert(t.dtype === 'F32', `${name} is F32`);
    assert(t.data_offsets[1] - t.data_offsets[0] === numel * 4, `${name}: offsets match its shape`);
    end = Math.max(end, t.data_offsets[1]);
  }
  assert(8 + n + end === buf.length, 'safetensors data ends at the end of the file');
  return header;
}

// ---------------------------------------------------------------------------------------------------------
// Scenarios

const STATE_FILE = path.join(results, 'e2e-run.whetstone');
const ADAPTER_ZIP = path.join(results, 'e2e-adapter.zip');

const MODEL_FILES = [
  path.join(fixtures, 'model-llama', 'config.json'),
  path.join(fixtures, 'model-llama', 'model.safetensors'),
  path.join(fixtures, 'tok-llama', 'tokenizer.json'),
  path.join(fixtures, 'tok-llama', 'tokenizer_config.json'),
];

async function openFixtureModel(page) {
  await page.setInputFiles('[data-testid=model-drop-input]', MODEL_FILES);
  await page.waitForSelector('[data-testid=model-name]:has-text("local llama model")');
}

async function setNumber(page, testid, value) {
  await page.fill(`[data-testid=${testid}]`, String(value));
}

/** The whole job: model → data → train → reload mid-run → resume → compare → export → offline reload. */
async function mainFlow() {
  const { context, page, rec } = await launch();
  try {
    const backend = await openApp(page);
    assert(backend === 'webgpu', `the WebGPU backend is used (got ${backend})`);

    // Model: the tiny fixture Llama with its tokenizer, through the file input.
    await openFixtureModel(page);
    const params = await page.textContent('[data-testid=model-params]');
    assert(/\d/.test(params ?? ''), 'the parameter count is shown');
    await page.waitForSelector('[data-testid=memory-estimate]');
    await shot(page, 'model');

    // Data: a small prompt/completion dataset.
    await tab(page, 'Data');
    await page.setInputFiles('[data-testid=data-drop-input]', path.join(e2eFixtures, 'support.jsonl'));
    await page.waitForSelector('[data-testid=data-count]');
    assert((await page.textContent('[data-testid=data-count]')).trim() === '12', 'all 12 examples imported');
    assert((await page.textContent('[data-testid=data-format]')).includes('Prompt'), 'detected as prompt → completion');
    await page.waitForSelector('[data-testid=mask-view] .trained');
    await shot(page, 'data');

    // Train: MID_RUN_STEPS steps, batch 2, T 32, a checkpoint after every step, evaluation every step.
    await tab(page, 'Train');
    await page.getByLabel('Length in').selectOption({ label: 'steps' });
    await setNumber(page, 'set-steps', MID_RUN_STEPS);
    await setNumber(page, 'set-batch', 2);
    await setNumber(page, 'set-maxlen', 32);
    await setNumber(page, 'set-val', 0.25);
    await setNumber(page, 'set-eval', 1);
    await page.getByText('Advanced settings').click();
    await setNumber(page, 'set-ckpt', 1);
    // From the click on Start (the run panel and its three charts appear) through the first steps, the page
    // must stay responsive: no main-thread task over 50 ms.
    await markLongTasks(page);
    await page.click('[data-testid=start]');
    await waitForCheckpoint(page, 1);
    await page.waitForSelector('[data-testid=loss-chart][data-drawn=true]');
    const points = Number(await page.getAttribute('[data-testid=loss-chart]', 'data-points'));
    assert(points >= 1, `the loss chart shows points (${points})`);
    await assertNoLongTasks(page, 'from the start click to the first checkpoint (incl. drawing the run panel)');
    await shot(page, 'train-running');

    // Reload mid-run: the run is offered for resumption from its last checkpoint.
    await page.reload();
    await page.waitForSelector('[data-testid=resume-offer]');
    await shot(page, 'resume-offer');
    // From the click on Resume to the end of the run, too.
    await markLongTasks(page);
    await page.getByRole('button', { name: 'Resume', exact: true }).first().click();
    await waitForStep(page, 2);
    // Pause and resume (the pause takes effect at the next step boundary, unless the run ends first).
    await page.click('[data-testid=pause]');
    await page.waitForSelector('[data-testid=train-status][data-status=paused], [data-testid=train-status][data-status=completed]');
    if ((await page.getAttribute('[data-testid=train-status]', 'data-status')) === 'paused') await page.click('[data-testid=resume]');
    await page.waitForSelector('[data-testid=train-status][data-status=completed]', { timeout: 180_000 });
    await assertNoLongTasks(page, 'from the resume click to the end of the run');
    const after = Number(await page.getAttribute('[data-testid=loss-chart]', 'data-points'));
    assert(after === MID_RUN_STEPS, `the chart has all ${MID_RUN_STEPS} steps after resuming (${after})`);
    assert(/\d\.\d{4}/.test(await page.textContent('[data-testid=val-loss]')), 'a validation loss is shown');
    await shot(page, 'train-done');

    // Compare: a held-out example and a typed prompt, through both models.
    await tab(page, 'Compare');
    await page.click('[data-testid=add-heldout]');
    await page.locator('[data-testid=compare-row]').nth(2).waitFor();
    // One held-out example and one typed prompt keep it short on SwiftShader.
    while ((await page.locator('[data-testid=compare-row]').count()) > 1) await page.getByRole('button', { name: /^Remove prompt/ }).last().click();
    await page.fill('[data-testid=compare-input]', 'Q: I can not log in.\nA:');
    await page.getByRole('button', { name: 'Add prompt' }).click();
    await page.getByText('Generation settings').click();
    await page.getByLabel('Max new tokens').fill('8');
    await page.click('[data-testid=compare-run-btn]');
    const rows = await page.locator('[data-testid=compare-row]').count();
    assert(rows === 2, `compare rows (${rows})`);
    for (let i = 0; i < rows; i++) {
      const row = page.locator('[data-testid=compare-row]').nth(i);
      await row.locator('[data-testid=compare-tuned][data-state=done]').waitFor({ timeout: 120_000 });
      await row.locator('[data-testid=compare-base][data-state=done]').waitFor();
    }
    const base = await page.locator('[data-testid=compare-base] .text').first().textContent();
    const tuned = await page.locator('[data-testid=compare-tuned] .text').first().textContent();
    assert(base.trim().length > 0 && tuned.trim().length > 0, 'both outputs are shown');
    await shot(page, 'compare');

    // Export the adapter and check it as PEFT would load it.
    await tab(page, 'Export / Import');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-peft]')]);
    await download.saveAs(ADAPTER_ZIP);
    checkPeftZip(fs.readFileSync(ADAPTER_ZIP));
    await page.waitForSelector('[data-testid=export-message]');
    await shot(page, 'export');
    const [stateDownload] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-state]')]);
    await stateDownload.saveAs(STATE_FILE);
    assert(fs.readFileSync(STATE_FILE).length > 1000, 'the full-state file was downloaded');

    await tab(page, 'Runs');
    await page.waitForSelector('[data-testid=run-row]');
    await page.locator('[data-testid=run-row] button').first().click();
    await page.waitForSelector('[data-testid=run-chart]');
    await shot(page, 'runs');
    await checkRecord(page, rec);

    // Offline: after the first visit the service worker has everything; the app opens and lists the run.
    await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.ready;
      if (!reg.active) throw new Error('no active service worker');
    });
    // Installable: Chromium finds no installability error (manifest, icons, service worker).
    const cdp = await context.newCDPSession(page);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    assert(installabilityErrors.length === 0, `installable (${JSON.stringify(installabilityErrors)})`);
    await context.setOffline(true);
    await page.reload();
    await page.waitForSelector('[data-testid=app][data-ready=true]');
    assert((await page.getAttribute('[data-testid=backend]', 'data-backend')) === 'webgpu', 'WebGPU offline too');
    // Chromium's SwiftShader adapter offers 'subgroups': the worker's device must have them and the probe pass.
    assert((await page.getAttribute('[data-testid=backend]', 'data-subgroups')) === 'yes', 'the kernels use subgroups in the browser');
    await tab(page, 'Runs');
    await page.waitForSelector('[data-testid=run-row]');
    await shot(page, 'offline-runs');
    await checkRecord(page, rec);
  } catch (e) {
    await failShot(page);
    throw e;
  } finally {
    await context.close();
  }
}

function checkPeftZip(buf) {
  const files = unzip(buf);
  assert(files.has('adapter_config.json') && files.has('adapter_model.safetensors'), `the zip holds adapter_config.json and adapter_model.safetensors (has ${[...files.keys()]})`);
  const cfg = JSON.parse(files.get('adapter_config.json').toString('utf8'));
  assert(cfg.peft_type === 'LORA' && cfg.task_type === 'CAUSAL_LM', 'a LoRA causal-LM adapter config');
  const r = cfg.r;
  const want = ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'];
  assert(JSON.stringify(cfg.target_modules) === JSON.stringify(want), `target_modules ${JSON.stringify(cfg.target_modules)}`);
  assert(cfg.modules_to_save === null || cfg.modules_to_save === undefined, 'no modules_to_save');
  const header = safetensorsHeader(files.get('adapter_model.safetensors'));
  // model-llama: d 64, 4 heads × 16, 2 KV heads, intermediate 176, 2 layers.
  const dims = { q_proj: [64, 64], k_proj: [64, 32], v_proj: [64, 32], o_proj: [64, 64], gate_proj: [64, 176], up_proj: [64, 176], down_proj: [176, 64] };
  const names = Object.keys(header).filter((n) => n !== '__metadata__');
  assert(names.length === 2 * 2 * 7, `28 LoRA tensors (got ${names.length})`);
  for (let layer = 0; layer < 2; layer++) {
    for (const [m, [inF, outF]] of Object.entries(dims)) {
      const part = m.endsWith('_proj') && ['q_proj', 'k_proj', 'v_proj', 'o_proj'].includes(m) ? 'self_attn' : 'mlp';
      const a = header[`base_model.model.model.layers.${layer}.${part}.${m}.lora_A.weight`];
      const b = header[`base_model.model.model.layers.${layer}.${part}.${m}.lora_B.weight`];
      assert(a && JSON.stringify(a.shape) === JSON.stringify([r, inF]), `layer ${layer} ${m} lora_A shape ${JSON.stringify(a?.shape)} = [${r}, ${inF}]`);
      assert(b && JSON.stringify(b.shape) === JSON.stringify([outF, r]), `layer ${layer} ${m} lora_B shape ${JSON.stringify(b?.shape)} = [${outF}, ${r}]`);
    }
  }
  assert(header.__metadata__?.format === 'pt', 'metadata format pt');
}

/** A corrupt safetensors and a malformed JSONL: a visible, specific error each, and nothing stored. */
async function badInputs() {
  const { context, page, rec } = await launch();
  try {
    await openApp(page);
    // A safetensors file whose header claims more bytes than the file has.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-bad-'));
    const corrupt = Buffer.alloc(64);
    corrupt.writeBigUInt64LE(1000n, 0);
    fs.writeFileSync(path.join(dir, 'model.safetensors'), corrupt);
    fs.copyFileSync(MODEL_FILES[0], path.join(dir, 'config.json'));
    await page.setInputFiles('[data-testid=model-drop-input]', [path.join(dir, 'config.json'), path.join(dir, 'model.safetensors'), MODEL_FILES[2], MODEL_FILES[3]]);
    const modelError = await page.waitForSelector('[data-testid=model-error]');
    const mText = await modelError.textContent();
    assert(/model\.safetensors/.test(mText) && /header/i.test(mText), `a specific safetensors error (${mText})`);
    await shot(page, 'bad-model');

    await tab(page, 'Data');
    await page.setInputFiles('[data-testid=data-drop-input]', path.join(e2eFixtures, 'malformed.jsonl'));
    const dataError = await page.waitForSelector('[data-testid=data-error]');
    const dText = await dataError.textContent();
    assert(/malformed\.jsonl/.test(dText) && /Line\s*3/.test(dText), `the error names the file and line 3 (${dText})`);
    await shot(page, 'bad-data');

    // A file with errors on several lines: every one is listed with its line and field, not only the first.
    await page.setInputFiles('[data-testid=data-drop-input]', path.join(e2eFixtures, 'malformed-many.jsonl'));
    await page.waitForSelector('[data-testid=data-error]:has-text("malformed-many.jsonl")');
    const rows = await page.$$eval('[data-testid=data-error-row]', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())),
    );
    log(`listed import errors: ${JSON.stringify(rows)}`);
    assert(rows.map((r) => r[0]).join(',') === '2,4,5', `errors listed on lines 2, 4 and 5 (${JSON.stringify(rows)})`);
    assert(/invalid JSON/.test(rows[0][2]), `line 2: bad JSON (${rows[0]})`);
    assert(rows[1][1] === 'completion' && /must be a string, got number/.test(rows[1][2]), `line 4: completion is a number (${rows[1]})`);
    assert(rows[2][1] === 'completion' && /missing field/.test(rows[2][2]), `line 5: field completion is missing (${rows[2]})`);
    const summary = await page.textContent('[data-testid=data-error]');
    assert(/3 errors in malformed-many\.jsonl/.test(summary), `the file and the number of errors are named (${summary})`);
    await shot(page, 'bad-data-many');

    const counts = await idbCounts(page);
    assert(counts.models === 0 && counts.datasets === 0 && counts.blobs === 0 && counts.chunks === 0, `nothing stored (${JSON.stringify(counts)})`);
    await checkRecord(page, rec);
  } catch (e) {
    await failShot(page);
    throw e;
  } finally {
    await context.close();
  }
}

/** Without WebGPU the app says so and runs on the CPU; also the dark theme. */
async function cpuFallback() {
  const { context, page, rec } = await launch({ webgpu: false, colorScheme: 'dark' });
  try {
    const backend = await openApp(page);
    assert(backend === 'cpu', `CPU backend without WebGPU (got ${backend})`);
    const warning = await page.textContent('[data-testid=no-webgpu]');
    assert(/No WebGPU/.test(warning) && /CPU/.test(warning), 'the missing WebGPU is said plainly');
    await openFixtureModel(page);
    await shot(page, 'cpu-dark-model');
    await checkRecord(page, rec);
  } catch (e) {
    await failShot(page);
    throw e;
  } finally {
    await context.close();
  }
}


/** A full-state file exported in one browser profile, imported in another with the same model and data:
 *  the run arrives with its weights (the adapter exported here is byte-identical to the one exported there). */
async function stateImport() {
  assert(fs.existsSync(STATE_FILE) && fs.existsSync(ADAPTER_ZIP), 'main-flow exported a full-state file and an adapter first');
  const { context, page, rec } = await launch();
  try {
    await openApp(page);
    await openFixtureModel(page);
    await tab(page, 'Data');
    await page.setInputFiles('[data-testid=data-drop-input]', path.join(e2eFixtures, 'support.jsonl'));
    await page.waitForSelector('[data-testid=data-count]');
    await tab(page, 'Export / Import');
    await page.setInputFiles('[data-testid=state-drop-input]', STATE_FILE);
    await page.waitForSelector('[data-testid=export-message]:has-text("Imported")');
    await shot(page, 'state-import');
    await tab(page, 'Runs');
    const row = page.locator('[data-testid=run-row]', { hasText: '(imported)' });
    await row.waitFor();
    assert((await row.textContent()).includes(`step ${MID_RUN_STEPS}`), `the imported run has its checkpoint at step ${MID_RUN_STEPS}`);
    await row.locator('button').click();
    await page.getByRole('button', { name: 'Open for Compare and Export' }).click();
    await page.waitForSelector('[data-testid=compare-run]');
    await tab(page, 'Export / Import');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-peft]')]);
    const zip = path.join(results, 'e2e-adapter-imported.zip');
    await download.saveAs(zip);
    const here = unzip(fs.readFileSync(zip)).get('adapter_model.safetensors');
    const there = unzip(fs.readFileSync(ADAPTER_ZIP)).get('adapter_model.safetensors');
    assert(Buffer.compare(here, there) === 0, 'the adapter from the imported state equals the original');
    await checkRecord(page, rec);
  } catch (e) {
    await failShot(page);
    throw e;
  } finally {
    await context.close();
  }
}

/** A Hub download (served from the fixtures by request interception): progress, stored, then loaded. */
async function hubDownload() {
  const { context, page, rec } = await launch();
  try {
    const files = { 'config.json': MODEL_FILES[0], 'model.safetensors': MODEL_FILES[1], 'tokenizer.json': MODEL_FILES[2], 'tokenizer_config.json': MODEL_FILES[3] };
    const cors = { 'access-control-allow-origin': '*' };
    await context.route('https://huggingface.co/**', async (route) => {
      const url = new URL(route.request().url());
      if (url.pathname === '/api/models/whetstone-test/tiny-llama/revision/main') {
        const siblings = Object.entries(files).map(([name, p]) => ({ rfilename: name, size: fs.statSync(p).size }));
        siblings.push({ rfilename: 'README.md', size: 10 });
        return route.fulfill({ status: 200, headers: cors, contentType: 'application/json', body: JSON.stringify({ siblings }) });
      }
      const m = /^\/whetstone-test\/tiny-llama\/resolve\/main\/(.+)$/.exec(url.pathname);
      if (m && files[m[1]]) return route.fulfill({ status: 200, headers: cors, body: fs.readFileSync(files[m[1]]) });
      return route.fulfill({ status: 404, headers: cors, body: 'not found' });
    });
    await openApp(page);
    if (HAS_DEFAULT_MODEL()) {
      // A first visit starts with the embedded default model.
      assert((await page.textContent('[data-testid=model-name]')) === 'default', 'the embedded default model is loaded on a first visit');
    }
    await page.getByLabel('Model id or URL').fill('https://huggingface.co/whetstone-test/tiny-llama');
    await page.getByRole('button', { name: 'Download' }).click();
    await page.waitForSelector('[data-testid=model-name]:has-text("whetstone-test/tiny-llama")');
    const stored = await page.textContent('[data-testid=stored-models]');
    assert(/whetstone-test\/tiny-llama/.test(stored) && /Hub/.test(stored), 'the download is stored in the browser');
    const requested = rec.unexpected.filter((r) => r.includes('huggingface.co'));
    assert(requested.some((r) => r.includes('/resolve/main/model.safetensors')), `the weights came from the Hub (${requested.join(', ')})`);
    assert(!requested.some((r) => r.includes('README.md')), 'only the model files were downloaded');
    await shot(page, 'hub-download');
    await checkRecord(page, rec, ['https://huggingface.co/']);
  } catch (e) {
    await failShot(page);
    throw e;
  } finally {
    await context.close();
  }
}

/** Full fine-tuning with 2-fold cross-validation (1 step per fold), then base vs tuned on one prompt. */
async function kfoldFull() {
  const { context, page, rec } = await launch();
  try {
    await openApp(page);
    await openFixtureModel(page);
    await tab(page, 'Data');
    await page.setInputFiles('[data-testid=data-drop-input]', path.join(e2eFixtures, 'support.jsonl'));
    await page.waitForSelector('[data-testid=data-count]');
    await tab(page, 'Train');
    await page.getByLabel('Full fine-tuning').check();
    await page.getByLabel('Length in').selectOption({ label: 'steps' });
    await setNumber(page, 'set-steps', 1);
    await setNumber(page, 'set-batch', 2);
    await setNumber(page, 'set-maxlen', 32);
    await setNumber(page, 'set-eval', 1);
    await page.getByText('Advanced settings').click();
    await page.getByLabel('k-fold cross-validation').fill('2');
    await page.check('[data-testid=set-grad-ckpt]'); // full fine-tuning with blocks recomputed, in the browser
    await page.click('[data-testid=start]');
    await page.waitForSelector('table.folds tfoot:has-text("Mean")', { timeout: 180_000 });
    const folds = await page.locator('table.folds tbody tr').count();
    assert(folds === 2, `two folds reported (${folds})`);
    assert(/\d\.\d{4} ± \d\.\d{4}/.test(await page.textContent('table.folds tfoot')), 'mean ± sd of the best validation losses');
    await page.waitForSelector('[data-testid=train-status][data-status=completed]');
    await shot(page, 'train-kfold-full');

    await tab(page, 'Compare');
    await page.fill('[data-testid=compare-input]', 'Q: Lost card.\nA:');
    await page.getByRole('button', { name: 'Add prompt' }).click();
    await page.getByText('Generation settings').click();
    await page.getByLabel('Max new tokens').fill('4');
    await page.click('[data-testid=compare-run-btn]');
    await page.locator('[data-testid=compare-tuned][data-state=done]').waitFor({ timeout: 120_000 });
    await page.locator('[data-testid=compare-base][data-state=done]').waitFor();
    assert((await page.textContent('[data-testid=compare-run]')).includes('fold 2/2'), 'the last fold is the tuned model');
    await tab(page, 'Export / Import');
    assert(await page.isDisabled('[data-testid=export-peft]'), 'no PEFT adapter for a full fine-tune');
    await checkRecord(page, rec);
  } catch (e) {
    await failShot(page);
    throw e;
  } finally {
    await context.close();
  }
}

/** The GPU process dies mid-run (CDP Browser.crashGpuProcess): the run stops with a clear message, no hang, and
 *  resumes from its last checkpoint on a fresh device. */
async function gpuLost() {
  const { context, page, rec } = await launch();
  try {
    await openApp(page);
    await prepareRun(page, MID_RUN_STEPS);
    await page.getByText('Advanced settings').click();
    await setNumber(page, 'set-ckpt', 1);
    await page.click('[data-testid=start]');
    await waitForCheckpoint(page, 1);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Browser.crashGpuProcess');
    const error = await page.waitForSelector('[data-testid=train-error]', { timeout: 120_000 });
    const text = await error.textContent();
    assert(/GPU device was lost/i.test(text), `the loss is said plainly (${text})`);
    await page.waitForSelector('[data-testid=resume-offer]');
    await shot(page, 'gpu-lost');
    await page.getByRole('button', { name: 'Resume', exact: true }).first().click();
    await page.waitForSelector('[data-testid=train-status][data-status=completed]', { timeout: 180_000 });
    assert((await stepNow(page)) === MID_RUN_STEPS, `the run finished all ${MID_RUN_STEPS} steps`);
    await shot(page, 'gpu-lost-resumed');
    await checkRecord(page, rec);
  } catch (e) {
    await failShot(page);
    throw e;
  } finally {
    await context.close();
  }
}

/** "Try the demo": the embedded default model fine-tuned on the domain demo data in the training worker,
 *  with the held-out loss before and after and the side-by-side samples. */
async function demo() {
  assert(HAS_DEFAULT_MODEL(), 'the build embeds the default model (public/models/default)');
  const { context, page, rec } = await launch();
  try {
    const backend = await openApp(page);
    assert(backend === 'webgpu', `the WebGPU backend is used (got ${backend})`);
    // The Model screen (shown first) points to the Demo screen.
    await page.getByRole('button', { name: 'Open the demo', exact: true }).click();
    await page.waitForSelector('[data-testid=demo-run]');
    await page.getByLabel('Dataset').selectOption('domain');
    assert((await page.inputValue('[data-testid=demo-steps]')) === '100', 'the steps default to the dataset setting (domain: 100)');
    await setNumber(page, 'demo-steps', 3);
    await page.getByRole('button', { name: 'Try the demo', exact: true }).click();
    await page.waitForSelector('[data-testid=demo-progress]');
    await page.waitForSelector('[data-testid=demo-result]', { timeout: 300_000 });
    const errors = await page.$$('[data-testid=demo-error]');
    assert(errors.length === 0, `no demo error (${errors.length ? await errors[0].textContent() : ''})`);
    const before = Number(await page.getAttribute('[data-testid=demo-before-loss]', 'data-value'));
    const after = Number(await page.getAttribute('[data-testid=demo-after-loss]', 'data-value'));
    assert(Number.isFinite(before) && Number.isFinite(after), `both held-out losses are shown (${before}, ${after})`);
    assert(/^\d+\.\d{4}$/.test((await page.textContent('[data-testid=demo-after-loss]')).trim()), 'the after loss is shown as a number');
    assert(after < before, `the held-out loss went down (${before} → ${after})`);
    assert(/%/.test(await page.textContent('[data-testid=demo-reduction]')), 'the reduction is shown in %');
    assert((await page.$$('[data-testid=demo-sample]')).length >= 1, 'the side-by-side samples are shown');
    assert((await page.textContent('[data-testid=backend]')).includes('WebGPU'), 'the demo ran with the WebGPU backend');
    await shot(page, 'demo', 11);
    await checkRecord(page, rec);
  } catch (e) {
    await failShot(page);
    throw e;
  } finally {
    await context.close();
  }
}

/** Model, data and run settings (n steps, batch 2, T 32, no evaluation) in one page. */
async function prepareRun(page, steps) {
  await openFixtureModel(page);
  await tab(page, 'Data');
  await page.setInputFiles('[data-testid=data-drop-input]', path.join(e2eFixtures, 'support.jsonl'));
  await page.waitForSelector('[data-testid=data-count]');
  await tab(page, 'Train');
  await page.getByLabel('Length in').selectOption({ label: 'steps' });
  await setNumber(page, 'set-steps', steps);
  await setNumber(page, 'set-batch', 2);
  await setNumber(page, 'set-maxlen', 32);
  await setNumber(page, 'set-val', 0);
  await setNumber(page, 'set-eval', 0);
}

/**
 * Steps of the runs interrupted mid-run (a reload, a lost GPU): enough that the run is still going when the
 * interruption comes a moment after the first checkpoint (a LoRA step of the fixture model takes about 0.25 s
 * on SwiftShader; with 3 steps the run could end first).
 */
const MID_RUN_STEPS = 20;

/** Waits until the last checkpoint is step `n` or later. */
async function waitForCheckpoint(page, n) {
  const at = (min) => Number(document.querySelector('[data-testid=checkpoint-step]')?.textContent.match(/step (\d+)/)?.[1] ?? 0) >= min;
  await page.waitForFunction(at, n, { timeout: 180_000 });
}

/** The number before " / " in the step counter. */
async function stepNow(page) {
  return Number((await page.textContent('[data-testid=train-step]')).split('/')[0]);
}

/** Waits until the step counter reaches `n`. */
async function waitForStep(page, n) {
  const at = (min) => Number(document.querySelector('[data-testid=train-step]')?.textContent.split('/')[0]) >= min;
  await page.waitForFunction(at, n, { timeout: 120_000 });
}

/** Two tabs of one browser profile: one trainer per origin at a time (Web Locks), and a schema upgrade opened
 *  in one tab closes the other tab's database connections at once (never a blocked open) and tells it to reload. */
async function twoTabs() {
  const { context, page: a, rec } = await launch();
  let b = a;
  try {
    await openApp(a);
    await prepareRun(a, 200);
    b = await context.newPage();
    b.setDefaultTimeout(60_000);
    await openApp(b);
    await prepareRun(b, 1);

    // Tab A trains.
    await a.bringToFront();
    await a.click('[data-testid=start]');
    await a.waitForSelector('[data-testid=train-status][data-status=running]', { timeout: 120_000 });
    await waitForStep(a, 1);

    // Tab B may not: it says why and starts nothing.
    await b.bringToFront();
    await b.click('[data-testid=start]');
    const refusal = (await (await b.waitForSelector('[data-testid=train-error]')).textContent()).trim();
    assert(/another Whetstone tab or window is training/.test(refusal), `tab B says another tab is training (${refusal})`);
    assert(await b.isVisible('[data-testid=start]'), 'tab B can try again: the Start button is back');
    assert((await b.$('[data-testid=train-progress]')) === null, 'tab B shows no run');
    assert((await idbCounts(b)).runs === 1, "tab B stored no run (only tab A's)");
    await shot(b, 'two-tabs-refused');
    const before = await stepNow(a);
    await waitForStep(a, before + 1);
    assert((await a.getAttribute('[data-testid=train-status]', 'data-status')) === 'running', 'tab A goes on training');

    // Once A stops, B can train.
    await a.bringToFront();
    await a.click('[data-testid=stop]');
    await a.waitForSelector('[data-testid=train-status][data-status=stopped]', { timeout: 120_000 });
    await b.bringToFront();
    // This run is measured whole, from the click on Start to its end: no main-thread task over 50 ms.
    await markLongTasks(b);
    await b.click('[data-testid=start]');
    await b.waitForSelector('[data-testid=train-status][data-status=completed]', { timeout: 180_000 });
    await assertNoLongTasks(b, 'from the start click to the end of the run');
    assert((await b.$('[data-testid=train-error]')) === null, 'no error in tab B this time');
    assert((await idbCounts(b)).runs === 2, 'both runs are stored');

    // A newer schema opened in tab B (as a new app version would): tab A's connections close at once, the open
    // is never blocked, and tab A says to reload.
    const opened = await b.evaluate(
      () =>
        new Promise((resolve) => {
          indexedDB.databases().then((dbs) => {
            const version = dbs.find((d) => d.name === 'whetstone').version + 1;
            const started = performance.now();
            let blocked = false;
            const timer = setTimeout(() => resolve({ outcome: 'no answer after 5 s', blocked }), 5000);
            const req = indexedDB.open('whetstone', version);
            req.onblocked = () => (blocked = true);
            req.onsuccess = () => {
              clearTimeout(timer);
              req.result.close();
              resolve({ outcome: 'opened', blocked, ms: Math.round(performance.now() - started) });
            };
            req.onerror = () => {
              clearTimeout(timer);
              resolve({ outcome: `error ${req.error}`, blocked });
            };
          });
        }),
    );
    log(`schema upgrade from tab B: ${JSON.stringify(opened)}`);
    assert(opened.outcome === 'opened' && !opened.blocked, `the upgrade opens at once, never blocked (${JSON.stringify(opened)})`);
    await a.bringToFront();
    const notice = await a.waitForSelector('[data-testid=store-upgraded]', { timeout: 5000 });
    assert(/reload this tab/.test(await notice.textContent()), 'tab A says to reload');
    await shot(a, 'two-tabs-upgraded');
    await checkRecord(a, rec);
  } catch (e) {
    await failShot(a);
    if (b !== a) await failShot(b);
    throw e;
  } finally {
    await context.close();
  }
}

/** "Deploys" a new version over a served copy of the app: a changed index.html, and a service worker whose
 *  precache manifest has its new revision (the bytes of sw.js change, so the browser installs it). */
function deployNewVersion(site) {
  const htmlFile = path.join(site, 'index.html');
  const html = fs.readFileSync(htmlFile, 'utf8').replace('<head>', '<head>\n    <meta name="whetstone-e2e-version" content="2" />');
  fs.writeFileSync(htmlFile, html);
  const revision = crypto.createHash('md5').update(html).digest('hex');
  const swFile = path.join(site, 'sw.js');
  const sw = fs.readFileSync(swFile, 'utf8');
  const next = sw.replace(/\{url:"index\.html",revision:"[0-9a-f]+"\}/, `{url:"index.html",revision:"${revision}"}`);
  assert(next !== sw, 'sw.js precaches index.html with a revision');
  fs.writeFileSync(swFile, next);
}

/** A new version deployed while a run is in progress: its service worker installs and waits, the page says an
 *  update is ready and never reloads during the run; after the run the user's reload activates the new version. */
async function swUpdate() {
  const site = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-site-'));
  fs.cpSync(dist, site, { recursive: true });
  siteRoot = site;
  const { context, page, rec } = await launch();
  try {
    await openApp(page);
    // A returning visitor: the service worker is active and controls the page.
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    await page.reload();
    await page.waitForSelector('[data-testid=app][data-ready=true]');
    assert(await page.evaluate(() => navigator.serviceWorker.controller !== null), 'the service worker controls the page');
    await prepareRun(page, 200);
    // Issue 8's memory options, from the Train screen through the model screen's estimate to the worker.
    await page.getByText('Advanced settings').click();
    await page.selectOption('[data-testid=set-frozen-dtype]', 'f16');
    await page.check('[data-testid=set-grad-ckpt]');
    await tab(page, 'Model');
    const settings = await page.textContent('[data-testid=memory-settings]');
    assert(/frozen weights in 16 bits/.test(settings) && /gradient checkpointing/.test(settings), `the estimate follows the options (${settings})`);
    // 8-bit storage: the estimate says so, and the run trains with it (int8 kernels on the browser's WebGPU).
    await tab(page, 'Train');
    await page.getByText('Advanced settings').click(); // the screen was mounted anew: its details are closed
    await page.selectOption('[data-testid=set-frozen-dtype]', 'int8');
    await tab(page, 'Model');
    const settings8 = await page.textContent('[data-testid=memory-settings]');
    assert(/frozen weights in 8 bits/.test(settings8), `the estimate follows int8 (${settings8})`);
    await tab(page, 'Train');
    let loads = 0;
    page.on('load', () => loads++);
    await page.evaluate(() => (window.__sameDocument = true));
    await page.click('[data-testid=start]');
    await waitForStep(page, 1);
    const stored = await page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const req = indexedDB.open('whetstone');
          req.onerror = () => reject(req.error);
          req.onsuccess = () => {
            const all = req.result.transaction('runs', 'readonly').objectStore('runs').getAll();
            all.onsuccess = () => resolve(all.result.map((r) => ({ f: r.config.train.frozenDtype, g: r.config.train.gradientCheckpointing })));
          };
        }),
    );
    assert(stored.length === 1 && stored[0].f === 'int8' && stored[0].g === true, `the run trains with them (${JSON.stringify(stored)})`);

    deployNewVersion(site);
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration()).update());
    const notice = await page.waitForSelector('[data-testid=update-ready]', { timeout: 60_000 });
    const text = await notice.textContent();
    assert(/new version/i.test(text) && /when the run ends/.test(text), `the update is announced for after the run (${text})`);
    assert((await page.getAttribute('[data-testid=train-status]', 'data-status')) === 'running', 'the run is still going');
    assert((await page.$('[data-testid=apply-update]')) === null, 'no reload button while the run goes on');
    const sw = () => page.evaluate(async () => {
      const reg = await navigator.serviceWorker.getRegistration();
      return { waiting: reg.waiting?.state ?? null, active: reg.active?.state ?? null };
    });
    assert((await sw()).waiting === 'installed', 'the new service worker waits');
    await shot(page, 'update-waiting');
    // Steps go on in the same document: nothing reloads the page.
    const before = await stepNow(page);
    await waitForStep(page, before + 2);
    assert(loads === 0 && (await page.evaluate(() => window.__sameDocument === true)), 'the page did not reload during the run');
    assert((await sw()).waiting === 'installed', 'the new service worker still waits');

    // The run ends (stopped here); the reload is offered, and accepting it brings in the new version.
    await page.click('[data-testid=stop]');
    await page.waitForSelector('[data-testid=train-status][data-status=stopped]', { timeout: 120_000 });
    assert(loads === 0, 'stopping the run did not reload the page');
    await Promise.all([page.waitForEvent('load', { timeout: 60_000 }), page.click('[data-testid=apply-update]')]);
    await page.waitForSelector('[data-testid=app][data-ready=true]');
    assert(await page.evaluate(() => window.__sameDocument === undefined), 'the page reloaded');
    const version = await page.getAttribute('meta[name=whetstone-e2e-version]', 'content').catch(() => null);
    assert(version === '2', `the new version is served after the reload (${version})`);
    const after = await sw();
    assert(after.waiting === null && after.active === 'activated', `the new service worker is active (${JSON.stringify(after)})`);
    assert((await page.$('[data-testid=update-ready]')) === null, 'no update is pending any more');
    await checkRecord(page, rec);
  } catch (e) {
    await failShot(page);
    throw e;
  } finally {
    await context.close();
    siteRoot = dist;
    fs.rmSync(site, { recursive: true, force: true });
  }
}

const SCENARIOS = [
  ['main-flow', mainFlow],
  ['state-import', stateImport],
  ['demo', demo],
  ['kfold-full', kfoldFull],
  ['gpu-lost', gpuLost],
  ['hub-download', hubDownload],
  ['bad-inputs', badInputs],
  ['two-tabs', twoTabs],
  ['sw-update', swUpdate],
  ['cpu-fallback', cpuFallback],
];

// ---------------------------------------------------------------------------------------------------------

async function main() {
  fs.mkdirSync(results, { recursive: true });
  fs.rmSync(shots, { recursive: true, force: true });
  if (!only) for (const f of [STATE_FILE, ADAPTER_ZIP]) fs.rmSync(f, { force: true });
  buildIfNeeded();
  const server = await serve();
  origin = `http://127.0.0.1:${server.address().port}`;
  log(`serving dist/ at ${origin}`);
  let passed = 0;
  let failed = 0;
  const report = [];
  for (const [name, fn] of SCENARIOS) {
    if (only && !only.has(name)) continue;
    const started = Date.now();
    log(`▶ ${name}`);
    try {
      await fn();
      passed++;
      report.push({ name, ok: true, seconds: (Date.now() - started) / 1000 });
      log(`✓ ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      report.push({ name, ok: false, seconds: (Date.now() - started) / 1000, error: e.message });
      log(`✗ ${name}: ${e.stack ?? e.message}`);
    }
  }
  server.close();
  if (!argv['keep-profiles']) for (const d of profiles) fs.rmSync(d, { recursive: true, force: true });
  const summary = { passed, failed, seconds: (Date.now() - t0) / 1000, scenarios: report };
  fs.writeFileSync(path.join(results, 'e2e-report.json'), `${JSON.stringify(summary, null, 2)}\n`);
  if (typeof argv.json === 'string') fs.writeFileSync(argv.json, `${JSON.stringify({ passed, failed })}\n`);
  log(`${passed} passed, ${failed} failed in ${summary.seconds.toFixed(1)} s`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  if (typeof argv.json === 'string') fs.writeFileSync(argv.json, `${JSON.stringify({ passed: 0, failed: 1 })}\n`);
  process.exit(1);
});
