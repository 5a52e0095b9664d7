#!/usr/bin/env node
// `npm start`: installs the packages if they are missing, builds the app, and serves it on localhost
// (vite preview) with the URL printed. Ctrl-C stops the server.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const port = process.env.PORT ?? '4173';

function run(cmd, args) {
  console.log(`$ ${cmd} ${args.join(' ')}`);
  const status = spawnSync(cmd, args, { stdio: 'inherit' }).status;
  if (status !== 0) {
    console.error(`error: ${cmd} ${args.join(' ')} failed`);
    process.exit(status ?? 1);
  }
}

if (!fs.existsSync(path.join(root, 'node_modules', '.package-lock.json'))) {
  run('npm', [fs.existsSync(path.join(root, 'package-lock.json')) ? 'ci' : 'install', '--no-audit', '--no-fund']);
}
run('npx', ['vite', 'build', '--logLevel', 'warn']);

const vite = path.join(root, 'node_modules', 'vite', 'bin', 'vite.js');
const server = spawn(process.execPath, [vite, 'preview', '--host', '127.0.0.1', '--port', port, '--strictPort'], { stdio: ['ignore', 'pipe', 'inherit'] });
let announced = false;
server.stdout.on('data', (chunk) => {
  const text = chunk.toString();
  if (!announced && text.includes('http://')) {
    announced = true;
    console.log(`\nWhetstone is running at http://127.0.0.1:${port}/  (Ctrl-C to stop)\n`);
  } else if (announced) process.stdout.write(text);
});
server.on('exit', (code) => process.exit(code ?? 0));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.kill(sig));
