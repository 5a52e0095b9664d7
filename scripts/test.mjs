#!/usr/bin/env node
// `npm test`: finds or installs what the suites need (npm packages; Debian's chromium for SwiftShader's
// Vulkan driver and the browser; libvulkan1 for Dawn), runs every suite — unit tests on the CPU backend,
// the same parity tests on WebGPU (Dawn + SwiftShader), the CLI tests, the browser end-to-end tests — and
// ends with one line `N passed, N failed` (also written to test-results/summary.txt for .ci/run).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const results = path.join(root, 'test-results');
fs.mkdirSync(results, { recursive: true });

function run(cmd, args, opts = {}) {
  console.log(`$ ${cmd} ${args.join(' ')}`);
  return spawnSync(cmd, args, { stdio: 'inherit', ...opts }).status ?? 1;
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

// 1. npm packages.
if (!fs.existsSync(path.join(root, 'node_modules', '.package-lock.json'))) {
  if (run('npm', ['ci', '--no-audit', '--no-fund']) !== 0) fail('npm ci failed');
}

// 2. System packages: SwiftShader (inside Debian's chromium) for WebGPU without a GPU, and the Vulkan loader.
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
const vulkanLoader = () => spawnSync('sh', ['-c', 'ldconfig -p | grep -q libvulkan.so.1']).status === 0;
if (!fs.existsSync(swiftshader) || !have('chromium') || !vulkanLoader()) {
  const sudo = process.getuid && process.getuid() === 0 ? [] : have('sudo') ? ['sudo'] : null;
  if (!sudo) fail('Debian packages chromium and libvulkan1 are needed (apt-get install chromium libvulkan1) and this user cannot install them');
  const apt = (args) => (sudo.length ? run('sudo', ['apt-get', ...args]) : run('apt-get', args));
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  process.env.DEBIAN_FRONTEND = 'noninteractive';
  if (apt(['update']) !== 0 || apt(['install', '-y', '--no-install-recommends', 'chromium', 'libvulkan1']) !== 0) {
    fail('apt-get install chromium libvulkan1 failed');
  }
  void env;
}
if (!fs.existsSync(swiftshader)) fail(`${swiftshader} is missing after installing chromium: WebGPU tests cannot run`);

// Dawn warns on every start without a private runtime dir; give it one.
if (!process.env.XDG_RUNTIME_DIR) {
  const dir = path.join('/tmp', `whetstone-xdg-${process.getuid?.() ?? 0}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

// 3. Suites.
let passed = 0;
let failed = 0;
const suites = [];

function vitestSuite() {
  const out = path.join(results, 'vitest.json');
  fs.rmSync(out, { force: true });
  const status = run('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile=${out}`]);
  if (!fs.existsSync(out)) {
    suites.push(['vitest', 0, 1]);
    failed += 1;
    return;
  }
  const report = JSON.parse(fs.readFileSync(out, 'utf8'));
  const p = report.numPassedTests ?? 0;
  // A file that fails to load counts as a failure even when it declared no tests.
  const f = (report.numFailedTests ?? 0) + (report.testResults ?? []).filter((r) => r.status === 'failed' && (r.assertionResults ?? []).length === 0).length;
  const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  const extra = status !== 0 && f === 0 ? 1 : 0;
  passed += p;
  failed += f + extra + skipped;
  suites.push(['vitest (cpu + webgpu + cli)', p, f + extra + skipped]);
}

vitestSuite();
if (fs.existsSync(path.join(root, 'tests', 'e2e', 'run.mjs'))) {
  const out = path.join(results, 'e2e.json');
  fs.rmSync(out, { force: true });
  run('node', ['tests/e2e/run.mjs', `--json=${out}`]);
  const r = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, 'utf8')) : { passed: 0, failed: 1 };
  passed += r.passed;
  failed += r.failed;
  suites.push(['e2e (headless chromium)', r.passed, r.failed]);
}

for (const [name, p, f] of suites) console.log(`${name}: ${p} passed, ${f} failed`);
const line = `${passed} passed, ${failed} failed`;
fs.writeFileSync(path.join(results, 'summary.txt'), `${line}\n`);
console.log(line);
process.exit(failed === 0 && passed > 0 ? 0 : 1);

function fail(msg) {
  console.error(`error: ${msg}`);
  fs.writeFileSync(path.join(results, 'summary.txt'), '0 passed, 1 failed\n');
  console.log('0 passed, 1 failed');
  process.exit(1);
}
