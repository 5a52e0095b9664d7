// The `whetstone` CLI: the engine of src/core, headless. Every command prints its result as JSON on the
// last stdout line, progress on stderr; errors exit 2 with one line `error: …` on stderr and nothing on
// stdout. `--backend cpu|webgpu` on every command (default: WebGPU when an adapter is found).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UsageError } from './args';
import { coreCommands } from './core-commands';
import { trainCommands } from './train-commands';
import { benchCommands } from './bench-command'; // [bench] issue 6
import { dropNotes, releaseNotes } from './runtime';

export type Command = (argv: string[]) => Promise<unknown>;

const commands: Record<string, Command> = { ...coreCommands, ...trainCommands, ...benchCommands };

function quietDawn(): void {
  // Dawn complains on stderr when XDG_RUNTIME_DIR is unset; give it a private one.
  if (!process.env.XDG_RUNTIME_DIR) {
    const dir = path.join(os.tmpdir(), `whetstone-xdg-${process.getuid?.() ?? 0}`);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
}

const USAGE = `usage: whetstone COMMAND [options] [--backend cpu|webgpu]
commands: inspect, tokenize, forward, generate, train, export, eval, data check, demo, bench`;

async function main(): Promise<void> {
  quietDawn();
  tf.env().set('PROD', true); // no "install tfjs-node" banner, no debug checks
  const [name, ...rest] = process.argv.slice(2);
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command ${name} (${USAGE.split('\n')[1]})`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${USAGE}\n${name}'s options: README.md, "The whetstone CLI"\n`);
    return;
  }
  const result = await command(rest);
  releaseNotes();
  if (result !== undefined) process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    dropNotes();
    process.stderr.write(`error: ${msg.replace(/\s*\n\s*/g, ' ')}\n`);
    if (process.env.WHETSTONE_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exit(2);
  },
);
