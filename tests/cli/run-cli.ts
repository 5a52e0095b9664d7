// Runs the `whetstone` command as a user does (a child process of bin/whetstone.mjs) and captures it.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'whetstone.mjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON (undefined when stdout is empty). */
  json: any;
}

export function whetstone(args: string[], opts: { timeoutMs?: number; cwd?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 300_000,
    cwd: opts.cwd,
    env: { ...process.env, WHETSTONE_DEBUG: '' },
  });
  const lines = (r.stdout ?? '').trim().split('\n').filter(Boolean);
  let json: any;
  if (lines.length) {
    try {
      json = JSON.parse(lines[lines.length - 1]);
    } catch {
      json = undefined;
    }
  }
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '', json };
}

export function tmpDir(prefix = 'whetstone-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * The contract for every failure: exit 2, one `error: …` line on stderr and nothing else there, nothing on
 * stdout. `afterWork`: the command failed after its work had begun, so the progress shown before the error
 * line is allowed.
 */
export function expectCliError(r: CliResult, pattern: RegExp, opts: { afterWork?: boolean } = {}): void {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  const errLines = lines.filter((l) => l.startsWith('error: '));
  if (r.code !== 2) throw new Error(`expected exit 2, got ${r.code}; stderr: ${r.stderr}`);
  if (r.stdout !== '') throw new Error(`expected empty stdout, got ${r.stdout}`);
  if (errLines.length !== 1) throw new Error(`expected one error line, got: ${r.stderr}`);
  if (!opts.afterWork && lines.length !== 1) throw new Error(`expected the error line alone on stderr, got: ${r.stderr}`);
  if (lines[lines.length - 1] !== errLines[0]) throw new Error(`expected the error line last on stderr, got: ${r.stderr}`);
  if (!pattern.test(errLines[0])) throw new Error(`error line ${errLines[0]} does not match ${pattern}`);
}
